#!/usr/bin/env python3
"""Renders tests/fixtures/chat_template/conversations.json with
nemotron3_chat_template.jinja, either through transformers' apply_chat_template (the
reference; the GPU machine has transformers) or through plain jinja2 set up the way
transformers sets it up (trim_blocks, lstrip_blocks, loopcontrols, sandboxed, tojson with
ensure_ascii=False), for machines without transformers.

  render.py --engine jinja2 --write-fixtures tests/fixtures/chat_template/expected
  render.py --engine transformers --tokenizer-json qwen3.tokenizer.json.gz --out rendered.json
  render.py --compare rendered.json --fixtures tests/fixtures/chat_template/expected
"""
import argparse, gzip, json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONVERSATIONS = os.path.join(ROOT, "tests/fixtures/chat_template/conversations.json")
TEMPLATE = os.path.join(HERE, "nemotron3_chat_template.jinja")


def render_jinja2(template, conv):
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    return env.from_string(template).render(messages=conv["messages"], tools=conv["tools"] or None,
                                            add_generation_prompt=conv["add_generation_prompt"], **conv["kwargs"])


def render_transformers(template, conv, tokenizer):
    return tokenizer.apply_chat_template(conv["messages"], tools=conv["tools"] or None, chat_template=template,
                                         tokenize=False, add_generation_prompt=conv["add_generation_prompt"],
                                         **conv["kwargs"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["jinja2", "transformers"])
    ap.add_argument("--tokenizer-json", help="transformers engine: a tokenizer.json(.gz) to build the tokenizer from")
    ap.add_argument("--out", help="write {name: rendering} as JSON")
    ap.add_argument("--write-fixtures", help="write one NAME.txt per conversation into this folder")
    ap.add_argument("--compare", help="a JSON written by --out, compared byte for byte with --fixtures")
    ap.add_argument("--fixtures")
    args = ap.parse_args()

    if args.compare:
        rendered = json.load(open(args.compare, encoding="utf-8"))
        bad = [n for n, text in rendered.items()
               if open(os.path.join(args.fixtures, n + ".txt"), "rb").read() != text.encode("utf-8")]
        print(f"{len(rendered) - len(bad)}/{len(rendered)} renderings identical" + (f"; differ: {bad}" if bad else ""))
        return 1 if bad else 0

    template = open(TEMPLATE, encoding="utf-8").read()
    conversations = json.load(open(CONVERSATIONS, encoding="utf-8"))
    if args.engine == "transformers":
        import transformers
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast
        opener = gzip.open if args.tokenizer_json.endswith(".gz") else open
        with opener(args.tokenizer_json, "rt", encoding="utf-8") as f:
            tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(f.read()))
        rendered = {c["name"]: render_transformers(template, c, tokenizer) for c in conversations}
        rendered["_engine"] = "transformers " + transformers.__version__
    else:
        rendered = {c["name"]: render_jinja2(template, c) for c in conversations}
    engine = rendered.pop("_engine", "jinja2")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(rendered, f, ensure_ascii=False, indent=1)
    if args.write_fixtures:
        os.makedirs(args.write_fixtures, exist_ok=True)
        for name, text in rendered.items():
            with open(os.path.join(args.write_fixtures, name + ".txt"), "wb") as f:
                f.write(text.encode("utf-8"))
    print(f"rendered {len(rendered)} conversations with {engine}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
