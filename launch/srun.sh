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
# Slurm 22.05's srun exits 0 when the step fails to launch ("task 0 launch failed"), which would let a dependent
# job start without its input or make pretrain.sbatch requeue itself; its message is the only sign, so srun's
# stderr is kept (and shown as it comes) and that message is turned into an exit status here.
errors=$(mktemp); trap 'rm -f "$errors"' EXIT
set +e  # stdout goes straight through (fd 3); stderr through tee
{ srun --mpi=pmix --cpu-bind=cores --kill-on-bad-exit=1 "$here/rank_env.sh" "$@" 2>&1 >&3 3>&- | tee "$errors" >&2 3>&-
  status=${PIPESTATUS[0]}; } 3>&1
set -e
if ((status == 0)) && grep -qE 'launch failed|aborted before step completely launched' "$errors"; then
  echo "error: the job step did not launch, launch/srun.sh in job $SLURM_JOB_ID, srun's messages above (slurmd log on the node)" >&2
  exit 1
fi
exit "$status"
