#!/usr/bin/env bash
# Generates the default model's training corpus on this machine: episodes played through the
# real runtime (episodes.py), one generator per core, merged into corpus/train.jsonl.gz and
# corpus/heldout.jsonl.gz for train.py (run on the GPU machine by device_train.sh).
#   scripts/default_model/make_corpus.sh [EPISODES_PER_GENERATOR (500)] [GENERATORS (nproc+1)]
set -euo pipefail
cd "$(dirname "$0")/../.."
per=${1:-500}
jobs=${2:-$(($(nproc) + 1))}
scripts/build.sh
# a copy of the binary, so that a rebuild during generation cannot pull it from under the runs
bin=$(mktemp /tmp/nagent-corpus.XXXXXX)
cp build/nagent "$bin"
mkdir -p corpus/parts
pids=()
for ((i = 0; i < jobs; i++)); do
  python3 scripts/default_model/episodes.py --nagent "$bin" --split train --count "$per" --seed $((31 + i)) \
    --out corpus/parts/train_$i.jsonl 2>corpus/parts/train_$i.log &
  pids+=($!)
done
python3 scripts/default_model/episodes.py --nagent "$bin" --split heldout --count 60 --seed 98 \
  --out corpus/parts/heldout.jsonl 2>corpus/parts/heldout.log
for p in "${pids[@]}"; do wait "$p"; done
rm -f "$bin"
cat corpus/parts/train_*.jsonl | gzip -9 >corpus/train.jsonl.gz
gzip -9 -c corpus/parts/heldout.jsonl >corpus/heldout.jsonl.gz
tail -n 1 corpus/parts/*.log
