#!/usr/bin/env bash
# On a machine with a CUDA GPU and PyTorch (the device machine): builds bench/gpu (model library, test_model,
# test_nccl, benchmarks) against PyTorch's LibTorch, runs the tests with the CUDA ones live, then the GPU
# benchmarks beside their references (HF transformers training step; torch.distributed all-reduce).
# Results: JSON lines in ${OUT:-bench/gpu/out}/gpu_results.jsonl, the log beside it.
#   bench/gpu/run.sh [tests|bench|all]   (DEPS_PREFIX: unpacked Debian nlohmann-json/fmt/gtest,
#   default .gpu-deps, made by bench/gpu/fetch_deps.sh on a Debian machine)
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
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "GPU: $gpu | torch $($py -c 'import torch; print(torch.__version__)') | NCCL at $nccl_dir"
# Dense peak of the GPU (NVIDIA data sheets): bf16 tensor cores and fp32 without TF32 (LibTorch's default).
case "$gpu" in
  *H100*|*H200*) peak_bf16=989; peak_fp32=67 ;;
  *A100*) peak_bf16=312; peak_fp32=19.5 ;;
  *) peak_bf16=${PEAK_BF16_TFLOPS:?unknown GPU: set PEAK_BF16_TFLOPS and PEAK_FP32_TFLOPS}; peak_fp32=${PEAK_FP32_TFLOPS:?} ;;
esac
build=${BUILD_DIR:-/tmp/rslicer-gpu-build}
t0=$(date +%s)
cmake -S "$root/bench/gpu" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTORCH_DIR="$torch_dir" \
  -DTORCH_CXX11_ABI="$abi" -DNCCL_DIR="$nccl_dir" -DDEPS_PREFIX="${DEPS_PREFIX:-$root/.gpu-deps}" > "$out/configure.log"
cmake --build "$build" -j "$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"

if [[ $what == tests || $what == all ]]; then
  model_status=0; "$build/test_model" > "$out/test_model.log" 2>&1 || model_status=$?
  grep -E "parity|autocast|fused|PASSED|FAILED|SKIPPED|tests ran" "$out/test_model.log" || true
  ((model_status == 0)) && echo "test_model: all passed" || { echo "test_model FAILED"; tail -30 "$out/test_model.log"; }
  mpirun -np 1 "$build/test_nccl" 2>&1 | tail -4
fi

if [[ $what == bench || $what == all ]]; then
  cfg=$root/bench/gpu
  run() {  # label config batch seq precision steps peak
    local label=$1; shift
    for impl in ours hf; do
      if [[ $impl == ours ]]; then line=$("$build/gpu_step_bench" "$@" | tail -1)
      else line=$($py "$root/bench/reference/hf_train_step.py" "$@" 2>/dev/null | tail -1); fi
      echo "{\"row\": \"$label\", \"gpu\": \"$gpu\", \"result\": $line}" | tee -a "$results"
    done
  }
  run tiny-fp32 "$cfg/qwen3_tiny.json" 48 128 fp32 20 "$peak_fp32"
  run tiny-bf16 "$cfg/qwen3_tiny.json" 48 128 bf16 20 "$peak_bf16"
  run 0.6b-bf16-seq512 "$cfg/qwen3_0.6b.json" 24 512 bf16 10 "$peak_bf16"
  run 0.6b-bf16-seq512-b48 "$cfg/qwen3_0.6b.json" 48 512 bf16 10 "$peak_bf16"
  line=$("$build/gpu_step_bench" "$cfg/qwen3_0.6b.json" 24 512 bf16 10 "$peak_bf16" explicit | tail -1)
  echo "{\"row\": \"0.6b-bf16-seq512-explicit-attention\", \"gpu\": \"$gpu\", \"result\": $line}" | tee -a "$results"
  mpirun -np 1 "$build/nccl_bench" 50 | sed "s/^/{\"row\": \"nccl-allreduce\", \"gpu\": \"$gpu\", \"result\": /; s/\$/}/" | tee -a "$results"
  mpirun -np 1 $py "$root/bench/reference/nccl_allreduce.py" 50 | sed "s/^/{\"row\": \"nccl-allreduce\", \"gpu\": \"$gpu\", \"result\": /; s/\$/}/" | tee -a "$results"
fi
echo "total $(( $(date +%s) - t0 )) s"
