#!/usr/bin/env bash
# Runs every suite: the PyTorch fixtures first, C++ native (GoogleTest via CTest, at 8
# and at 4 SIMD lanes), Node on the wasm (node:test), the browser (Playwright + Debian's
# Chromium), then sanitizers and a short fuzz pass.
# npm test runs setup and build first (package.json "pretest").
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
passed=0
run() {
  local name=$1; shift
  echo
  echo "=== $name: $*"
  local t0=$SECONDS
  if "$@"; then echo "=== $name: passed ($((SECONDS - t0)) s)"; passed=$((passed + 1)); else echo "=== $name: FAILED ($((SECONDS - t0)) s)"; failed+=("$name"); fi
}
# PyTorch's reference numbers for every preset (scripts/torch_ref/make_preset_fixtures.py),
# which the native and wasm suites compare with: build products, remade only when their
# inputs changed. Without PyTorch they cannot be made, and every suite that compares
# with PyTorch fails (WT_REQUIRE_TORCH=1 makes interop.test.js fail rather than skip).
PYTHON=${WT_PYTHON:-/usr/bin/python3}
export WT_REQUIRE_TORCH=${WT_REQUIRE_TORCH:-1}
torch_fixtures() {
  if ! "$PYTHON" -c 'import torch, numpy' >/dev/null 2>&1; then
    echo "python3-torch is missing: $PYTHON cannot import torch and numpy, so the PyTorch fixtures"
    echo "(build/native/fixtures) cannot be made and the suites that compare with PyTorch fail."
    echo "Install it: sudo apt-get install python3-torch python3-numpy (scripts/setup.sh does, unless WT_SKIP_TORCH=1)."
    return 1
  fi
  "$PYTHON" scripts/torch_ref/spec_model.py --self-test >/tmp/wt-spec-selftest.$$ 2>&1 ||
    { grep -v '^ok' /tmp/wt-spec-selftest.$$; rm -f /tmp/wt-spec-selftest.$$; return 1; }
  tail -1 /tmp/wt-spec-selftest.$$; rm -f /tmp/wt-spec-selftest.$$
  "$PYTHON" scripts/torch_ref/make_preset_fixtures.py build/native/fixtures
}
run "PyTorch fixtures (build/native/fixtures)" torch_fixtures
# build/native holds two test binaries (CMakeLists.txt): wt_tests with the kernels at
# AVX2 (8 lanes, FMA), and wt_tests_w4, the kernel and layer tests with the kernels at
# SSE4 (4 lanes, no FMA: wasm's width and rounding), listed by CTest as w4:*.
run "native (GoogleTest, AVX2: 8 lanes)" ctest --test-dir build/native --output-on-failure -j2 -E '^w4:'
run "native at wasm's width (GoogleTest, SSE4: 4 lanes)" ctest --test-dir build/native --output-on-failure -j2 -R '^w4:'
# A suite that hangs (a blocked wasm thread cannot time itself out) fails here with a
# clear line instead of running into CI's limit; every suite normally takes minutes.
run "node (wasm)" timeout --kill-after=10 1500 node --test --test-concurrency=1 --test-timeout=600000 tests/node/
run "property test in wasm (50 random specs)" bash scripts/wasm-tests.sh 50
run "browser (Chromium)" timeout --kill-after=10 1200 node --test --test-concurrency=1 tests/browser/
run "native under ASan+UBSan" bash scripts/sanitize.sh
run "fuzz (short, bounded)" bash scripts/fuzz.sh "${WT_FUZZ_SECONDS:-20}"
echo
[ ${#failed[@]} -eq 0 ] || echo "FAILED suites: ${failed[*]}"
echo "suites: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
