#!/usr/bin/env python3
"""Evaluates a model on held-out repositories end to end through the real CLI.

Each task is a fresh repository of the held-out split (repos.py: function names, bug sites,
package/module names and task phrasings never seen in training), fixed by the seed. For each,
`nagent run swe_fix` runs with the embedded engine (the default model unless --model is given),
the sandbox, the parser and the tools, and the task counts as resolved when nagent exits 0 and
the repository's tests pass when run again here, outside nagent.

Reports resolved rate, mean steps, the share of model turns with a malformed tool call, time per
task, and how many runs reached each stage of the repair (the function found, its file read, the
first edit on the right line, with the file's text as old_str, with the fix as new_str); --json
writes the per-task rows too.

usage: eval.py [--nagent build/nagent] [--count 50] [--seed 2026] [--model DIR] [--json FILE]
               [--traces DIR (each task's event stream, DIR/task_N.jsonl)]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import repos as repo_gen  # noqa: E402
from episodes import write_repo  # noqa: E402


def run_task(nagent, repo, work, model, timeout_s, trace_path=None):
    root = os.path.join(work, "repo")
    subprocess.run(["rm", "-rf", root], check=True)
    write_repo(repo, root)
    env = {k: v for k, v in os.environ.items() if k not in ("NAGENT_ENDPOINT", "NAGENT_MODEL")}
    env["NAGENT_HOME"] = os.path.join(work, "home")
    cmd = [nagent, "run", "swe_fix", "--repo", root, "--task", repo.task, "--json", "--max-steps", "12"]
    if model:
        cmd += ["--backend", "local", "--model", model]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout_s)
        code, out = proc.returncode, proc.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        code, out = -1, (e.stdout or b"").decode(errors="replace")
    wall = time.time() - t0
    if trace_path:
        with open(trace_path, "w") as f:
            f.write(out)
    turns = malformed = 0
    calls_made = []
    for line in out.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("type") == "model_reply":
            turns += 1
            calls = ev.get("data", {}).get("tool_calls", [])
            calls_made += calls
            if not calls or any(c.get("error") for c in calls):
                malformed += 1
    tests = subprocess.run(["python3", "-m", "unittest", "discover", "-s", "tests", "-t", "."], cwd=root,
                           capture_output=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    return {"task": repo.task, "bug": repo.bug.__dict__, "exit_code": code, "tests_pass": tests.returncode == 0,
            "resolved": code == 0 and tests.returncode == 0, "steps": turns, "malformed_turns": malformed,
            "wall_s": round(wall, 2), "milestones": milestones(repo.bug, calls_made)}


# The stages of a repair, judged from the calls alone against the planted bug: where a run that
# fails goes wrong (a model can find the function and still edit the wrong line).
MILESTONES = ["found_function", "read_file", "edit_line", "edit_old_str", "edit_new_str"]


def milestones(bug, calls):
    args = [(c.get("name"), c.get("arguments") or {}) for c in calls]
    edits = [a for n, a in args if n == "edit_file"]
    first = edits[0] if edits else {}
    return {
        "found_function": any(n == "search" and "def " + bug.func in str(a.get("pattern", "")) for n, a in args),
        "read_file": any(n == "read_file" and a.get("path") == bug.path for n, a in args),
        "edit_line": str(first.get("line")) == str(bug.line_no),
        "edit_old_str": first.get("old_str") == bug.buggy_line,
        "edit_new_str": first.get("new_str") == bug.fixed_line,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nagent", default="build/nagent")
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--model", default=None, help="model directory (default: nagent's shipped default)")
    ap.add_argument("--timeout-s", type=float, default=300)
    ap.add_argument("--json", default=None)
    ap.add_argument("--traces", default=None, help="directory for each task's event stream")
    a = ap.parse_args()
    if a.traces:
        os.makedirs(a.traces, exist_ok=True)
    nagent = os.path.abspath(a.nagent)
    rng = random.Random(a.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nagent-eval-") as work:
        for i in range(a.count):
            trace = os.path.join(a.traces, f"task_{i + 1}.jsonl") if a.traces else None
            row = run_task(nagent, repo_gen.make_repo(rng, "heldout"), work, a.model, a.timeout_s, trace)
            rows.append(row)
            print(f"{i + 1:3d} {'ok  ' if row['resolved'] else 'FAIL'} {row['steps']:2d} steps "
                  f"{row['wall_s']:6.1f} s  {row['bug']['kind']:<14} {row['bug']['func']}", flush=True)
    n = len(rows)
    turns = sum(r["steps"] for r in rows)
    summary = {
        "tasks": n,
        "resolved": sum(r["resolved"] for r in rows),
        "resolved_rate": round(sum(r["resolved"] for r in rows) / n, 3),
        "mean_steps": round(turns / n, 2),
        "malformed_turn_rate": round(sum(r["malformed_turns"] for r in rows) / max(1, turns), 4),
        "mean_wall_s": round(sum(r["wall_s"] for r in rows) / n, 2),
        "milestones": {m: sum(r["milestones"][m] for r in rows) for m in MILESTONES},
        "seed": a.seed,
    }
    print(json.dumps(summary))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": summary, "tasks": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
