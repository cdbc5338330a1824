"""Small Python repositories with one planted bug each, built from templates.py.

make_repo(rng, split) returns a Repo: its files, where the bug is, the fix, and a task text.
The train and heldout splits share the function family but differ in everything a model could
memorise instead of learning the repair: function names (each template's last name is held
out), bug sites (a third of the templates keep their last site for heldout), package and
module names, and task phrasings.
"""
import builtins
import dataclasses
import keyword
import re
import signal
import sys
import zlib

from templates import TEMPLATES

SITE = re.compile(r"«(.*?)\|(.*?)\|(\w+)»")
LINE_MUTATION_SHARE = 0.5  # of train repositories: a bug from line_mutations, not a marked site

# Identifier words. A word belongs to the held-out split when its CRC32 is 0 mod 6, so the two
# splits never share one; names are composed from them (and from syllables) so that almost every
# training repository has names of its own: the model has to copy names from its context, since
# it cannot memorise them.
WORDS = """
amber anchor apex arc arrow atlas aurora axis badge basin beacon berry birch blade bloom bolt
border branch breeze brick bridge brook bucket cabin cable canal candle canyon carbon cargo cedar
chalk chart cider circle cliff cloud clover coast cobalt comet copper coral cotton crane crest
crystal cube dawn delta desert dial dome drift dune eagle echo ember engine falcon feather fern
field fjord flame flint forest forge fossil frost galaxy garden garnet gate glacier globe grain
granite graph grove harbor hazel heron hill hollow horizon island ivory jade jasper kernel lagoon
lantern lava ledger lemon lily linen lotus lunar magnet maple marble meadow mesa meteor mint mirror
mist moss mountain nectar needle nova oak oasis ocean olive onyx orbit orchid otter paddle palm
panel pearl pebble pepper pilot pine planet plaza plume polar pond prism pulse quartz quill radar
rain raven reef ridge river robin rocket ruby saddle sage salt sand satin scarlet shadow shell
signal silver sky slate snow solar spark spiral spring spruce star stone storm summit sun swan
tango thistle thunder tide timber topaz torch tower trail tulip tundra valley vapor velvet violet
vista volt walnut wave willow wind winter wolf zenith zephyr alpha beta gamma sigma omega vector
matrix table record ledger batch queue stack heap token frame block chunk slice range window
bucket cursor buffer packet stream channel report sample metric score total count index value
weight price order item entry field label group cluster segment region zone layer level stage
""".split()
SYLLABLES = ["ka", "ro", "mi", "ta", "ne", "lu", "vo", "si", "pa", "de", "zo", "ri", "fa", "gu", "be",
             "no", "tel", "mar", "vin", "sol", "dra", "qui", "bex", "lor"]
SUFFIXES = ["", "", "", "kit", "lib", "utils", "tools", "ops", "core"]


def _split_of_word(word):
    return "heldout" if zlib.crc32(word.encode()) % 6 == 0 else "train"


def _word(rng, split):
    while True:
        if rng.random() < 0.25:  # a made-up word: the splits differ by CRC like the real ones
            w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        else:
            w = rng.choice(WORDS)
        if _split_of_word(w) == split:
            return w


def package_name(rng, split):
    return _word(rng, split) + rng.choice(SUFFIXES)


def module_name(rng, split):
    return _word(rng, split) if rng.random() < 0.6 else _word(rng, split) + "_" + _word(rng, split)


def function_name(rng, split, template):
    """The template's own names (the last one held out) a third of the time, else composed."""
    r = rng.random()
    if r < 0.35:
        names = template["names"]
        return names[-1] if split == "heldout" else rng.choice(names[:-1])
    if r < 0.6:
        return _word(rng, split)
    return _word(rng, split) + "_" + _word(rng, split)


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
    wrong_line: str = ""  # a plausible fix that still fails a test (for wrong-first-fix episodes)


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


