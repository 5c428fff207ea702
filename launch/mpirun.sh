#!/usr/bin/env bash
# mpirun with the settings that matter for training, and a layout line per rank.
# usage: launch/mpirun.sh [-n RANKS] [-t THREADS_PER_RANK] [--hostfile FILE] [--gpus-per-node G] -- PROGRAM ARGS...
#   ranks are bound to THREADS_PER_RANK cores each when the node has enough cores, else not bound (oversubscribed);
#   OMP_NUM_THREADS = THREADS_PER_RANK; GPU = local rank; NCCL/UCX variables passed to every rank.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ranks=2 threads=1 hostfile="" gpus=""
while (($#)); do
  case $1 in
    -n) ranks=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    --hostfile) hostfile=$2; shift 2 ;;
    --gpus-per-node) gpus=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "error: unknown option '$1', launch/mpirun.sh, -n/-t/--hostfile/--gpus-per-node then -- PROGRAM" >&2; exit 2 ;;
  esac
done
(($#)) || { echo "error: no program, launch/mpirun.sh, -- PROGRAM ARGS..." >&2; exit 2; }
args=(-np "$ranks")
[[ -n $hostfile ]] && args+=(--hostfile "$hostfile")
if [[ -z $hostfile ]] && ((ranks * threads > $(nproc))); then
  args+=(--oversubscribe --bind-to none)
else
  args+=(--map-by "slot:PE=$threads" --bind-to core)
fi
if [[ $(id -u) == 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export RSLICER_THREADS=$threads
[[ -n $gpus ]] && export RSLICER_GPUS_PER_NODE=$gpus
for v in RSLICER_THREADS RSLICER_GPUS_PER_NODE RSLICER_QUIET_LAYOUT NCCL_DEBUG NCCL_SOCKET_IFNAME NCCL_IB_DISABLE \
         NCCL_ASYNC_ERROR_HANDLING UCX_TLS UCX_NET_DEVICES RSLICER_SHARED_DATA RSLICER_DATA; do
  [[ -n ${!v:-} ]] && args+=(-x "$v")
done
exec mpirun "${args[@]}" "$here/rank_env.sh" "$@"
