"""Fresh names for a recorded episode, drawn again at every epoch (train.py).

A small model trained on a few thousand episodes memorises their names instead of copying them
from the context: in session 3 it reached a training loss of 0.02 and a held-out loss of 1.4,
and at evaluation it wrote names it had seen in training. Renaming the buggy function, its
module and its package consistently through the whole episode (task, tool outputs, reasoning,
calls) each time the episode is seen leaves copying as the only way to predict a name.

The renamed episode is the one the runtime would have produced for the renamed repository,
except for text whose layout depends on a name's length (unittest output has none; tool outputs
carry no loss either way). An episode is left as recorded when its names cannot be found, or
when one of them is also a word of the fixed text (system prompt, reasoning templates), where
renaming would change prose.
"""
import random
import re

import repos

_FAIL = re.compile(r"(?:FAIL|ERROR): \w+ \(tests\.test_(\w+)\.(\w+)Test\.")
_WORD = re.compile(r"[A-Za-z]+")
# More syllables than repos.py composes names from: new names then share few pieces with the
# recorded ones, so the tokenizer splits them in ways training has not seen.
_SYLLABLES = repos.SYLLABLES + ["ba", "co", "du", "fe", "gi", "ho", "ja", "ke", "li", "mo", "nu", "pe", "qua",
                                "ru", "sa", "ti", "ve", "wa", "xe", "yo", "zu", "tran", "plo", "gre", "ost",
                                "ish", "ark", "umb", "eld"]


def episode_names(record):
    """(package, module, function) of the planted bug, or None when the episode lacks them; the
    package is None when the episode ends before a path names it."""
    text = "".join(t for t, _ in record["pieces"])
    failing = set(_FAIL.findall(text))
    if len(failing) != 1:  # none, or tests of several functions fail: keep the episode as it is
        return None
    mod, klass = failing.pop()
    funcs = {f for f in re.findall(r"\b[a-z]\w*", text) if repos.camel(f) == klass}
    pkgs = set(re.findall(r"(?<![\w/])(\w+)/" + re.escape(mod) + r"\.py\b", text)) - {"tests"}
    if len(funcs) != 1 or len(pkgs) > 1:
        return None
    return (pkgs.pop() if pkgs else None), mod, funcs.pop()


def _fresh_word(rng):
    if rng.random() < 0.5:
        return repos._word(rng, "train")
    while True:
        w = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if repos._split_of_word(w) == "train":
            return w


def _fresh_name(rng, parts):
    return "_".join(_fresh_word(rng) for _ in range(parts))


class Renamer:
    def __init__(self, fixed_text):
        # words of the text every episode shares: a name that is one of them stays as it is
        self.fixed = set(_WORD.findall(fixed_text))

    @staticmethod
    def spellings(pkg, mod, func):
        """Each spelling of the three names in an episode (repos.py makes these); None: absent."""
        out = []
        if pkg is not None:
            out += [pkg, pkg.capitalize()]
        return out + [mod, mod.replace("_", " ").capitalize(), func, repos.camel(func) + "Test"]

    def rename(self, record, rng):
        """The record with new names (a new dict), or the record itself when it cannot be renamed."""
        names = episode_names(record)
        if names is None:
            return record
        words = {w for n in names if n is not None for w in n.split("_")}
        if words & self.fixed:
            return record
        text = "".join(t for t, _ in record["pieces"])
        present = set(re.findall(r"\w+", text))
        for _ in range(20):
            new = (_fresh_name(rng, 1) + rng.choice(repos.SUFFIXES),
                   _fresh_name(rng, rng.choice([1, 1, 2])),
                   _fresh_name(rng, rng.choice([1, 2, 2])))
            flat = set(new) | {p for n in new for p in n.split("_")}
            if (len(set(new)) == 3 and not flat & present and not flat & repos.RESERVED_NAMES
                    and not flat & self.fixed):
                break
        else:
            return record
        if names[0] is None:
            new = (None, *new[1:])
        mapping = dict(zip(self.spellings(*names), self.spellings(*new)))
        # one pass, longest spelling first, so a name inside a longer one (a module named like
        # part of the function) is not replaced twice; `_` counts as a boundary so that
        # test_<mod>.py and <pkg>/<mod>.py are renamed with the module
        pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(
            re.escape(k) for k in sorted(mapping, key=len, reverse=True)) + r")(?![A-Za-z0-9])")
        pieces = [[pattern.sub(lambda m: mapping[m.group(1)], t), loss] for t, loss in record["pieces"]]
        return {**record, "pieces": pieces}


def fixed_text_of(records):
    """The text every episode shares: the system prompt (the first piece up to the first user
    turn) and the words that occur in most assistant turns (the reasoning templates)."""
    system = records[0]["pieces"][0][0].split("<|im_start|>user", 1)[0]
    counts = {}
    for r in records[:2000]:
        seen = set()
        for t, loss in r["pieces"]:
            if loss:
                seen.update(_WORD.findall(t))
        for w in seen:
            counts[w] = counts.get(w, 0) + 1
    common = [w for w, c in counts.items() if c >= 0.1 * min(len(records), 2000)]
    return system + " " + " ".join(common) + " " + " ".join(repos.KIND_REASON.values())
