#!/usr/bin/env bash
# On a machine with a CUDA GPU and PyTorch (the device machine): builds the main tree against PyTorch's LibTorch
# (RSLICER_TORCH_DIR, RSLICER_CUDA=on) with the Debian libraries of .gpu-deps (bench/gpu/fetch_deps.sh, made on a
# Debian machine and carried), runs the GPU tests live, then the GPU benchmarks beside their references (HF
# transformers' training step; torch.distributed's all-reduce) and the real trainer (rslicer pretrain) on the GPU.
# Results: JSON lines in ${OUT:-bench/gpu/out}/gpu_results.jsonl, the logs beside it.
#   bench/gpu/run.sh [tests|bench|trainer|all]   (carry .gpu-deps and assets: the tokenizer)
set -euo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/bench/gpu/out}
mkdir -p "$out"
results=$out/gpu_results.jsonl
: > "$results"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
torch_dir=$($py -c 'import torch, os; print(os.path.dirname(torch.__file__))')
abi=$($py -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
nccl_dir=$($py -c 'import nvidia.nccl as m; print(list(m.__path__)[0])')
deps=${DEPS_PREFIX:-$root/.gpu-deps}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "GPU: $gpu | torch $($py -c 'import torch; print(torch.__version__)') | NCCL at $nccl_dir | deps at $deps"
# Dense peak of the GPU (NVIDIA data sheets): bf16 tensor cores and fp32 without TF32 (LibTorch's default).
case "$gpu" in
  *H100*|*H200*) peak_bf16=989; peak_fp32=67 ;;
  *A100*) peak_bf16=312; peak_fp32=19.5 ;;
  *) peak_bf16=${PEAK_BF16_TFLOPS:?unknown GPU: set PEAK_BF16_TFLOPS and PEAK_FP32_TFLOPS}; peak_fp32=${PEAK_FP32_TFLOPS:?} ;;
esac
build=${BUILD_DIR:-/tmp/rslicer-gpu-build}
t0=$(date +%s)
lib=$deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$lib:$nccl_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The carried packages' pkg-config files name /usr: the sysroot maps their paths into $deps.
export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$deps/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$deps
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSLICER_TORCH_DIR="$torch_dir" \
  -DRSLICER_TORCH_CXX11_ABI="$abi" -DRSLICER_CUDA=on -DCMAKE_PREFIX_PATH="$deps/usr" \
  -DHDF5_ROOT="$lib/hdf5/serial" -DNCCL_INCLUDE_DIR="$nccl_dir/include" -DNCCL_LIBRARY="$(ls "$nccl_dir"/lib/libnccl.so* | head -1)" \
  > "$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
grep -E "CUDA training|GPU/NCCL|LibTorch" "$out/configure.log" || true
cmake --build "$build" -j "$(nproc)" --target rslicer test_model test_nccl test_mpi_equivalence gpu_step_bench nccl_bench \
  > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"
bin=$build/bin/rslicer
"$bin" --version

if [[ $what == tests || $what == all ]]; then
  model_status=0; "$build/tests/test_model" > "$out/test_model.log" 2>&1 || model_status=$?
  grep -E "parity|autocast|fused|PASSED|FAILED|SKIPPED|tests ran" "$out/test_model.log" || true
  ((model_status == 0)) && echo "test_model: all passed" || { echo "test_model FAILED"; tail -30 "$out/test_model.log"; }
  mpirun -np 1 "$build/tests/test_nccl" 2>&1 | tail -6
  # The device trainer: 1 GPU vs the CPU trainer, 2 ranks on the one GPU (staged collectives) vs 1 rank.
  mpirun -np 2 --oversubscribe "$build/tests/test_mpi_equivalence" --gtest_filter='DeviceTraining.*' 2>&1 | tail -8
fi

