#!/usr/bin/env bash
# The test suite under sanitizers, each in its own build directory beside the main one:
#   scripts/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer: every gtest binary (core, config, data,
#                              model, losses, tuning, simulate, optimizer), the MPI ones under mpirun -np 2 (config
#                              broadcast, world-size equivalence), and the checkpoint and fault-injection scripts
#                              driving an instrumented rslicer under mpirun. Leak detection is on for every process
#                              that does not initialise MPI and off for those that do: Open MPI/PMIx leave allocations
#                              of plugins they unload, which LeakSanitizer can neither name nor suppress.
#                              Not under it: e2e (the demo; minutes), Slurm.
#   scripts/sanitize.sh tsan   ThreadSanitizer: the loader's tests (worker threads, prefetch queue, pinning)
# Our code is instrumented; Debian's libtorch, Open MPI and libhdf5 are not (errors inside them are not seen
# unless they touch our memory).
set -euo pipefail
kind=${1:-asan}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SANITIZE_BUILD_DIR:-$root/build-$kind}
case $kind in
  asan) flags="address,undefined"
        targets=(test_core test_config test_data test_model test_losses test_tuning test_commands test_train
                 test_mpi_config test_mpi_communicator test_mpi_equivalence rslicer) ;;
  tsan) flags="thread"; targets=(test_data) ;;
  *) echo "error: unknown sanitizer '$kind', scripts/sanitize.sh, asan or tsan" >&2; exit 2 ;;
esac
# -O1 and line tables only (-g1): what the sanitizers' documentation advises for speed and readable reports, at
# about half the compile time of -O2 -g for the torch-including sources, most of this tree (ASan tree without
# ccache on 2 cores: 19 min instead of 32; its runs take as long as before).
opt="-O1 -g1 -DNDEBUG"
# clang where it is installed (scripts/install-deps.sh installs it; the fuzzers need it too): it compiles this tree
# in half gcc's time at these flags (ASan tree without ccache on 2 cores: 9 min instead of 19). The compiler is
# chosen when the tree is first configured; an existing tree keeps its own.
compiler=()
if [[ ! -f $build/CMakeCache.txt ]] && command -v clang++ > /dev/null; then
  compiler=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
fi
cmake -S "$root" -B "$build" "${compiler[@]+"${compiler[@]}"}" -DRSLICER_SANITIZE="$flags" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$opt" > "$build.configure.log" 2>&1 \
  || { tail -20 "$build.configure.log"; exit 1; }
cmake --build "$build" --target "${targets[@]}" -j "$(nproc)" > "$build.build.log" 2>&1 || { tail -30 "$build.build.log"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpi_asan=ASAN_OPTIONS=detect_leaks=0:abort_on_error=1  # for processes that call MPI_Init (see above)
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
status=0
run() {  # name, command...: one line per run, the first sanitizer report on failure
  local name=$1; shift
  if ! "$@" > "$build.$name.log" 2>&1; then
    echo "FAIL: $name under $kind"; grep -m5 -E "ERROR|WARNING: ThreadSanitizer|runtime error|FAILED|FAIL:" "$build.$name.log"; status=1
  else
    echo "$name under $kind: $(grep -E '^\[  PASSED  \]|[0-9]+ passed' "$build.$name.log" | tail -1)"
  fi
}
for t in "${targets[@]}"; do
  case $t in
    rslicer) ;;
    test_mpi_*) run "$t" env "$mpi_asan" bash -c "cd '$build/tests' && mpirun -np 2 --bind-to none ./$t --gtest_brief=1 --gtest_color=no" ;;
    test_losses) run "$t" env "$mpi_asan" bash -c "cd '$build/tests' && ./$t --gtest_brief=1 --gtest_color=no" ;;
    *) filter='*'; [[ $kind == tsan ]] && filter='*Loader*:*Sampler*:*CpuAffinity*'
       run "$t" bash -c "cd '$build/tests' && ./$t --gtest_filter='$filter' --gtest_brief=1 --gtest_color=no" ;;
  esac
done
if [[ $kind == asan ]]; then
  run checkpoint env "$mpi_asan" bash "$root/tests/train/test_checkpoint.sh" "$build/bin/rslicer"
  run faults env "$mpi_asan" bash "$root/tests/train/test_faults.sh" "$build/bin/rslicer"
fi
exit $status
