#!/usr/bin/env bash
# Builds the native core + tests (build/native) and the wasm module (build/wasm),
# then prepares the page's data. Incremental: a no-op build takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}

# build/native: the core and tests with the kernels at AVX2 (8 lanes), and the kernel
# and layer tests again at SSE4 (wt_tests_w4: 4 lanes, no FMA, as the wasm builds).
cmake -S . -B build/native -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/native -j"$JOBS"

# TOOLCHAIN trap 1: Debian's emscripten finds acorn only through NODE_PATH.
export NODE_PATH=/usr/share/nodejs
# Two wasm variants: single-thread (the fallback) and pthreads (_mt). The first
# pthreads build compiles Emscripten's threaded system libraries (minutes, once).
for variant in wasm:OFF wasm-mt:ON; do
  dir=build/${variant%%:*}
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    emcmake cmake -S . -B "$dir" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DWT_THREADS=${variant##*:} >/dev/null
  fi
  cmake --build "$dir" -j"$JOBS"
done
# Emscripten's pthread worker (wasm_trainer_mt_node.worker.js) is CommonJS, but the
# project's package.json says "type": "module": mark the build folder CommonJS.
echo '{ "type": "commonjs" }' > build/wasm-mt/package.json

if [ -f scripts/prepare-data.js ]; then node scripts/prepare-data.js; fi
