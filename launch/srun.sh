#!/usr/bin/env bash
# srun inside an allocation (sbatch/salloc): one task per rank through PMIx (Open MPI picks up the ranks), cores
# bound per task, the GPU from the local rank, a layout line per rank.
# usage: launch/srun.sh PROGRAM ARGS...   (threads per rank: SLURM_CPUS_PER_TASK, i.e. sbatch --cpus-per-task)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ -n ${SLURM_JOB_ID:-} ]] || { echo "error: not inside a Slurm allocation, launch/srun.sh, run it from sbatch or salloc" >&2; exit 2; }
(($#)) || { echo "error: no program, launch/srun.sh, PROGRAM ARGS..." >&2; exit 2; }
export RSLICER_THREADS=${SLURM_CPUS_PER_TASK:-1}
if [[ $(id -u) == 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
exec srun --mpi=pmix --cpu-bind=cores --kill-on-bad-exit=1 "$here/rank_env.sh" "$@"
