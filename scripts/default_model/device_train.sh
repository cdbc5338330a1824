#!/usr/bin/env bash
# On the GPU machine (PyTorch + transformers there): trains the default model from corpus/
# (train.jsonl.gz, heldout.jsonl.gz; resumes from corpus/resume/ when it holds an earlier result)
# and leaves the result in $OUT as tar parts of at most 15 MB (the device tool's file limit):
#   cat result.tar.part-* | tar -x -C DIR    -> model/, train_log.jsonl, reference.safetensors,
#                                            tokenizer_check.json, checkpoint.pt
# Env: BUDGET_S (training seconds, default 420), LR, COPY_SHARE, SEED.
# Resumes from corpus/resume/ (checkpoint.pt, or a shipped model directory's weights), or, with
# CONTINUE=1, from the last run on this same machine (its state stays in /tmp/nagent-train-last
# while the machine is held), so that back-to-back commands need no upload in between.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/nagent-train.XXXXXX)
last=/tmp/nagent-train-last
resume=()
if [[ ${CONTINUE:-0} == 1 ]]; then
  [[ -f $last/checkpoint.pt ]] || { echo "CONTINUE=1 but no earlier run on this machine ($last)" >&2; exit 2; }
  resume=(--resume "$last")
elif [[ -f corpus/resume/checkpoint.pt || -f corpus/resume/config.json ]]; then
  resume=(--resume corpus/resume)
fi
export PYTHONUNBUFFERED=1
python3 scripts/default_model/train.py --corpus corpus --out "$work" --budget-s "${BUDGET_S:-420}" ${LR:+--lr "$LR"} \
  ${COPY_SHARE:+--copy-share "$COPY_SHARE"} ${SEED:+--seed "$SEED"} "${resume[@]}" 2>&1 | tee "$OUT/train.txt"
rm -rf "$last" && mkdir -p "$last"
cp "$work/checkpoint.pt" "$work/model/tokenizer.json" "$work/model/tokenizer_config.json" "$last/"
tar -C "$work" -cf - model train_log.jsonl reference.safetensors tokenizer_check.json checkpoint.pt | split -b 15M - "$OUT/result.tar.part-"
ls -la "$OUT"
