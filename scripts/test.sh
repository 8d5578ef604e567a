#!/usr/bin/env bash
# Runs every suite: C++ native (GoogleTest via CTest), Node on the wasm (node:test),
# the browser (Playwright + Debian's Chromium), then sanitizers and a short fuzz pass.
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
run "native (GoogleTest)" ctest --test-dir build/native --output-on-failure -j2
run "node (wasm)" node --test --test-concurrency=1 tests/node/
run "browser (Chromium)" node --test --test-concurrency=1 tests/browser/
run "native under ASan+UBSan" bash scripts/sanitize.sh
run "fuzz (short, bounded)" bash scripts/fuzz.sh "${WT_FUZZ_SECONDS:-20}"
echo
[ ${#failed[@]} -eq 0 ] || echo "FAILED suites: ${failed[*]}"
echo "suites: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
