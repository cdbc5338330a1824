#!/usr/bin/env bash
# On the GPU machine (PyTorch + transformers there): trains the default model from corpus/
# (train.jsonl.gz, heldout.jsonl.gz; resumes from corpus/resume/ when it holds an earlier result)
# and leaves the result in $OUT as tar parts of at most 15 MB (the device tool's file limit):
#   cat result.tar.part-* | tar -x -C DIR    -> model/, train_log.jsonl, reference.safetensors,
#                                            tokenizer_check.json, checkpoint.pt
# Env: BUDGET_S (training seconds, default 420), LR, COPY_SHARE, SEED.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/nagent-train.XXXXXX)
resume=()
[[ -f corpus/resume/checkpoint.pt ]] && resume=(--resume corpus/resume)
export PYTHONUNBUFFERED=1
python3 scripts/default_model/train.py --corpus corpus --out "$work" --budget-s "${BUDGET_S:-420}" ${LR:+--lr "$LR"} \
  ${COPY_SHARE:+--copy-share "$COPY_SHARE"} ${SEED:+--seed "$SEED"} "${resume[@]}" 2>&1 | tee "$OUT/train.txt"
tar -C "$work" -cf - model train_log.jsonl reference.safetensors tokenizer_check.json checkpoint.pt | split -b 15M - "$OUT/result.tar.part-"
ls -la "$OUT"
