"""Small Python repositories with one planted bug each, built from templates.py.

make_repo(rng, split) returns a Repo: its files, where the bug is, the fix, and a task text.
The train and heldout splits share the function family but differ in everything a model could
memorise instead of learning the repair: function names (each template's last name is held
out), bug sites (a third of the templates keep their last site for heldout), package and
module names, and task phrasings.
"""
import dataclasses
import re
import signal

from templates import TEMPLATES

SITE = re.compile(r"«(.*?)\|(.*?)\|(\w+)»")

PACKAGES = {
    "train": ["stats", "mathkit", "textops", "numlib", "calc", "utils", "core", "helpers", "algo", "tools",
              "metrics", "series", "shapes", "strutil", "listops", "analysis"],
    "heldout": ["quant", "wordsmith", "figures", "toolbox"],
}
MODULES = {
    "train": ["summary", "basic", "ops", "functions", "numbers", "text", "lists", "measures", "common", "misc",
              "compute", "transform"],
    "heldout": ["helpers_core", "routines", "arith"],
}
PHRASINGS = {
    "train": [
        "{pkg}.{func} returns wrong results; make the tests pass.",
        "The tests for {func} fail. Find the bug and fix it.",
        "Fix the bug in {func} so that the test suite passes.",
        "{func}() gives the wrong answer for some inputs. Please fix it.",
        "The test suite fails. Find the cause in the code and fix it.",
        "Something is wrong in {pkg}: the tests fail. Fix the code, not the tests.",
        "Make the failing tests pass by fixing {pkg}/{mod}.py.",
        "{pkg}.{func} is broken; repair it.",
    ],
    "heldout": [
        "Users report that {func} misbehaves. Repair it so the tests succeed.",
        "Please get the test suite of {pkg} green again.",
        "There is a defect in {func}; correct it.",
    ],
}
KIND_REASON = {
    "operator": "The operator is wrong",
    "off_by_one": "This is off by one",
    "comparison": "The comparison is wrong",
    "constant": "The constant is wrong",
    "swapped_args": "The operands are swapped",
    "missing_return": "The value is computed but never returned",
    "variable": "It uses the wrong variable",
}


@dataclasses.dataclass
class Bug:
    path: str          # module path in the repository
    func: str
    kind: str
    buggy_line: str    # the whole line as it is in the buggy file (indentation included)
    fixed_line: str
    line_no: int       # 1-based, in the buggy file


@dataclasses.dataclass
class Repo:
    files: dict        # path -> text
    bug: Bug
    task: str
    package: str
    module: str


def sites_of(template):
    return SITE.findall(template["src"])


def split_of_site(template_index, site_index, n_sites):
    held = template_index % 3 == 2 and site_index == n_sites - 1
    return "heldout" if held else "train"


def render(template, name, bug_site=None):
    """The function's source, correct except at site bug_site (an index) if given."""
    counter = iter(range(10 ** 6))

    def pick(m):
        i = next(counter)
        return m.group(2) if i == bug_site else m.group(1)

    src = SITE.sub(pick, template["src"])
    return src.replace("{name}", name).replace("{doc}", template["doc"])


class _Timeout(Exception):
    pass


def _call(src, name, args):
    """Runs name(*args) from src; returns ('ok', value) or ('error', type name)."""
    def on_alarm(signum, frame):
        raise _Timeout()
    env = {}
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        exec(src, env)
        return ("ok", eval(f"{name}({args})", env))
    except _Timeout:
        return ("error", "timeout")
    except Exception as e:  # the buggy version may raise: that fails the test too
        return ("error", type(e).__name__)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def camel(name):
    return "".join(p.capitalize() for p in name.split("_"))


def make_repo(rng, split):
    """A repository of the split with one planted bug that at least one test exposes."""
    while True:
        repo = _try_make_repo(rng, split)
        if repo is not None:
            return repo


def _try_make_repo(rng, split):
    pkg = rng.choice(PACKAGES[split])
    mod = rng.choice(MODULES[split])
    # the buggy function: a template and a site of this split
    candidates = [(ti, si) for ti, t in enumerate(TEMPLATES) for si in range(len(sites_of(t)))
                  if split_of_site(ti, si, len(sites_of(t))) == split]
    ti, si = rng.choice(candidates)
    others = rng.sample([i for i in range(len(TEMPLATES)) if i != ti], rng.randint(1, 3))
    order = others + [ti]
    rng.shuffle(order)

    def name_of(i):
        names = TEMPLATES[i]["names"]
        return names[-1] if split == "heldout" else rng.choice(names[:-1])

    names = {i: name_of(i) for i in order}
    if len(set(names.values())) != len(names):
        return None
    correct = {i: render(TEMPLATES[i], names[i]) for i in order}
    buggy_src = render(TEMPLATES[ti], names[ti], bug_site=si)

    module_text = f'"""{mod.replace("_", " ").capitalize()} helpers of {pkg}."""\n'
    for i in order:
        module_text += "\n\n" + (buggy_src if i == ti else correct[i])

    # tests: expected values from the correct functions; the bug must fail one of them
    tests = []
    exposed = False
    for i in order:
        cases = []
        for args in TEMPLATES[i]["calls"]:
            status, want = _call(correct[i], names[i], args)
            assert status == "ok", (names[i], args, want)
            cases.append((args, want))
            if i == ti and _call(buggy_src, names[i], args) != ("ok", want):
                exposed = True
        tests.append((names[i], cases))
    if not exposed:
        return None

    test_text = "import unittest\n\nfrom {pkg}.{mod} import {names}\n".format(
        pkg=pkg, mod=mod, names=", ".join(sorted(n for n, _ in tests)))
    for name, cases in tests:
        test_text += f"\n\nclass {camel(name)}Test(unittest.TestCase):\n"
        for k, (args, want) in enumerate(cases):
            if k:
                test_text += "\n"
            test_text += f"    def test_example_{k + 1}(self):\n"
            test_text += f"        self.assertEqual({name}({args}), {want!r})\n"
    test_text += '\n\nif __name__ == "__main__":\n    unittest.main()\n'

    path = f"{pkg}/{mod}.py"
    correct_lines = render(TEMPLATES[ti], names[ti]).splitlines()
    buggy_lines = buggy_src.splitlines()
    diff = [k for k, (a, b) in enumerate(zip(correct_lines, buggy_lines)) if a != b]
    if len(diff) != 1 or len(correct_lines) != len(buggy_lines):
        return None
    k = diff[0]
    offset = module_text.splitlines().index(buggy_lines[0])  # the def line is unique in the module
    bug = Bug(path=path, func=names[ti], kind=sites_of(TEMPLATES[ti])[si][2],
              buggy_line=buggy_lines[k], fixed_line=correct_lines[k], line_no=offset + k + 1)
    phrasing = rng.choice(PHRASINGS[split])
    task = phrasing.format(pkg=pkg, mod=mod, func=names[ti])
    files = {
        f"{pkg}/__init__.py": "",
        path: module_text,
        "tests/__init__.py": "",
        f"tests/test_{mod}.py": test_text,
    }
    return Repo(files=files, bug=bug, task=task, package=pkg, module=mod)
