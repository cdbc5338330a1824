#!/usr/bin/env bash
# Builds the CUDA engine, its GPU checks (tests/gpu/engine_cuda_check.cpp) and
# bench/engine_cuda.cpp with nvcc and g++ alone, for the GPU machine, which has the CUDA
# toolkit but none of the project's Debian dependencies (NLOHMANN_INCLUDE: a folder holding
# nlohmann/json.hpp). Prints the two programs' paths.
#   build_engine_cuda.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-cuda-standalone}
inc=${NLOHMANN_INCLUDE:-/usr/include}
[[ -f $inc/nlohmann/json.hpp ]] || { echo "no nlohmann/json.hpp under $inc (set NLOHMANN_INCLUDE)" >&2; exit 2; }
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cuda=$(cd "$(dirname "$nvcc")/.." && pwd)
mkdir -p "$out"
defs=(-DNAGENT_CUDA=1 -DNAGENT_SOURCE_DIR="\"$root\"" -DNAGENT_BENCH_SOURCE_DIR="\"$root\"")
cxx=(g++ -std=c++20 -O3 -DNDEBUG -Wall -fno-trapping-math -I"$root" -I"$inc" -I"$cuda/include" "${defs[@]}")
cu=("$nvcc" -std=c++17 -O3 -DNDEBUG -I"$root" --expt-relaxed-constexpr
    -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90)
# NCCL (the multi-GPU Collective and its check) where its header and library are found: next to
# the toolkit, in the system, or in PyTorch's nvidia-nccl wheel.
nccl_inc= nccl_lib=
for d in "$cuda" /usr "$(python3 -c 'import nvidia.nccl as m; print(m.__path__[0])' 2>/dev/null)"; do
  [[ -n $d && -f $d/include/nccl.h ]] || continue
  lib=$(ls "$d"/lib64/libnccl.so* "$d"/lib/libnccl.so* "$d"/lib/x86_64-linux-gnu/libnccl.so* 2>/dev/null | head -1 || true)
  [[ -n $lib ]] && { nccl_inc=$d/include; nccl_lib=$lib; break; }
done
if [[ -n $nccl_lib ]]; then
  cxx+=(-DNAGENT_NCCL=1 -I"$nccl_inc")
fi
echo "NCCL: ${nccl_lib:-not found}"
source "$root/scripts/engine_reference/engine_sources.sh"
cpp_srcs=("${engine_cpu_sources[@]}")
jobs=()
for s in "${cpp_srcs[@]}"; do jobs+=("${cxx[*]} -c $root/engine/$s.cpp -o $out/$s.o"); done
for f in "$root"/engine/cuda/*.cpp; do n=$(basename "$f" .cpp); jobs+=("${cxx[*]} -c $f -o $out/cuda_$n.o"); done
[[ -n $nccl_lib ]] && jobs+=("${cxx[*]} -c $root/engine/cuda/nccl/nccl_collective.cpp -o $out/cuda_nccl_collective.o")
for f in "$root"/engine/cuda/*.cu; do n=$(basename "$f" .cu); jobs+=("${cu[*]} -c $f -o $out/cuda_$n.o"); done
printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc)" -I{} sh -c '{}'
libs=(-L"$cuda/lib64" -lcublasLt -lcublas -lcudart -pthread)
[[ -n $nccl_lib ]] && libs+=("$nccl_lib" -Wl,-rpath,"$(dirname "$nccl_lib")")
"${cxx[@]}" "$root/tests/gpu/engine_cuda_check.cpp" "$out"/*.o "${libs[@]}" -o "$out/engine_cuda_check"
"${cxx[@]}" "$root/bench/engine_cuda.cpp" "$out"/*.o "${libs[@]}" -o "$out/bench_engine_cuda"
echo "$out/engine_cuda_check"
echo "$out/bench_engine_cuda"
