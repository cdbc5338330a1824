#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest over Catch2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
