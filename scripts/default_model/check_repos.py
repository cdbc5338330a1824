#!/usr/bin/env python3
"""Checks the repositories repos.py generates, as the episodes depend on them: for each of
--count repositories of each split, written to a scratch folder, the tests fail as generated;
the module's line bug.line_no is bug.buggy_line; with that line replaced by bug.fixed_line
the tests pass; with bug.wrong_line (when there is one) they still fail. Also: no package,
module or function name is shared between the splits, and some repositories have their
parameters or locals renamed. Exit 0 and a summary line when all hold, else 1 and what failed.

usage: check_repos.py [--count 25] [--seed 11]
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import repos  # noqa: E402
from templates import TEMPLATES  # noqa: E402


def tests_pass(files, root):
    for path, text in files.items():
        p = os.path.join(root, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    r = subprocess.run([sys.executable, "-m", "unittest", "discover"], cwd=root, capture_output=True, timeout=60,
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    return r.returncode == 0


def with_line(files, path, line_no, text):
    lines = files[path].split("\n")
    lines[line_no - 1] = text
    return dict(files, **{path: "\n".join(lines)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=25)
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    problems, names, renamed = [], {"train": set(), "heldout": set()}, 0
    template_locals = {n for t in TEMPLATES for n in repos.template_locals(t)}
    for split in ("train", "heldout"):
        for i in range(a.count):
            repo = repos.make_repo(rng, split)
            b = repo.bug
            where = f"{split} #{i} ({b.path}, {b.func}, {b.kind})"
            names[split] |= {repo.package, repo.module, b.func}
            module = repo.files[b.path].split("\n")
            if module[b.line_no - 1] != b.buggy_line:
                problems.append(f"{where}: line {b.line_no} is {module[b.line_no - 1]!r}, not the buggy line")
                continue
            func_src = repo.files[b.path]
            renamed += any(w not in template_locals for w in repos.template_locals({"src": func_src, "doc": ""}))
            with tempfile.TemporaryDirectory() as d:
                if tests_pass(repo.files, os.path.join(d, "buggy")):
                    problems.append(f"{where}: the tests pass with the bug in place")
                if not tests_pass(with_line(repo.files, b.path, b.line_no, b.fixed_line), os.path.join(d, "fixed")):
                    problems.append(f"{where}: the tests still fail with the fix {b.fixed_line!r}")
                if b.wrong_line and tests_pass(with_line(repo.files, b.path, b.line_no, b.wrong_line),
                                               os.path.join(d, "wrong")):
                    problems.append(f"{where}: the wrong fix {b.wrong_line!r} passes the tests")
    shared = names["train"] & names["heldout"]
    if shared:
        problems.append(f"names in both splits: {sorted(shared)}")
    if not renamed:
        problems.append("no repository has renamed parameters or locals")
    for p in problems:
        print(p)
    total = 2 * a.count
    print(f"{total} repositories, {renamed} with renamed locals: " + ("ok" if not problems else
                                                                     f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
