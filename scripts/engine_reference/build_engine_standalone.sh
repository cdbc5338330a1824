#!/usr/bin/env bash
# Builds the engine and bench/engine_cpu.cpp with g++ alone (no CMake, none of the project's
# Debian dependencies but the header-only nlohmann json), for machines that only have a
# compiler, such as the GPU machine used for the PyTorch comparison.
#   build_engine_standalone.sh [OUT_DIR]   (NLOHMANN_INCLUDE: folder holding nlohmann/json.hpp)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-standalone}
inc=${NLOHMANN_INCLUDE:-/usr/include}
[[ -f $inc/nlohmann/json.hpp ]] || { echo "no nlohmann/json.hpp under $inc (set NLOHMANN_INCLUDE)" >&2; exit 2; }
mkdir -p "$out"
flags=(-std=c++20 -O3 -DNDEBUG -Wall -fno-trapping-math -I"$root" -I"$inc")  # as engine/CMakeLists.txt
source "$root/scripts/engine_reference/engine_sources.sh"
srcs=("${engine_cpu_sources[@]}")
printf '%s\n' "${srcs[@]}" | xargs -P "$(nproc)" -I{} g++ "${flags[@]}" -c "$root/engine/{}.cpp" -o "$out/{}.o"
objs=()
for s in "${srcs[@]}"; do objs+=("$out/$s.o"); done
g++ "${flags[@]}" "$root/bench/engine_cpu.cpp" "${objs[@]}" -o "$out/bench_engine_cpu" -pthread
echo "$out/bench_engine_cpu"
