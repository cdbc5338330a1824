#!/usr/bin/env node
// Writes the ids that @lenml/tokenizers (transformers.js's tokenizers) gives for every
// corpus file with every tokenizer package listed in tokenizers.json, into
// tests/fixtures/tokenizer/expected_lenml/<name>.json. Corpus bytes are decoded with
// TextDecoder (invalid UTF-8 -> U+FFFD, maximal subparts), as nagent's encode() does.
//
//   npm ci --prefix scripts/tokenizer_reference
//   node scripts/tokenizer_reference/generate_expected.js
"use strict";
const fs = require("fs");
const path = require("path");
const { TokenizerLoader } = require("@lenml/tokenizers");

const root = path.resolve(__dirname, "../..");
const corpusDir = path.join(root, "tests/fixtures/tokenizer/corpus");
const outDir = path.join(root, "tests/fixtures/tokenizer/expected_lenml");
const names = JSON.parse(fs.readFileSync(path.join(__dirname, "tokenizers.json"), "utf8"));

function load(name) {
  const dir = path.join(__dirname, "node_modules/@lenml", "tokenizer-" + name, "models");
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
}

fs.mkdirSync(outDir, { recursive: true });
const files = fs.readdirSync(corpusDir).sort();
const version = JSON.parse(fs.readFileSync(path.join(__dirname, "node_modules/@lenml/tokenizers/package.json"), "utf8")).version;
for (const name of names) {
  const tok = load(name);
  const cases = files.map((file) => {
    const text = new TextDecoder("utf-8").decode(fs.readFileSync(path.join(corpusDir, file)));
    const ids = tok.encode(text, { add_special_tokens: false });
    return {
      file,
      ids,
      ids_with_special: tok.encode(text, { add_special_tokens: true }),
      decoded: ids.length ? tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "",
    };
  });
  const out = { reference: `@lenml/tokenizers ${version}`, tokenizer: `@lenml/tokenizer-${name}`, cases };
  fs.writeFileSync(path.join(outDir, name + ".json"), JSON.stringify(out) + "\n");
  console.log(`${name}: ${cases.length} files`);
}
