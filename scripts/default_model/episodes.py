#!/usr/bin/env python3
"""Plays agent episodes on generated repositories with nagent's real runtime, for training data.

For each repository (repos.py) a teacher, served as an OpenAI-compatible model server on
127.0.0.1, plays the episode the way a good agent would: search for the failing function, read
its file, read the suspicious line alone, reason briefly, edit, run the tests, finish. It answers what the runtime actually sends
(`nagent run swe_fix` with the real planner, parser, tools and sandbox), so every tool output in
the data is exactly what the runtime produces. Some episodes take a detour first: an edit whose
old_str is not unique, a malformed tool call answered by the parser's error, or a wrong first
fix after which the tests still fail, the same failing edit sent twice (the planner's note on
repeated failures comes back); those detour turns are kept as context but carry no loss (the
model should learn the recovery, not the slip).

Each request the runtime sent is rendered with `nagent prompt` (the embedded engine's own chat
template), so training prompts are byte-identical to what the engine will see. Output, one JSON
line per training sequence: {"episode", "split", "pieces": [[text, loss], ...]}.

usage: episodes.py --nagent build/nagent --split train --count 2000 --seed 1 --out corpus/train.jsonl
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import repos as repo_gen  # noqa: E402

END = "<|im_end|>"


def call_text(name, args):
    """A tool call exactly as the chat template renders one (so history re-renders identically)."""
    out = "\n<tool_call>\n<function=" + name + ">\n"
    for k, v in args.items():
        out += "<parameter=" + k + ">\n" + str(v) + "\n</parameter>\n"
    return out + "</function>\n</tool_call>\n"


class Teacher:
    """The policy of one episode: a list of planned turns, advanced by what the runtime returns."""

    def __init__(self, repo, rng):
        self.repo = repo
        b = repo.bug
        module = repo.files[b.path]
        self.turns = []  # (reasoning, name, args, loss)
        self.expect_failing = set()  # turn indices whose run_tests must still fail
        detour = rng.random()
        # a good agent looks at the failure first: the test output names the failing function
        self.turns.append(("I start by running the tests to see what fails.\n", "run_tests", {}, True))
        find = (f"The failing tests are in {repo_gen.camel(b.func)}Test, so the bug is in {b.func}. "
                f"I will find where {b.func} is defined.\n")
        if detour < 0.06:
            # a malformed call: the parser's error comes back as a user message
            self.turns.append((find, "!malformed", {"pattern": "def " + b.func}, False))
            self.turns.append(("The call was malformed. I repeat it in the correct format.\n", "search",
                               {"pattern": "def " + b.func}, True))
        else:
            self.turns.append((find, "search", {"pattern": "def " + b.func}, True))
        self.turns.append((f"{b.func} is defined in {b.path}. Let me read the file.\n", "read_file",
                           {"path": b.path}, True))
        # Having found the line in the listing, the agent reads that line alone and quotes it
        # from there: the quote and the edit copy text a few tokens back instead of picking it
        # out of the whole listing, where session 6's model wrote the line it remembered from
        # training (`* 100`) for the file's (`* 10`). The reasoning quotes the line whole,
        # indentation included, and the edit copies it with its line number, which also
        # settles a line whose text occurs elsewhere in the file.
        n = b.line_no
        self.turns.append((f"In {b.func}, the suspicious line is line {n}. I read it alone to quote it exactly.\n",
                           "read_file", {"path": b.path, "start_line": n, "end_line": n}, True))
        edit = {"path": b.path, "line": n, "old_str": b.buggy_line, "new_str": b.fixed_line}
        reason = (f"In {b.func}, line {n} reads:\n{b.buggy_line}\n"
                  f"{repo_gen.KIND_REASON[b.kind]}. It should read:\n{b.fixed_line}\n")
        self.expected_error = {}  # turn index -> text the tool's error must contain
        repeated = module.count(b.buggy_line) > 1
        misquote = self._misquote(module, b.buggy_line)
        if repeated and detour < 0.18:
            # the line number left out (no loss): the tool lists the matches and the agent adds it
            self.expected_error[len(self.turns)] = "occurs"
            self.turns.append((reason, "edit_file", {k: v for k, v in edit.items() if k != "line"}, False))
            self.turns.append((f"That text occurs more than once. The one to fix starts at line {n}, so I give "
                               f"the line.\n", "edit_file", edit, True))
        elif 0.30 <= detour < 0.40 and misquote:
            # an old_str that is not in the file (a misremembered line, no loss): the tool answers
            # with the closest region, and the agent copies the line from there
            self.expected_error[len(self.turns)] = f"{n}\t{b.buggy_line}"
            self.turns.append((reason.replace(b.buggy_line.strip(), misquote), "edit_file",
                               dict(edit, old_str=b.buggy_line.replace(b.buggy_line.strip(), misquote)), False))
            self.turns.append((f"That text is not in the file. The closest line is line {n}:\n{b.buggy_line}\n"
                               f"I copy it exactly.\n", "edit_file", edit, True))
        elif 0.40 <= detour < 0.48 and misquote:
            # the misremembered line sent twice (no loss): the planner answers the second identical
            # failure with a note that repeating will not help, and the agent then copies the line
            bad_reason = reason.replace(b.buggy_line.strip(), misquote)
            bad = dict(edit, old_str=b.buggy_line.replace(b.buggy_line.strip(), misquote))
            self.expected_error[len(self.turns)] = f"{n}\t{b.buggy_line}"
            self.turns.append((bad_reason, "edit_file", bad, False))
            self.expected_error[len(self.turns)] = "failed 2 times in a row"
            self.turns.append((bad_reason, "edit_file", bad, False))
            self.turns.append((f"The same edit failed twice, so sending it again will not help. The text is not in "
                               f"the file; line {n} reads:\n{b.buggy_line}\nI copy it exactly.\n", "edit_file", edit,
                               True))
        elif 0.18 <= detour < 0.30 and b.wrong_line:
            # a wrong first fix (no loss), the tests still failing, then the right fix
            self.turns.append((f"In {b.func}, line {n} reads:\n{b.buggy_line}\nIt should probably read:\n"
                               f"{b.wrong_line}\n", "edit_file", dict(edit, new_str=b.wrong_line), False))
            self.turns.append(("Now I run the tests to check the fix.\n", "run_tests", {}, True))
            self.expect_failing.add(len(self.turns))
            self.turns.append((f"{repo_gen.camel(b.func)}Test still fails, so that was not the fix. Line {n} now "
                               f"reads:\n{b.wrong_line}\n{repo_gen.KIND_REASON[b.kind]}. It should read:\n"
                               f"{b.fixed_line}\n", "edit_file", dict(edit, old_str=b.wrong_line), True))
        else:
            self.turns.append((reason, "edit_file", edit, True))
        self.turns.append(("Now I run the tests to check the fix.\n", "run_tests", {}, True))
        self.turns.append(("The tests pass.\n", "finish",
                           {"summary": f"Fixed {b.func} in {b.path}: `{b.buggy_line.strip()}` -> "
                                       f"`{b.fixed_line.strip()}`. The tests pass."}, True))
        self.step = 0
        self.log = []  # (request body, reasoning, content, loss)
        self.failure = None

    @staticmethod
    def _misquote(module, line):
        """The line with one identifier or number changed, as a model misremembers it; None when
        every such change is in the module."""
        for m in re.finditer(r"\b(\w+)\b", line.strip()):
            w = m.group(1)
            alt = str(int(w) + 2) if w.isdigit() else w + "s" if not w.endswith("s") else w[:-1]
            text = line.strip()
            text = text[:m.start()] + alt + text[m.end():]
            if text not in module:
                return text
        return None

    def expect(self, messages):
        """Checks that the runtime answered the previous turn as planned."""
        if self.step == 0:
            return
        last = messages[-1]
        text = last.get("content", "")
        prev = self.turns[self.step - 1]
        name = prev[1]
        ok = True
        if name == "!malformed":
            ok = last["role"] == "user" and "Error" in text
        elif name == "search":
            ok = self.repo.bug.path in text
        elif self.step - 1 in self.expected_error:
            ok = self.expected_error[self.step - 1] in text
        elif name == "read_file" and "start_line" in prev[2]:
            ok = f"{prev[2]['start_line']}\t{self.repo.bug.buggy_line}" in text
        elif name == "edit_file":
            ok = text.startswith("Edited")
        elif name == "run_tests" and (self.step == 1 or self.step in self.expect_failing):
            ok = repo_gen.camel(self.repo.bug.func) + "Test" in text
        elif name == "run_tests":
            ok = "passed" in text.lower() or "OK" in text
        if not ok:
            self.failure = f"turn {self.step} ({name}) got: {text[:300]!r}"

    def reply(self, body):
        messages = body["messages"]
        self.expect(messages)
        if self.failure or self.step >= len(self.turns):
            self.failure = self.failure or "the runtime asked for more turns than planned"
            reasoning, content, loss = "Stopping.\n", call_text("finish", {"summary": "aborted"}), False
        else:
            reasoning, name, args, loss = self.turns[self.step]
            if name == "!malformed":  # the tool's name as a tag instead of <function=...>
                content = call_text("search", args).replace("<function=search>", "<search>").replace(
                    "</function>", "</search>")
            else:
                content = call_text(name, args)
        self.step += 1
        self.log.append((body, reasoning, content, loss))
        return reasoning, content


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _send(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send({"object": "list", "data": [{"id": "teacher", "object": "model", "max_model_len": 16384}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reasoning, content = self.server.teacher.reply(body)
        self._send({"id": "t", "object": "chat.completion", "model": "teacher",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content,
                                             "reasoning_content": reasoning}}],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0}})


def render(nagent, body):
    r = subprocess.run([nagent, "prompt"], input=json.dumps(body).encode(), capture_output=True, check=True)
    return r.stdout.decode()


def write_repo(repo, root):
    for path, text in repo.files.items():
        p = os.path.join(root, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    git = ["git", "-C", root, "-c", "user.name=nagent", "-c", "user.email=nagent@localhost"]
    subprocess.run(["git", "init", "-q", root], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "initial"], check=True)


def play(nagent, repo, rng, workdir, policy=None):
    """Runs one episode; returns (sequences, error)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.teacher = Teacher(repo, rng)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    root = os.path.join(workdir, "repo")
    shutil.rmtree(root, ignore_errors=True)
    write_repo(repo, root)
    env = dict(os.environ, NAGENT_HOME=os.path.join(workdir, "home"), NAGENT_MAX_RETRIES="0")
    try:
        proc = subprocess.run([nagent, "run", "swe_fix", "--repo", root, "--task", repo.task, "--quiet",
                               "--endpoint", f"http://127.0.0.1:{server.server_port}/v1", "--model", "teacher"]
                              + (["--policy", policy] if policy else []),
                              env=env, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "nagent ran past 120 s"
    finally:
        server.shutdown()
        server.server_close()
    teacher = server.teacher
    if teacher.failure:
        return None, teacher.failure
    if proc.returncode != 0:
        return None, f"nagent exited {proc.returncode}: {proc.stderr.decode()[-400:]}"
    # One sequence while each prompt extends the previous prompt + reply; a new one where the
    # template rewrote history (a user message collapses earlier reasoning).
    sequences, text, pieces = [], None, None
    for body, reasoning, content, loss in teacher.log:
        prompt = render(nagent, body)
        completion = reasoning + "</think>" + content + END
        if text is not None and prompt.startswith(text):
            pieces.append([prompt[len(text):], 0])
        else:
            if pieces:
                sequences.append(pieces)
            pieces = [[prompt, 0]]
        pieces.append([completion, 1 if loss else 0])
        text = prompt + completion
    sequences.append(pieces)
    return sequences, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nagent", default="build/nagent")
    ap.add_argument("--split", choices=["train", "heldout"], required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--policy", default=None, help="sandbox policy for the runs (default: the recipe's)")
    ap.add_argument("--repos-only", action="store_true", help="write the repositories as JSON, play nothing")
    a = ap.parse_args()
    nagent = os.path.abspath(a.nagent)
    rng = random.Random(a.seed)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    done = errors = seqs = 0
    t0 = time.time()
    with open(a.out, "w") as out, tempfile.TemporaryDirectory(prefix="nagent-episodes-") as work:
        for i in range(a.count):
            repo = repo_gen.make_repo(rng, a.split)
            if a.repos_only:
                out.write(json.dumps({"episode": i, "task": repo.task, "files": repo.files,
                                      "bug": repo.bug.__dict__}) + "\n")
                continue
            sequences, error = play(nagent, repo, rng, work, a.policy)
            if error:
                errors += 1
                print(f"episode {i}: {error}", file=sys.stderr)
                continue
            for pieces in sequences:
                out.write(json.dumps({"episode": i, "split": a.split, "pieces": pieces}) + "\n")
                seqs += 1
            out.flush()  # whole episodes only, so the file can be read (or the run stopped) at any time
            done += 1
            if done % 50 == 0:
                print(f"{done} episodes, {seqs} sequences, {errors} failed, {time.time() - t0:.0f} s",
                      file=sys.stderr, flush=True)
    print(f"{done} episodes, {seqs} sequences, {errors} failed, {time.time() - t0:.0f} s", file=sys.stderr)
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
