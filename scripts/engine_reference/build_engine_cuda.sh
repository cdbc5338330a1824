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
source "$root/scripts/engine_reference/engine_sources.sh"
cpp_srcs=("${engine_cpu_sources[@]}")
jobs=()
for s in "${cpp_srcs[@]}"; do jobs+=("${cxx[*]} -c $root/engine/$s.cpp -o $out/$s.o"); done
for f in "$root"/engine/cuda/*.cpp; do n=$(basename "$f" .cpp); jobs+=("${cxx[*]} -c $f -o $out/cuda_$n.o"); done
for f in "$root"/engine/cuda/*.cu; do n=$(basename "$f" .cu); jobs+=("${cu[*]} -c $f -o $out/cuda_$n.o"); done
printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc)" -I{} sh -c '{}'
libs=(-L"$cuda/lib64" -lcublasLt -lcublas -lcudart -pthread)
"${cxx[@]}" "$root/tests/gpu/engine_cuda_check.cpp" "$out"/*.o "${libs[@]}" -o "$out/engine_cuda_check"
"${cxx[@]}" "$root/bench/engine_cuda.cpp" "$out"/*.o "${libs[@]}" -o "$out/bench_engine_cuda"
echo "$out/engine_cuda_check"
echo "$out/bench_engine_cuda"
