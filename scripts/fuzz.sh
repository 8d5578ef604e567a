#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang + ASan + UBSan) and fuzzes each
# for SECONDS_EACH seconds, one after the other (one fuzzer process at a time).
#   bash scripts/fuzz.sh [SECONDS_EACH=60] [TARGET...]     (targets: checkpoint idx spec)
# Working corpora grow in build/fuzz-corpus/<target> (seeded from tests/fuzz/corpus);
# logs go to build/fuzz-logs/, crash/leak/timeout files to build/fuzz-crashes/.
# Exits non-zero if a target crashes (or a regression input fails).
# Environment: WT_FUZZ_ARGS adds libFuzzer flags (e.g. "-seed=1");
# WT_FUZZ_SKIP_KNOWN_BUGS=ON builds the targets that skip known bugs.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(checkpoint idx spec)
case "$secs" in ''|*[!0-9]*) echo "usage: bash scripts/fuzz.sh [SECONDS_EACH] [checkpoint|idx|spec ...]" >&2; exit 2;; esac

build=build/fuzz
# WT_FUZZ_SKIP_KNOWN_BUGS=ON skips inputs of known bugs (tests/fuzz/CMakeLists.txt).
cmake -S tests/fuzz -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWT_FUZZ_SKIP_KNOWN_BUGS="${WT_FUZZ_SKIP_KNOWN_BUGS:-OFF}" >/dev/null || exit 1
bins=()
for t in "${targets[@]}"; do bins+=("fuzz_$t"); done
cmake --build "$build" -j1 --target "${bins[@]}" >"$build/fuzz-build.log" 2>&1 || { cat "$build/fuzz-build.log"; echo "fuzz: build failed" >&2; exit 1; }

mkdir -p build/fuzz-corpus build/fuzz-logs build/fuzz-crashes
status=0
summary=()
for t in "${targets[@]}"; do
  bin=$build/fuzz_$t
  corpus=build/fuzz-corpus/$t
  log=build/fuzz-logs/$t.log
  mkdir -p "$corpus"
  # Regression inputs first: each must run clean.
  regs=(tests/fuzz/regressions/$t-*)
  if [ -e "${regs[0]}" ]; then
    if ! "$bin" -runs=1 "${regs[@]}" >"build/fuzz-logs/$t-regressions.log" 2>&1; then
      echo "fuzz: $t: a regression input fails (build/fuzz-logs/$t-regressions.log):" >&2
      tail -40 "build/fuzz-logs/$t-regressions.log" >&2
      status=1
      summary+=("$t: REGRESSION FAILED")
      continue
    fi
  fi
  echo "fuzz: $t for ${secs}s (log: $log)"
  # -rss_limit_mb: a hostile file must not make the reader allocate gigabytes.
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="tests/fuzz/dict/$t.dict" -artifact_prefix="build/fuzz-crashes/$t-" \
    ${WT_FUZZ_ARGS:-} "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -aE '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  line="$t: ${execs:-?} executions, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?} ($(ls "$corpus" | wc -l) files in $corpus)"
  if [ $rc -ne 0 ]; then
    status=1
    line="$line -- CRASHED (exit $rc)"
    echo "fuzz: $t crashed; the end of $log:" >&2
    grep -av '^#[0-9]' "$log" | tail -60 >&2
    ls -1 build/fuzz-crashes/"$t"-* 2>/dev/null | sed 's/^/fuzz: kept /' >&2
  fi
  echo "fuzz: $line"
  summary+=("$line")
done
echo
printf 'fuzz summary: %s\n' "${summary[@]}"
exit $status
