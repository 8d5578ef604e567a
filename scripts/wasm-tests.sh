#!/usr/bin/env bash
# Builds the property test (tests/cpp/test_property.cpp: random specs, the planned
# fast paths against the Eigen reference and finite differences) for wasm and runs
# it under Node: the issue's "in wasm: at least 50 specs per run".
#   bash scripts/wasm-tests.sh [SPECS] [gtest flags...]     SPECS defaults to 50
# WT_PROPERTY_FIRST=K starts at case K (a failure names its case number).
# Build folder: build/wasm-tests (emcmake, -DWT_WASM_TESTS=ON, single thread), or
# $WT_WASM_TESTS_BUILD.
set -euo pipefail
cd "$(dirname "$0")/.."
specs=${1:-50}
shift || true
JOBS=${JOBS:-1}
dir=${WT_WASM_TESTS_BUILD:-build/wasm-tests}

if [ ! -f /usr/src/googletest/googletest/src/gtest-all.cc ]; then
  echo "wasm-tests: GoogleTest's sources are missing (/usr/src/googletest): apt-get install googletest" >&2
  exit 1
fi
# TOOLCHAIN trap 1: Debian's emscripten finds acorn only through NODE_PATH.
export NODE_PATH=/usr/share/nodejs
if [ ! -f "$dir/CMakeCache.txt" ]; then
  emcmake cmake -S . -B "$dir" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DWT_WASM_TESTS=ON >/dev/null
fi
echo "wasm-tests: building wt_property_wasm (log: $dir/build.log)"
if ! cmake --build "$dir" -j"$JOBS" --target wt_property_wasm >"$dir/build.log" 2>&1; then
  tail -40 "$dir/build.log"
  echo "wasm-tests: build failed" >&2
  exit 1
fi
# Trap 3: Emscripten 3.1.6's loader would fetch() the .wasm path under Node 18+.
exec node --no-experimental-fetch "$dir/wt_property_wasm.cjs" --specs="$specs" \
  ${WT_PROPERTY_FIRST:+--first="$WT_PROPERTY_FIRST"} "$@"