def render(template, name, bug_site=None, local_names=None):
    """The function's source, correct except at site bug_site (an index) if given, with its
    parameters and locals renamed by local_names ({old: new}, from fresh_local_names)."""
    counter = iter(range(10 ** 6))

    def pick(m):
        i = next(counter)
        return m.group(2) if i == bug_site else m.group(1)

    src = template["src"].replace("{doc}", template["doc"])
    if local_names:
        src = re.sub(r"\b(" + "|".join(map(re.escape, local_names)) + r")\b", lambda m: local_names[m.group(1)], src)
    src = SITE.sub(pick, src)
    return src.replace("{name}", name)


# Parameters and locals get other names in about half the repositories: with the templates'
# own names every code line recurs across thousands of episodes, and session 5's model quoted
# the line it remembered for a template instead of the line in the file it had just read.
# Renamed lines cannot be remembered, only copied. Replacements are short code words, never a
# word the template already uses, a builtin or a keyword.
LOCAL_RENAME_SHARE = 0.5
LOCAL_WORDS = """acc agg amount arg base bound buf cand cap cell cnt cur data delta dest diff digit
elem elems entry first flag front gap head hi idx item items key last left lim lo lst mark mid
node num nums out pair part pick piv pos prev qty rank rem res rest right run seq size slot span
src step stop sub tail target term tmp top total unit val vals width xs ys""".split()
LOCAL_LETTERS = list("abcdefghijkmnpqrstuvwxyz")


def template_locals(template):
    """Names the template's function binds: parameters, assignment and loop targets."""
    import ast
    src = SITE.sub(lambda m: m.group(1), template["src"]).replace("{name}", "f").replace("{doc}", "")
    tree = ast.parse(src)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
    return sorted(out - {"_"})


def fresh_local_names(rng, template):
    """{old: new} for some of the template's locals (empty for half the repositories)."""
    if rng.random() >= LOCAL_RENAME_SHARE:
        return {}
    text = template["src"] + " " + template["doc"]
    taken = set(re.findall(r"[A-Za-z_]\w*", text))
    mapping = {}
    for old in template_locals(template):
        if rng.random() < 0.3:
            continue
        pool = LOCAL_LETTERS if len(old) == 1 else LOCAL_WORDS
        choices = [w for w in pool if w not in taken and w not in RESERVED_NAMES]
        if choices:
            mapping[old] = rng.choice(choices)
            taken.add(mapping[old])
    return mapping


# Bugs at any line of a template, beyond its marked sites (train split only). With a few marked
# sites per function a small model learns each (function, site) pair by heart and cannot repair
# a site it has not seen; with every line a possible site it has to find the line that differs.
# A line holding a held-out site is never mutated, so held-out sites stay unseen.
_NUMBER = re.compile(r"(?<![\w.])(\d+)(?![\w.])")
_LINE_MUTATIONS = [
    (re.compile(r"<="), "<", "comparison"), (re.compile(r"(?<![<>=!-])<(?![<=])"), "<=", "comparison"),
    (re.compile(r">="), ">", "comparison"), (re.compile(r"(?<![<>=!-])>(?![>=])"), ">=", "comparison"),
    (re.compile(r"=="), "!=", "comparison"), (re.compile(r"!="), "==", "comparison"),
    (re.compile(r" \+ "), " - ", "operator"), (re.compile(r" - "), " + ", "operator"),
    (re.compile(r" \* "), " + ", "operator"), (re.compile(r"//"), "/", "operator"),
    (re.compile(r"\+="), "-=", "operator"), (re.compile(r"-="), "+=", "operator"), (re.compile(r"\*="), "+=", "operator"),
]


def _number_kind(line, m):
    """off_by_one for a count or index (inside range(), [], next to len()), else constant."""
    before = line[:m.start()]
    if "len(" in line or before.count("[") > before.count("]") or "range(" in before:
        return "off_by_one"
    return "constant"


