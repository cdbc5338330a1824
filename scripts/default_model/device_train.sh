#!/usr/bin/env bash
# On the GPU machine (PyTorch + transformers there): trains the default model from corpus/
# (train.jsonl.gz, heldout.jsonl.gz; resumes from corpus/resume/ when it holds an earlier result)
# and leaves the result in $OUT as tar parts of at most 15 MB (the device tool's file limit):
#   cat result.tar.part-* | tar -x -C DIR    -> model/, train_log.jsonl, reference.safetensors,
#                                            tokenizer_check.json, checkpoint.pt
# When .devgen/nagent-bundle.tar.xz is carried (bundle_nagent.sh), the machine's spare cores play
# more episodes with the real runtime while the GPU trains; train.py takes them in at every epoch,
# and they come back as $OUT/grown.jsonl.gz for the next corpus.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/nagent-train.XXXXXX)
resume=()
[[ -f corpus/resume/checkpoint.pt ]] && resume=(--resume corpus/resume)
export PYTHONUNBUFFERED=1
grow=()
gen_pids=()
# The generators must not outlive a failed training run: the device tool waits for every
# process of the command, so a stray generator would hold the machine until the time limit.
stop_generators() { ((${#gen_pids[@]})) && kill "${gen_pids[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap stop_generators EXIT
if [[ -f .devgen/nagent-bundle.tar.xz ]]; then
  bundle=/tmp/nagent-bundle
  mkdir -p "$bundle" "$work/grow"
  tar -C "$bundle" -xJf .devgen/nagent-bundle.tar.xz
  export LD_LIBRARY_PATH="$bundle/lib" NAGENT_DATA_DIR="$PWD"
  # The machine's cgroup v2 offers no pids controller, so the default policy (rightly) refuses
  # to start; the same policy with per-process rlimits only gives the same tool outputs.
  policy="$work/default_rlimits_only.lua"
  sed 's/^return {$/return {\n  allow_without = { cgroups = true },/' policies/default.lua >"$policy"
  if python3 scripts/default_model/episodes.py --nagent "$bundle/nagent" --split train --count 1 --seed 7 \
      --policy "$policy" \
      --out "$work/smoke.jsonl" 2>"$work/smoke.log"; then
    generators=$(($(nproc) - 3))
    for ((i = 0; i < generators; i++)); do
      python3 scripts/default_model/episodes.py --nagent "$bundle/nagent" --split train --count 100000 \
        --seed $((5000 + ${SEED_BASE:-0} + i)) --policy "$policy" --out "$work/grow/device_$i.jsonl" 2>"$work/grow/device_$i.log" &
      gen_pids+=($!)
    done
    grow=(--grow "$work/grow")
    echo "playing episodes on $generators cores while training" >&2
  else
    echo "the runtime does not run here, training on the carried corpus only:" >&2
    cat "$work/smoke.log" >&2
  fi
fi
python3 scripts/default_model/train.py --corpus corpus --out "$work" --budget-s "${BUDGET_S:-420}" ${LR:+--lr "$LR"} \
  "${resume[@]}" "${grow[@]}" 2>&1 | tee "$OUT/train.txt"
if ((${#gen_pids[@]})); then
  stop_generators
  # complete lines only: a generator killed mid-write leaves a partial last line
  for f in "$work"/grow/*.jsonl; do sed '$ { /}$/!d }' "$f"; done | gzip -6 >"$OUT/grown.jsonl.gz"
  tail -q -n 1 "$work"/grow/*.log >"$OUT/grown.log" || true
fi
tar -C "$work" -cf - model train_log.jsonl reference.safetensors tokenizer_check.json checkpoint.pt | split -b 15M - "$OUT/result.tar.part-"
ls -la "$OUT"
