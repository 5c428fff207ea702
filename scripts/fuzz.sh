#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang + ASan + UBSan) in build-fuzz/ and runs each for FUZZ_SECONDS
# (default 10; longer runs: FUZZ_SECONDS=3600 scripts/fuzz.sh [target...]) from its seed corpus tests/fuzz/corpus/<t>
# (grown in build-fuzz/corpus/<t>). A crash leaves build-fuzz/crash-* and fails; make it a regression test
# (copy it into tests/fuzz/corpus/<t>/, which every run replays first).
# fuzz_store (the window store opener) is built but not in the default list: it finds memory errors inside Debian's
# libhdf5 1.10.8 within seconds (H5HG_read while converting variable-length strings of a corrupted file), which
# no change of ours can fix; run it by name (scripts/fuzz.sh fuzz_store). See README, Reliability.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-10}
targets=("$@"); ((${#targets[@]})) || targets=(fuzz_override fuzz_tokenizer fuzz_safetensors fuzz_otlp fuzz_csv_time fuzz_nezha fuzz_aiops)
command -v clang++ > /dev/null || { echo "SKIP: clang++ not installed (Debian clang, libclang-rt-14-dev)"; exit 77; }
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DRSLICER_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build.configure.log" 2>&1 \
  || { tail -20 "$build.configure.log"; exit 1; }
cmake --build "$build" --target "${targets[@]}" -j "$(nproc)" > "$build.build.log" 2>&1 || { tail -30 "$build.build.log"; exit 1; }
status=0
export TMPDIR="$build/tmp"  # the targets' scratch files (removed at exit; kept beside a crash) stay in the build tree
mkdir -p "$TMPDIR"
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  seeds=(); [[ -d $root/tests/fuzz/corpus/$t ]] && seeds=("$root/tests/fuzz/corpus/$t")
  max_len=65536; [[ $t == fuzz_store ]] && max_len=262144  # its seed, a valid store, is 140 kB
  if (cd "$build" && ASAN_OPTIONS=detect_leaks=0 "./fuzz/$t" -max_total_time="$seconds" -max_len=$max_len -timeout=20 \
        -rss_limit_mb=4096 "$build/corpus/$t" "${seeds[@]}" > "$build/$t.log" 2>&1); then
    echo "$t: $(grep -oE '#[0-9]+ +DONE.*' "$build/$t.log" | tail -1 | cut -c1-80 || tail -1 "$build/$t.log")"
  else
    echo "FAIL: $t"; grep -m8 -E "ERROR|runtime error|#[0-9]+ 0x|Test unit written" "$build/$t.log"; status=1
  fi
done
exit $status