def line_mutations(template, correct_lines):
    """[(line index, mutated line, kind)] over the lines of a rendered template that hold no
    held-out site (and are not its def or docstring lines)."""
    src_lines = template["src"].splitlines()
    ti = TEMPLATES.index(template)
    sites = sites_of(template)
    held_lines = set()
    counter = 0
    for i, line in enumerate(src_lines):
        for _ in SITE.finditer(line):
            if split_of_site(ti, counter, len(sites)) == "heldout":
                held_lines.add(i)
            counter += 1
    out = []
    for i, line in enumerate(correct_lines):
        if i < 2 or i in held_lines or line.lstrip().startswith(("raise", '"""', "#")):
            continue
        for pattern, repl, kind in _LINE_MUTATIONS:
            for m in pattern.finditer(line):
                out.append((i, line[:m.start()] + repl + line[m.end():], kind))
        for m in _NUMBER.finditer(line):
            n = int(m.group(1))
            for v in {n + 1, n - 1} - {-1}:
                out.append((i, line[:m.start()] + str(v) + line[m.end():], _number_kind(line, m)))
        ret = re.fullmatch(r"(\s*)return (\w+)", line)
        if ret:
            out.append((i, ret.group(1) + ret.group(2), "missing_return"))
    return out


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


# Edits of a line that look like fixes: numbers one off, operators and comparisons swapped.
_WRONG_EDITS = [(re.compile(r"\b(\d+)\b"), lambda m: str(int(m.group(1)) + 1)),
                (re.compile(r"\b(\d+)\b"), lambda m: str(max(0, int(m.group(1)) - 1))),
                (re.compile(r"(?<![<>=!])<(?![<=])"), lambda m: "<="), (re.compile(r"<="), lambda m: "<"),
                (re.compile(r"(?<![<>=!-])>(?![>=])"), lambda m: ">="), (re.compile(r">="), lambda m: ">"),
                (re.compile(r" \+ "), lambda m: " - "), (re.compile(r" - "), lambda m: " + "),
                (re.compile(r"=="), lambda m: "!=")]


def _wrong_fix(rng, correct_lines, k, buggy_line, name, cases):
    """A line that differs from the buggy and the correct one, parses, and still fails one of
    the function's test cases: the first fix a hasty agent might make. "" when none is found."""
    fixed = correct_lines[k]
    found = []
    for pattern, repl in _WRONG_EDITS:
        for m in pattern.finditer(fixed):
            line = fixed[:m.start()] + repl(m) + fixed[m.end():]
            if line in (fixed, buggy_line) or line in found:
                continue
            src = "\n".join(correct_lines[:k] + [line] + correct_lines[k + 1:]) + "\n"
            try:
                compile(src, "<wrong>", "exec")
            except SyntaxError:
                continue
            if any(_call(src, name, args) != ("ok", want) for args, want in cases):
                found.append(line)
    return rng.choice(found) if found else ""


RESERVED_NAMES = set(dir(builtins)) | set(keyword.kwlist) | set(sys.stdlib_module_names)


# How the tests' methods are named (real suites differ; the model must not expect one form).
_CASE_WORDS = ["basic", "small", "simple", "mixed", "single", "pair", "larger", "typical", "edge", "another",
               "short", "long", "first", "second", "third", "usual"]
TEST_NAME_STYLES = [
    lambda rng, n: [f"test_example_{k + 1}" for k in range(n)],
    lambda rng, n: [f"test_case_{k + 1}" for k in range(n)],
    lambda rng, n: [f"test_{k + 1}" for k in range(n)],
    lambda rng, n: [f"test_{w}" for w in rng.sample(_CASE_WORDS, n)],
]


def camel(name):
    return "".join(p.capitalize() for p in name.split("_"))


def make_repo(rng, split):
    """A repository of the split with one planted bug that at least one test exposes."""
    while True:
        repo = _try_make_repo(rng, split)
        if repo is not None:
            return repo