if [[ $what == bench || $what == all ]]; then
  cfg=$root/bench/gpu
  run() {  # label config batch seq precision steps peak
    local label=$1; shift
    for impl in ours hf; do
      if [[ $impl == ours ]]; then line=$("$build/bench/gpu_step_bench" "$@" | tail -1)
      else line=$($py "$root/bench/reference/hf_train_step.py" "$@" 2>/dev/null | tail -1); fi
      echo "{\"row\": \"$label\", \"gpu\": \"$gpu\", \"result\": $line}" | tee -a "$results"
    done
  }
  run tiny-fp32 "$cfg/qwen3_tiny.json" 48 128 fp32 20 "$peak_fp32"
  run tiny-bf16 "$cfg/qwen3_tiny.json" 48 128 bf16 20 "$peak_bf16"
  run 0.6b-bf16-seq512 "$cfg/qwen3_0.6b.json" 24 512 bf16 10 "$peak_bf16"
  run 0.6b-bf16-seq512-b48 "$cfg/qwen3_0.6b.json" 48 512 bf16 10 "$peak_bf16"
  line=$("$build/bench/gpu_step_bench" "$cfg/qwen3_0.6b.json" 24 512 bf16 10 "$peak_bf16" explicit | tail -1)
  echo "{\"row\": \"0.6b-bf16-seq512-explicit-attention\", \"gpu\": \"$gpu\", \"result\": $line}" | tee -a "$results"
  mpirun -np 1 "$build/bench/nccl_bench" 50 | sed "s/^/{\"row\": \"nccl-allreduce\", \"gpu\": \"$gpu\", \"result\": /; s/\$/}/" | tee -a "$results"
  mpirun -np 1 $py "$root/bench/reference/nccl_allreduce.py" 50 | sed "s/^/{\"row\": \"nccl-allreduce\", \"gpu\": \"$gpu\", \"result\": /; s/\$/}/" | tee -a "$results"
fi

if [[ $what == trainer || $what == all ]]; then
  # rslicer pretrain on the GPU: the 0.6B backbone (random weights; the step's cost does not depend on them) on a
  # simulated store, bf16, one rank; tokens/s and peak memory from its metrics; then the cached loss at a global
  # batch of 1,024 windows beside the direct loss at the largest batch that fits.
  store=$out/sim
  "$bin" simulate system=online_boutique duration=2h seed=1 out="$store" > "$out/simulate.log" 2>&1
  pretrain() {  # label overrides...
    local label=$1; shift
    local dir=$out/run_$label
    if "$bin" pretrain model=qwen3_0.6b trainer@train.trainer=gpu data.stores="[$store.h5]" train.sparse_embedding=false \
         train.max_steps=6 train.warmup_steps=1 train.log_every=1 checkpoint.at_end=false loader.max_tokens=256 \
         hydra.run.dir="$dir" "$@" > "$out/pretrain_$label.log" 2>&1; then
      $py - "$dir/metrics.jsonl" "$label" "$gpu" <<'PY' | tee -a "$results"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][2:]  # the first steps warm up
tokens = sum(l["tokens_per_s"] for l in lines) / len(lines)
windows = sum(l["windows_per_s"] for l in lines) / len(lines)
print(json.dumps({"row": "rslicer-pretrain-" + sys.argv[2], "gpu": sys.argv[3],
                  "result": {"tokens_per_s": tokens, "windows_per_s": windows, "steps": len(lines)}}))
PY
    else
      echo "{\"row\": \"rslicer-pretrain-$label\", \"gpu\": \"$gpu\", \"result\": {\"failed\": true}}" | tee -a "$results"
      grep -E "error|out of memory" "$out/pretrain_$label.log" | tail -3
    fi
  }
  for batch in 64 128 256 512 1024; do pretrain "direct-b$batch" train.global_batch=$batch; done
  for batch in 256 1024; do
    pretrain "cached-b$batch" train.global_batch=$batch train.cached_loss.enabled=true train.cached_loss.chunk_windows=64
  done
fi
echo "total $(( $(date +%s) - t0 )) s"
