#!/usr/bin/env bash
# Builds the GoogleTest suite (tests/cpp/*.cpp) with clang, ASan and UBSan
# (tests/fuzz/CMakeLists.txt, target wt_tests_asan) and runs it. Any memory error,
# leak or undefined behaviour fails the run (-fno-sanitize-recover=all). Each test
# suite runs in its own process, so one finding does not hide the others.
#   bash scripts/sanitize.sh [gtest filter]     e.g. 'Safetensors*'
# WT_SANITIZE_BUILD=dir uses another build directory (e.g. one configured with
# -DWT_SAN_EXTRA=-fno-sanitize=pointer-overflow to look past a known finding).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${WT_SANITIZE_BUILD:-build/fuzz}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S tests/fuzz -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
fi
echo "sanitize: building wt_tests_asan (clang, ASan+UBSan; log: $build/sanitize-build.log)"
if ! cmake --build "$build" -j1 --target wt_tests_asan >"$build/sanitize-build.log" 2>&1; then
  tail -40 "$build/sanitize-build.log"
  echo "sanitize: build failed" >&2
  exit 1
fi
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
bin=$build/wt_tests_asan
filter=${1:-*}
logs=$build/sanitize-logs
mkdir -p "$logs"
suites=$("$bin" --gtest_list_tests --gtest_filter="$filter" | sed -n 's/^\([A-Za-z0-9_/]*\)\.$/\1/p')
[ -n "$suites" ] || { echo "sanitize: no tests match '$filter'" >&2; exit 1; }
failed=()
ntests=0
t0=$SECONDS
# The random-spec property test checks 200 specs natively; 50 under the sanitizers keep
# this suite short (the same generator, so the first 50 of the native run).
export WT_PROPERTY_SPECS=${WT_PROPERTY_SPECS:-50}
for s in $suites; do
  log=$logs/$(tr '/' '_' <<<"$s").log
  "$bin" --gtest_filter="$s.*:-*DISABLED*" --gtest_brief=1 >"$log" 2>&1
  rc=$?
  n=$(sed -n 's/^\[==========\] \([0-9]*\) tests\{0,1\} from .* ran\..*/\1/p' "$log" | tail -1)
  ntests=$((ntests + ${n:-0}))
  if [ $rc -ne 0 ]; then
    failed+=("$s")
    echo "sanitize: $s FAILED (exit $rc; $log):"
    grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY:|\[  FAILED  \]|Failure' "$log" | head -12 | sed 's/^/  /'
  else
    echo "sanitize: $s passed (${n:-?} tests)"
  fi
done
echo "sanitize: $ntests tests in $(wc -w <<<"$suites") suites, $((SECONDS - t0)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize: FAILED suites: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize: passed"