def _try_make_repo(rng, split):
    pkg = package_name(rng, split)
    mod = module_name(rng, split)
    if pkg == mod:
        return None
    # the buggy function: a template and a site of this split
    candidates = [(ti, si) for ti, t in enumerate(TEMPLATES) for si in range(len(sites_of(t)))
                  if split_of_site(ti, si, len(sites_of(t))) == split]
    ti, si = rng.choice(candidates)
    mutate = split == "train" and rng.random() < LINE_MUTATION_SHARE  # line_mutations, not site si
    if mutate:
        ti = rng.randrange(len(TEMPLATES))
    others = rng.sample([i for i in range(len(TEMPLATES)) if i != ti], rng.randint(1, 3))
    order = others + [ti]
    rng.shuffle(order)

    names = {i: function_name(rng, split, TEMPLATES[i]) for i in order}
    if len(set(names.values())) != len(names) or {pkg, mod} & set(names.values()):
        return None
    # a composed name may be a builtin (`range`, which the templates call), a keyword or a
    # standard module (a package named `string` would shadow it): those make no repository
    if any(n in RESERVED_NAMES for n in [pkg, mod, *names.values()]):
        return None
    local_names = {i: fresh_local_names(rng, TEMPLATES[i]) for i in order}
    correct = {i: render(TEMPLATES[i], names[i], local_names=local_names[i]) for i in order}
    mutation = None  # (line index, buggy line, kind)
    if mutate:
        mutations = line_mutations(TEMPLATES[ti], correct[ti].splitlines())
        if not mutations:
            return None
        mutation = rng.choice(mutations)
        lines = correct[ti].splitlines()
        lines[mutation[0]] = mutation[1]
        buggy_src = "\n".join(lines) + "\n"
        try:
            compile(buggy_src, "<buggy>", "exec")
        except SyntaxError:
            return None
    else:
        buggy_src = render(TEMPLATES[ti], names[ti], bug_site=si, local_names=local_names[ti])

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
            if i == ti:
                got = _call(buggy_src, names[i], args)
                if got == ("error", "timeout"):  # a bug that hangs the suite makes a poor episode
                    return None
                exposed = exposed or got != ("ok", want)
        tests.append((names[i], cases))
    if not exposed:
        return None

    exported = ", ".join(sorted(n for n, _ in tests))
    # half the packages re-export their functions (as examples/swe_basic does); their tests
    # may import from the package instead of the module
    reexport = rng.random() < 0.5
    init_text = ""
    if reexport:
        init_text = (f'"""{pkg.capitalize()}: small helpers."""\n\nfrom .{mod} import {exported}\n\n'
                     f'__all__ = [{", ".join(repr(n) for n in sorted(n for n, _ in tests))}]\n')
    source = pkg if reexport and rng.random() < 0.5 else f"{pkg}.{mod}"
    test_text = f"import unittest\n\nfrom {source} import {exported}\n"
    style = rng.choice(TEST_NAME_STYLES)
    for name, cases in tests:
        method_names = style(rng, len(cases))
        test_text += f"\n\nclass {camel(name)}Test(unittest.TestCase):\n"
        for k, (args, want) in enumerate(cases):
            if k:
                test_text += "\n"
            test_text += f"    def {method_names[k]}(self):\n"
            test_text += f"        self.assertEqual({name}({args}), {want!r})\n"
    test_text += '\n\nif __name__ == "__main__":\n    unittest.main()\n'

    path = f"{pkg}/{mod}.py"
    correct_lines = correct[ti].splitlines()
    buggy_lines = buggy_src.splitlines()
    diff = [k for k, (a, b) in enumerate(zip(correct_lines, buggy_lines)) if a != b]
    if len(diff) != 1 or len(correct_lines) != len(buggy_lines):
        return None
    k = diff[0]
    offset = module_text.splitlines().index(buggy_lines[0])  # the def line is unique in the module
    bug = Bug(path=path, func=names[ti], kind=mutation[2] if mutation else sites_of(TEMPLATES[ti])[si][2],
              buggy_line=buggy_lines[k], fixed_line=correct_lines[k], line_no=offset + k + 1)
    bug.wrong_line = _wrong_fix(rng, correct_lines, k, buggy_lines[k], names[ti], tests[order.index(ti)][1])
    phrasing = rng.choice(PHRASINGS[split])
    task = phrasing.format(pkg=pkg, mod=mod, func=names[ti])
    files = {
        f"{pkg}/__init__.py": init_text,
        path: module_text,
        "tests/__init__.py": "",
        f"tests/test_{mod}.py": test_text,
    }
    return Repo(files=files, bug=bug, task=task, package=pkg, module=mod)
