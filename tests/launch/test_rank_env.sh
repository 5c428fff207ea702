#!/usr/bin/env bash
# launch/rank_env.sh, the per-rank set-up of launch/mpirun.sh and launch/srun.sh: one GPU a rank (local rank mod the
# node's GPUs) with NCCL's error handling on, and the CPU left alone where the node has no GPU.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
fails=0
expect() {  # expect NAME REGEX -- env assignments...
  local name=$1 re=$2; shift 3
  local got
  got=$(env -u CUDA_VISIBLE_DEVICES -u NCCL_ASYNC_ERROR_HANDLING RSLICER_QUIET_LAYOUT=1 "$@" \
        bash "$root/launch/rank_env.sh" bash -c 'echo "gpu=${CUDA_VISIBLE_DEVICES:-none} nccl=${NCCL_ASYNC_ERROR_HANDLING:-unset} threads=$OMP_NUM_THREADS"')
  if [[ $got =~ $re ]]; then echo "ok $name: $got"; else echo "FAIL $name: '$got' does not match '$re'"; fails=$((fails + 1)); fi
}
expect rank3_of_4_gpus "^gpu=3 nccl=1 threads=2$" -- OMPI_COMM_WORLD_LOCAL_RANK=3 RSLICER_GPUS_PER_NODE=4 RSLICER_THREADS=2
expect rank5_of_4_gpus "^gpu=1 nccl=1" -- OMPI_COMM_WORLD_LOCAL_RANK=5 RSLICER_GPUS_PER_NODE=4
expect slurm_local_id "^gpu=2 nccl=1" -- SLURM_LOCALID=2 RSLICER_GPUS_PER_NODE=8
expect no_gpu "^gpu=none nccl=unset threads=1$" -- OMPI_COMM_WORLD_LOCAL_RANK=1 RSLICER_GPUS_PER_NODE=0
((fails == 0))
