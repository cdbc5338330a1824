#!/usr/bin/env bash
# On the GPU machine: builds the CUDA engine's checks and benchmark (build_engine_cuda.sh), runs
# the checks (tests/gpu/engine_cuda_check.cpp) and then the benchmark (bench/engine_cuda.cpp:
# decode with the CUDA graph on and off, fast and older GEMV, the one-token GEMV paths, batched
# decode at B = 1, 8, 32, 64 sessions, prefill, the step at 128K context), then PyTorch +
# transformers eager on the same shape (bench_torch_cuda.py; TORCH=0 skips it) for the ratio,
# with PROFILE=1 one eager decode step at B = 1 and B = 64 under Nsight Compute (kernel times,
# ncu_summary.py), full logs under LOG_DIR ($OUT when set), and prints a short table last.
#   NLOHMANN_INCLUDE=DIR run_engine_cuda.sh [BUILD_DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-/tmp/nagent-cuda-build}
logs=${LOG_DIR:-${OUT:-$build}}
mkdir -p "$logs"
t0=$(date +%s)
if ! "$root/scripts/engine_reference/build_engine_cuda.sh" "$build" >"$logs/build.log" 2>&1; then
  tail -40 "$logs/build.log"
  echo "BUILD FAILED"
  exit 1
fi
t1=$(date +%s)
timeout 180 "$build/engine_cuda_check" >"$logs/check.log" 2>&1
check_rc=$?
t2=$(date +%s)
timeout 240 "$build/bench_engine_cuda" >"$logs/bench.log" 2>&1
bench_rc=$?
t3=$(date +%s)
torch_rc=skipped
if [[ ${TORCH:-1} == 1 ]]; then
  timeout 240 python3 "$root/scripts/engine_reference/bench_torch_cuda.py" \
    "$root/tests/fixtures/nemotronh/configs/nemotron3_nano_30b_a3b.json" --ours "$logs/bench.log" \
    >"$logs/torch.json" 2>"$logs/torch.log"
  torch_rc=$?
fi
profile_rc=skipped
if [[ ${PROFILE:-0} == 1 ]]; then
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
  profile_rc=0
  for b in 1 64; do
    timeout 150 "$ncu" --clock-control none --profile-from-start off --metrics gpu__time_duration.sum --csv \
      --print-units base "$build/bench_engine_cuda" --profile $b --long 0 >"$logs/ncu_b$b.csv" 2>"$logs/ncu_b$b.log" ||
      profile_rc=$?
  done
fi
t4=$(date +%s)
echo "== build $((t1 - t0)) s, check $((t2 - t1)) s (rc $check_rc), bench $((t3 - t2)) s (rc $bench_rc)," \
  "PyTorch + profile $((t4 - t3)) s (rc $torch_rc, $profile_rc)"
echo "== checks that failed (of $(grep -cE ' (ok|FAIL)$' "$logs/check.log")):"
grep -E 'FAIL$|engine_cuda_check:' "$logs/check.log" | head -30
echo "== new-kernel and graph checks:"
grep -E 'gemv1|expert_mv|route T=|router T=|graph|fused|step y|PDL|GEMV' "$logs/check.log" | cut -c1-100 | head -40
echo "== batched decode checks:"
grep -E 'decode_batch|moe_group|expert_group' "$logs/check.log" | cut -c1-120 | head -80
echo "== bench:"
grep -vE '^ {2}[a-z].*GiB$' "$logs/bench.log" | tail -50
if [[ $torch_rc != skipped ]]; then
  echo "== PyTorch + transformers eager, same shape and GPU:"
  cat "$logs/torch.json"
  [[ $torch_rc == 0 ]] || tail -15 "$logs/torch.log"
fi
if [[ $profile_rc != skipped ]]; then
  for b in 1 64; do
    echo "== one eager decode step, B = $b, kernel times (ncu):"
    python3 "$root/scripts/engine_reference/ncu_summary.py" "$logs/ncu_b$b.csv" --top 22 || tail -5 "$logs/ncu_b$b.log"
  done
fi
