#!/usr/bin/env bash
# The torch-free test binaries (core, config, data: parsers, readers, store, tokenizer, loader) under sanitizers,
# each in its own build directory beside the main one:
#   scripts/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer (leaks included): test_core,
#                              test_config, test_data
#   scripts/sanitize.sh tsan   ThreadSanitizer: the loader's tests (worker threads, prefetch queue)
# The torch/MPI tests are not run under sanitizers: Debian's libtorch is not instrumented (say so, do not pretend).
set -euo pipefail
kind=${1:-asan}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SANITIZE_BUILD_DIR:-$root/build-$kind}
case $kind in
  asan) flags="address,undefined"; targets=(test_core test_config test_data) ;;
  tsan) flags="thread"; targets=(test_data) ;;
  *) echo "error: unknown sanitizer '$kind', scripts/sanitize.sh, asan or tsan" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$build" -DRSLICER_SANITIZE="$flags" -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build.configure.log" 2>&1 \
  || { tail -20 "$build.configure.log"; exit 1; }
cmake --build "$build" --target "${targets[@]}" -j "$(nproc)" > "$build.build.log" 2>&1 || { tail -30 "$build.build.log"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
status=0
for t in "${targets[@]}"; do
  filter='*'
  [[ $kind == tsan ]] && filter='*Loader*:*Sampler*'
  if ! (cd "$build/tests" && "./$t" --gtest_filter="$filter" --gtest_brief=1 > "$build.$t.log" 2>&1); then
    echo "FAIL: $t under $kind"; grep -m5 -E "ERROR|WARNING: ThreadSanitizer|runtime error|FAILED" "$build.$t.log"; status=1
  else
    echo "$t under $kind: $(grep -E '^\[  PASSED  \]' "$build.$t.log")"
  fi
done
exit $status
