#!/usr/bin/env bash
# Builds the native core + tests (build/native) and the wasm module (build/wasm),
# then prepares the page's data. Incremental: a no-op build takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}

cmake -S . -B build/native -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/native -j"$JOBS"

# TOOLCHAIN trap 1: Debian's emscripten finds acorn only through NODE_PATH.
export NODE_PATH=/usr/share/nodejs
if [ ! -f build/wasm/CMakeCache.txt ]; then
  emcmake cmake -S . -B build/wasm -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build/wasm -j"$JOBS"

if [ -f scripts/prepare-data.js ]; then node scripts/prepare-data.js; fi
