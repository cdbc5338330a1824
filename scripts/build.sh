#!/usr/bin/env bash
# Configures and builds nagent into ./build (Release, Ninja). CUDA parts build only when
# a CUDA toolkit is found (NAGENT_CUDA=OFF forces them off).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" ${NAGENT_CMAKE_ARGS:-} >/dev/null
cmake --build build -j"$(nproc)"
