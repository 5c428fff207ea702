#!/usr/bin/env bash
# Per-rank set-up, run by launch/mpirun.sh and launch/srun.sh in front of the program: the local rank (Open MPI,
# Slurm or PMIx), the GPU = the local rank when the node has GPUs, intra-op threads, then one layout line and exec.
set -euo pipefail
rank=${OMPI_COMM_WORLD_RANK:-${SLURM_PROCID:-${PMIX_RANK:-0}}}
local_rank=${OMPI_COMM_WORLD_LOCAL_RANK:-${SLURM_LOCALID:-0}}
threads=${RSLICER_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
device=cpu
gpus=${RSLICER_GPUS_PER_NODE:-$( (command -v nvidia-smi > /dev/null && nvidia-smi -L 2> /dev/null | wc -l) || echo 0)}
if ((gpus > 0)); then
  export CUDA_VISIBLE_DEVICES=$((local_rank % gpus))
  device="cuda:0 (physical GPU $CUDA_VISIBLE_DEVICES)"
  # NCCL: report errors rather than hang, and let the watchdog name the rank.
  export NCCL_ASYNC_ERROR_HANDLING=${NCCL_ASYNC_ERROR_HANDLING:-1} NCCL_DEBUG=${NCCL_DEBUG:-WARN}
fi
cpus=$( (taskset -pc $$ 2> /dev/null || echo ": ?") | sed 's/.*: //')
[[ -n ${RSLICER_QUIET_LAYOUT:-} ]] || echo "launch: host $(hostname -s) rank $rank local rank $local_rank device $device threads $threads cpus $cpus" >&2
exec "$@"
