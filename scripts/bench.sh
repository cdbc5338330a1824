#!/usr/bin/env bash
# Builds and runs every benchmark in bench/ (each prints its numbers and its ratio against a
# baseline measured in the same run). Results with date and machine go to docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
for b in build/bench/bench_*; do
  echo "== ${b##*/}"
  "$b"
  echo
done
