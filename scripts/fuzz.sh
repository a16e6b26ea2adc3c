#!/usr/bin/env bash
# Builds the libFuzzer targets (native/test/fuzz_<target>.cc) and runs them.
#
#   bash scripts/fuzz.sh [wire|core|seal|assembly|all] [seconds] [libFuzzer flags...]
#
# Defaults: all targets, 60 seconds each. Binaries, logs and the growing
# corpus go to fuzz-out/ (corpus-<target>/, seeded from the committed
# native/test/corpus/<target>/, which is only read). Exits 0 when every run
# reached its time limit without a finding; otherwise non-zero, after
# printing the input that crashed, hung or ran out of memory, and the
# command that replays it. See docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: bash scripts/fuzz.sh [wire|core|seal|assembly|all] [seconds] [libFuzzer flags...]" >&2; exit 2; }
target=${1:-all}
seconds=${2:-60}
extra=("${@:3}")
case $target in
  wire | core | seal | assembly) targets=("$target") ;;
  all) targets=(wire core seal assembly) ;;
  *) usage ;;
esac
[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage

cxx=${CXX:-clang++}
if ! command -v "$cxx" >/dev/null; then
  echo "fuzz.sh: $cxx not found (clang with libFuzzer is needed): run bash ci/install-deps.sh" >&2
  exit 2
fi
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Inative)
out=fuzz-out
mkdir -p "$out"

status=0
for t in "${targets[@]}"; do
  case $t in
    wire) sources=(native/test/fuzz_wire.cc native/wire.cc); headers=(native/wire.h native/boundary.h); max_len=4096 ;;
    core) sources=(native/test/fuzz_core.cc native/wire.cc native/reliability.cc native/reliability_send.cc native/reliability_receive.cc native/reliability_stability.cc)
          headers=(native/test/fuzz_core_sink.h native/wire.h native/boundary.h native/reliability.h native/reliability_state.h native/stats.h); max_len=8192 ;;
    # The sealer links the system's OpenSSL 3 (libssl-dev); the addon uses Node's.
    seal) sources=(native/test/fuzz_seal.cc native/seal.cc); headers=(native/seal.h native/wire.h); max_len=2100 ;;
    assembly) sources=(native/test/fuzz_assembly.cc native/assembly.cc); headers=(native/assembly.h native/records.h native/boundary.h); max_len=3000 ;;
  esac
  libs=()
  [[ $t == seal ]] && libs=(-lcrypto)
  bin=$out/fuzz_$t
  if [[ ! -x $bin || -n $(find "${sources[@]}" "${headers[@]}" -newer "$bin") ]]; then
    echo "fuzz.sh: building $bin"
    # Built aside and renamed: another run (npm test in a second shell) may be using $bin.
    if ! "$cxx" "${flags[@]}" "${sources[@]}" ${libs[@]+"${libs[@]}"} -o "$bin.$$"; then
      rm -f "$bin.$$"
      echo "fuzz.sh: building $t failed (libFuzzer's runtime missing? bash ci/install-deps.sh)" >&2
      exit 2
    fi
    mv -f "$bin.$$" "$bin"
  fi
  corpus=$out/corpus-$t
  crashes=$out/crashes-$t
  log=$out/fuzz-$t.log
  run_log=$out/fuzz-$t.$$.log  # this run's own, until it ends: runs at the same time share the rest
  mkdir -p "$corpus" "$crashes"
  echo "fuzz.sh: running $t for ${seconds}s (log: $log)"
  # -timeout: one input running this long is a hang, reported like a crash.
  set +e
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=$max_len \
    -print_final_stats=1 -artifact_prefix="$crashes/" ${extra[@]+"${extra[@]}"} \
    "$corpus" "native/test/corpus/$t" >"$run_log" 2>&1
  code=$?
  set -e
  # -a: whatever bytes a log holds, grep must not hide the lines the test reads.
  grep -aE '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|^stat::number_of_executed_units|^stat::new_units_added|^stat::peak_rss_mb' "$run_log" || true
  if [[ $code -ne 0 ]]; then
    status=$code
    echo "fuzz.sh: $t FAILED (exit $code); the end of $log:" >&2
    grep -aE '^==[0-9]+==|^SUMMARY|ERROR' "$run_log" | head -5 >&2 || true
    found=$(grep -ao 'Test unit written to .*' "$run_log" | sed 's/^Test unit written to //' | tail -1)
    if [[ -n $found ]]; then
      echo "fuzz.sh: the input is $found" >&2
      echo "fuzz.sh: replay it with: $bin $found" >&2
    else
      tail -20 "$run_log" >&2
    fi
  fi
  mv -f "$run_log" "$log"
done
exit $status
