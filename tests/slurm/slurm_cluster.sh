#!/usr/bin/env bash
# A one-machine Slurm cluster for the tests, from Debian's slurm-wlm and munge:
#   source slurm_cluster.sh; slurm_start <dir>   -> exports SLURM_CONF; returns 1 (with a reason) if impossible
#   slurm_stop                                    -> stops every daemon it started, by pid file
# Needs root (munged runs as the munge user, slurmd as root).
slurm_start() {
  local dir=$1 host; host=$(hostname -s)
  SLURM_TEST_DIR=$dir
  if [[ $(id -u) != 0 ]]; then echo "SKIP: a local Slurm needs root"; return 1; fi
  for b in munged slurmctld slurmd sbatch srun; do
    command -v "$b" > /dev/null || { echo "SKIP: $b not installed (Debian packages slurm-wlm munge)"; return 1; }
  done
  mkdir -p "$dir"/{state,spool,log,run,tmp} /run/munge /etc/munge
  chown munge:munge /run/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
  # Our own munged on our own socket, so a system one (if any) is left alone.
  local socket=$dir/munge/munge.socket
  mkdir -p "$dir/munge"; chown munge:munge "$dir/munge"; chmod 755 "$dir" "$dir/run"
  su -s /bin/sh munge -c "munged --socket=$socket --pid-file=$dir/munge/munged.pid --log-file=$dir/munge/munged.log --seed-file=$dir/munge/munged.seed" \
    || { echo "SKIP: munged would not start"; return 1; }
  # TmpFS is ours: job ids start at 1 in every fresh cluster, and the PMIx plugin makes a per-step directory
  # (spmix_appdir_<uid>_<job>.<step>) under it that it does not always remove; one left in /tmp by an earlier run
  # made a later step with the same id fail to launch ("File exists").
  cat > "$dir/slurm.conf" <<CONF
ClusterName=rslicer-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
TmpFS=$dir/tmp
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
JobRequeue=1
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
MinJobAge=600
KillWait=5
NodeName=$host CPUs=$(nproc) RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES OverSubscribe=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -f "$SLURM_CONF" || { echo "SKIP: slurmctld would not start ($(tail -2 "$dir/log/slurmctld.log"))"; slurm_stop; return 1; }
  slurmd -f "$SLURM_CONF" || { echo "SKIP: slurmd would not start"; slurm_stop; return 1; }
  for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -qE "^idle" && return 0
    sleep 0.5
  done
  echo "SKIP: the Slurm node did not come up: $(sinfo 2>&1 | tail -1)"; slurm_stop; return 1
}

slurm_stop() {
  local dir=${SLURM_TEST_DIR:?}
  local pids=("$dir/run/slurmd.pid" "$dir/run/slurmctld.pid" "$dir/munge/munged.pid")
  for f in "${pids[@]}"; do [[ -s $f ]] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 1
  for f in "${pids[@]}"; do [[ -s $f ]] && kill -9 "$(cat "$f")" 2>/dev/null; done
  return 0
}

# Waits until job $1 reaches a final state (up to $2 seconds) and prints it (JobState=...). A requeued job passes
# through PENDING again, so the state is read from scontrol, not from the job leaving the queue.
slurm_wait() {
  local job=$1 limit=${2:-300} t=0 state
  while :; do
    state=$(scontrol show job "$job" 2>/dev/null | grep -oE "JobState=[A-Z_]+" | head -1)
    case $state in
      JobState=COMPLETED|JobState=FAILED|JobState=CANCELLED|JobState=TIMEOUT|JobState=NODE_FAIL|JobState=OUT_OF_MEMORY|JobState=BOOT_FAIL|JobState=DEADLINE)
        echo "$state"; return 0 ;;
    esac
    sleep 1; t=$((t + 1)); ((t < limit)) || { echo "TIMEOUT ($state)"; return 1; }
  done
}
