#!/usr/bin/env bash
# The CPU comparison of docs/BENCHMARKS.md ("Embedded engine: NemotronH on the CPU") in one go,
# for the GPU machine: standalone build, PyTorch eager baselines (16 threads bf16 + fp32, 4
# threads bf16), then bench_engine_cpu on the same checkpoints and prompt (each run also checks
# its last-position logits against PyTorch's), and a short table last.
#   device_bench.sh [WORK_DIR [RESULTS_DIR]]   (NLOHMANN_INCLUDE as for build_engine_standalone.sh)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-/tmp/nagent_device_bench}
results=${2:-$work}
mkdir -p "$work" "$results"
start=$(date +%s)
step() { echo "== $* (t=$(($(date +%s) - start))s)"; }

lscpu | grep -E "^Model name|^CPU\(s\)|^Thread|^Core|^Socket|^Flags" | sed 's/^Flags:.*\(amx_bf16\).*/Flags: ... amx_bf16 .../' \
  > "$results/cpu.txt"
cat "$results/cpu.txt"
step build
"$here/build_engine_standalone.sh" "$work/sb" > "$results/build.log" 2>&1 || { tail -30 "$results/build.log"; exit 1; }
step "PyTorch eager, 16 threads"
python3 "$here/bench_torch.py" "$work/ck" 16 bf16 fp32 > "$results/torch16.json" 2> "$results/torch16.log" ||
  tail -20 "$results/torch16.log"
engine() {  # NAME ARGS...
  local name=$1
  shift
  step "engine $name"
  "$work/sb/bench_engine_cpu" "$@" > "$results/$name.txt" 2>&1
  echo "exit status $?" >> "$results/$name.txt"
}
engine bf16_16t --model "$work/ck/bf16" --threads 16 --torch "$results/torch16.json"
engine fp32_16t --model "$work/ck/fp32" --threads 16 --torch "$results/torch16.json"
engine bf16_16t_fp32_activations --model "$work/ck/bf16" --threads 16 --torch "$results/torch16.json" --fp32-activations
step "PyTorch eager, 4 threads"
python3 "$here/bench_torch.py" "$work/ck4" 4 bf16 > "$results/torch4.json" 2> "$results/torch4.log" ||
  tail -20 "$results/torch4.log"
engine bf16_4t --model "$work/ck4/bf16" --threads 4 --torch "$results/torch4.json"
step done
for f in "$results"/*_*t*.txt; do echo "--- $(basename "$f")"; cat "$f"; done
python3 - "$results" <<'PY'
import re, sys, pathlib
print("| run | engine prefill | PyTorch prefill | ratio | engine decode | PyTorch decode | ratio | rel err vs PyTorch |")
print("|---|---|---|---|---|---|---|---|")
for f in sorted(pathlib.Path(sys.argv[1]).glob("*_*t*.txt")):
    s = f.read_text()
    g = lambda p: (re.search(p, s) or [None, "?"])[1]
    print(f"| {f.stem} | {g(r'prefill \d+ tokens: ([\d.]+)')} | {g(r'eager \S+ \(\d+ threads\): prefill ([\d.]+)')} | "
          f"{g(r'ratio .*prefill ([\d.]+x)')} | {g(r'decode +\d+ tokens: ([\d.]+)')} | "
          f"{g(r'eager .*decode ([\d.]+) tok')} | {g(r'ratio .*decode ([\d.]+x)')} | {g(r'rel err (\S+)')} |")
PY
