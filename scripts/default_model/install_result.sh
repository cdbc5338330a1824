#!/usr/bin/env bash
# Installs what device_train.sh left (result.tar.part-* in DIR) into the repository:
# models/nagent-default/ (weights, config, tokenizer, generation config, loss curve) and the
# parity fixtures tests/fixtures/default_model/ (transformers' logits, tokenizers' ids); keeps
# the fp32 checkpoint in corpus/resume/ for the next training run.
#   scripts/default_model/install_result.sh DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$1
tmp=$(mktemp -d)
cat "$src"/result.tar.part-* | tar -x -C "$tmp"
dst=models/nagent-default
mkdir -p "$dst" tests/fixtures/default_model corpus/resume
rm -f "$dst"/*.safetensors "$dst"/*.json
cp "$tmp"/model/* "$dst"/
printf '{\n  "do_sample": false,\n  "eos_token_id": 4,\n  "max_new_tokens": 1024\n}\n' >"$dst"/generation_config.json
cp "$tmp"/train_log.jsonl "$dst"/
cp "$tmp"/reference.safetensors "$tmp"/tokenizer_check.json tests/fixtures/default_model/
cp "$tmp"/checkpoint.pt "$tmp"/model/tokenizer.json "$tmp"/model/tokenizer_config.json corpus/resume/
rm -rf "$tmp"
du -sh "$dst" tests/fixtures/default_model
