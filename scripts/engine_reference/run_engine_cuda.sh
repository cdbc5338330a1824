#!/usr/bin/env bash
# On the GPU machine: builds the CUDA engine's checks and benchmark (build_engine_cuda.sh), runs
# the checks (tests/gpu/engine_cuda_check.cpp) and then the benchmark (bench/engine_cuda.cpp:
# decode with the CUDA graph on and off, fast and older GEMV, the one-token GEMV paths, batched
# decode at B = 1, 8, 32, 64 sessions, prefill, the step at 128K context), then PyTorch +
# transformers eager on the same shape (bench_torch_cuda.py; TORCH=0 skips it) for the ratio,
# with PROFILE=1 one eager decode step at B = 1 and B = 64 and one 8K prefill under Nsight
# Compute (kernel times, ncu_summary.py; sections of the largest kernels), full logs under
# LOG_DIR ($OUT when set), and prints a short table last.
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
  for run in b1:--profile:1 b64:--profile:64 prefill:--profile-prefill:1; do
    IFS=: read -r name flag value <<<"$run"
    timeout 150 "$ncu" --clock-control none --profile-from-start off --metrics gpu__time_duration.sum --csv \
      --print-units base "$build/bench_engine_cuda" "$flag" "$value" --long 0 >"$logs/ncu_$name.csv" \
      2>"$logs/ncu_$name.log" || profile_rc=$?
  done
  # Where the largest kernel of batched decode stalls: Nsight Compute's sections for the grouped
  # experts at B = 64 (DETAIL=all adds the attention decode at 128K context and the one-token
  # GEMV and RMSNorm at B = 1).
  sections=(--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy
            --section LaunchStats)
  detail() {  # NAME KERNEL_REGEX COUNT BENCH_ARGS...
    local name=$1 regex=$2 count=$3
    shift 3
    timeout 150 "$ncu" --clock-control none --profile-from-start off -k "regex:$regex" --launch-count "$count" \
      "${sections[@]}" "$build/bench_engine_cuda" --long 0 "$@" >"$logs/ncu_detail_$name.txt" 2>&1 || profile_rc=$?
  }
  detail b64 'group_mv' 2 --profile 64
  if [[ ${DETAIL:-} == all ]]; then
    detail ctx128k 'decode_kernel|decode_combine' 2 --profile 1 --prompt 131072
    detail b1 'mv_kernel|rms_norm' 6 --profile 1
  fi
fi
t4=$(date +%s)
echo "== build $((t1 - t0)) s, check $((t2 - t1)) s (rc $check_rc), bench $((t3 - t2)) s (rc $bench_rc)," \
  "PyTorch + profile $((t4 - t3)) s (rc $torch_rc, $profile_rc)"
echo "== checks that failed (of $(grep -cE ' (ok|FAIL)$' "$logs/check.log")):"
grep -E 'FAIL$|engine_cuda_check:' "$logs/check.log" | head -30
echo "== new-kernel and graph checks:"
grep -E 'gemv1|expert_mv|route T=|router T=|graph|fused|step y|PDL|GEMV|NCCL|attention_decode|rms_norm' "$logs/check.log" | cut -c1-100 | head -40
grep -E '^NCCL' "$logs/build.log"
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
  for name in b1 b64 prefill; do
    echo "== $name (one eager decode step of 1 or 64 sessions, or one 8K prefill), kernel times (ncu):"
    python3 "$root/scripts/engine_reference/ncu_summary.py" "$logs/ncu_$name.csv" --top 16 || tail -5 "$logs/ncu_$name.log"
  done
fi
if [[ $profile_rc != skipped ]]; then
  echo "== Nsight Compute details (key lines):"
  grep -hE '^  [a-z_]+kernel|Duration|Memory Throughput|DRAM Throughput|Achieved Occupancy|Registers Per|Stall|Warp Cycles Per Issued|L1/TEX Hit|L2 Hit|Block Limit' \
    "$logs"/ncu_detail_*.txt | cut -c1-110 | head -90
fi
