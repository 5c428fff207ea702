#!/usr/bin/env bash
# The rslicer binary as a user meets it: help, exit codes, one-line errors, --cfg, --info, multirun listing.
set -u
bin=$1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT  # the commands' outputs/ and stores, and each check's stderr
fails=0; passes=0
check() {  # check NAME EXPECTED_RC EXPECTED_STDERR_REGEX [STDOUT_REGEX] -- CMD...
  local name=$1 rc_want=$2 err_re=$3 out_re=$4; shift 5
  local out err rc
  out=$("$@" 2>"$work/stderr"); rc=$?; err=$(cat "$work/stderr")
  local ok=1
  [[ $rc == "$rc_want" ]] || { echo "FAIL $name: exit $rc, expected $rc_want"; ok=0; }
  if [[ -n $err_re ]]; then
    [[ $err =~ $err_re ]] || { echo "FAIL $name: stderr '$err' does not match '$err_re'"; ok=0; }
    [[ $(printf '%s\n' "$err" | grep -c .) == 1 ]] || { echo "FAIL $name: stderr is not one line: $err"; ok=0; }
  fi
  if [[ -n $out_re ]]; then
    [[ $out =~ $out_re ]] || { echo "FAIL $name: stdout does not match '$out_re': $out"; ok=0; }
  fi
  if ((ok)); then passes=$((passes+1)); else fails=$((fails+1)); fi
}
cd "$work"
check help 0 "" "pretrain" -- "$bin" --help
check sub_help 0 "" "multirun" -- "$bin" pretrain --help
check no_subcommand 2 "^error: .*command line" "" -- "$bin"
check unknown_subcommand 2 "^error: .*command line" "" -- "$bin" bogus
check cfg_job 0 "" "num_hidden_layers: 2" -- "$bin" pretrain --cfg job
check cfg_override 0 "" "lr: 0.5" -- "$bin" pretrain --cfg job train.lr=0.5
check cfg_group 0 "" "num_hidden_layers: 28" -- "$bin" pretrain --cfg job model=qwen3_0.6b
check cfg_hydra 0 "" "run:" -- "$bin" pretrain --cfg hydra
check info 0 "" "model: qwen3_0.6b, tiny" -- "$bin" pretrain --info
check unknown_key 2 "^error: unknown config key 'train.lrr'.*did you mean 'train.lr'" "" -- "$bin" pretrain --cfg job train.lrr=1
check unknown_option 2 "^error: no option 'tine' in config group 'model'.*did you mean 'tiny'" "" -- "$bin" pretrain --cfg job model=tine
check bad_grammar 2 "^error: cannot parse override" "" -- "$bin" pretrain --cfg job "train.lr=[1"
check sweep_without_m 2 "^error: .*--multirun" "" -- "$bin" pretrain --cfg job train.lr=1,2
check multirun_cfg 0 "" "lr: 1.*lr: 2" -- "$bin" pretrain -m --cfg job train.lr=1,2
check bad_cfg 2 "^error: unknown --cfg" "" -- "$bin" pretrain --cfg bogus
check missing_config_dir 2 "^error: config directory not found" "" -- "$bin" pretrain --config-dir /nonexistent
# BLAS kernels (core/blas_kernel.h): on a CPU with AVX-512 a DYNAMIC_ARCH OpenBLAS runs AVX-512 kernels, even
# where the library does not know the CPU model and fell back to Prescott; a user's OPENBLAS_CORETYPE is kept.
check version_blas 0 "" "BLAS: " -- env -u OPENBLAS_CORETYPE "$bin" --version
# inspect --serialize prints the texts the model reads; --caller-wait adds the caller's wait to trace edges that have
# one (a caller span with one child: cartservice -> redis-cart in the simulator), as serializer.caller_wait does.
"$bin" simulate system=online_boutique duration=10m seed=1 out=ob > /dev/null 2>&1
check serialize_wait 0 "" "cartservice -> redis-cart calls [0-9]+ p50 [^ ]+ p95 [^ ]+ wait [0-9]" -- "$bin" inspect ob.h5 --serialize 3 --caller-wait
if "$bin" inspect ob.h5 --serialize 3 | grep -q " wait "; then echo "FAIL serialize_no_wait: a wait without --caller-wait"; fails=$((fails+1)); else passes=$((passes+1)); fi
# --sample-gaps (serializer.sample_gaps) is taken; every pod of this store reports all its samples, so none says so.
check serialize_gaps 0 "" "metrics window [0-9]+s" -- "$bin" inspect ob.h5 --serialize 3 --sample-gaps
if "$bin" inspect ob.h5 --serialize 3 --sample-gaps | grep -q "missing samples"; then echo "FAIL serialize_no_gaps: missing samples in a store without gaps"; fails=$((fails+1)); else passes=$((passes+1)); fi
if [[ $(env -u OPENBLAS_CORETYPE "$bin" --version) != *DYNAMIC_ARCH* ]]; then
  echo "skip blas kernel checks: the BLAS is not a DYNAMIC_ARCH OpenBLAS"
else
  check blas_user_choice_kept 0 "" "kernels Haswell \\(OPENBLAS_CORETYPE\\)" -- env OPENBLAS_CORETYPE=Haswell "$bin" --version
  if grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo; then
    check blas_avx512_kernels 0 "" "kernels (SkylakeX|Cooperlake|SapphireRapids)" -- env -u OPENBLAS_CORETYPE "$bin" --version
  else
    echo "skip blas_avx512_kernels: this CPU has no AVX-512"
  fi
fi
# train.trainer.device: a device this build cannot train on is refused with one line saying why (the run's
# progress lines before it, "[info] run dir: ...", are not errors and are dropped here).
without_info() { { "$@" 2>&1 1>&3 | grep -v '\] \[info\] ' >&2; return "${PIPESTATUS[0]}"; } 3>&1; }
check device_unknown 2 "^error: device 'tpu', train.trainer.device, cpu or cuda" "" -- without_info "$bin" pretrain train.trainer.device=tpu data.stores=[/nonexistent.h5]
if [[ $("$bin" --version) == *"CUDA training: off"* ]]; then
  check device_cuda_unbuilt 2 "^error: device 'cuda' in a build without the CUDA training path \\(.+\\), train.trainer.device" "" \
    -- without_info "$bin" pretrain train.trainer.device=cuda data.stores=[/nonexistent.h5]
else
  echo "skip device_cuda_unbuilt: this build has the CUDA training path"
fi
echo "$passes passed, $fails failed"
((fails == 0))
