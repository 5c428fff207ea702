#!/usr/bin/env bash
# The launch and Slurm scripts on a real Slurm (munge + slurmctld + slurmd on this machine, tests/slurm/slurm_cluster.sh):
# a 2-rank pre-training batch job, a sweep through the Slurm launcher (job array + collector), the post-training
# chain as dependent jobs, preemption (USR1 -> checkpoint -> requeue -> resume), and a step that fails to launch.
# Skips (exit 77) with a reason when a local Slurm cannot run here (not root, packages missing).
set -u
bin=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/slurm/slurm_cluster.sh"
out=$(mktemp -d)
trap 'slurm_stop > /dev/null 2>&1; [[ -n ${RSLICER_TEST_KEEP:-} ]] || rm -rf "$out"' EXIT
chmod 755 "$out"  # munged runs as the munge user and must reach its socket below
slurm_start "$out/slurm" || exit 77
export RSLICER_ROOT=$root RSLICER=$bin
passes=0; fails=0
expect() { if eval "$1"; then passes=$((passes+1)); else echo "FAIL: $1"; fails=$((fails+1)); fi; }

"$bin" simulate system=online_boutique duration=30m seed=1 out="$out/ob" hydra.run.dir="$out/sim" > "$out/sim.log" 2>&1
model=(model.hidden_size=32 model.num_hidden_layers=1 model.num_attention_heads=2 model.num_key_value_heads=1
       model.head_dim=16 model.intermediate_size=64 model.fusion.hidden_dim=32 model.fusion.out_dim=16)
args=("${model[@]}" train.global_batch=12 loader.max_tokens=32 train.warmup_steps=1 train.val_every=0
      data.stores="[$out/ob.h5]" checkpoint.keep_last=1)
cd "$out"

# 1. The pre-training batch script, 2 ranks through srun --mpi=pmix.
job=$(sbatch --parsable --ntasks-per-node=2 -o "$out/pretrain-%j.out" "$root/slurm/pretrain.sbatch" "${args[@]}" train.max_steps=4)
expect "[[ \$(slurm_wait $job 180) == JobState=COMPLETED ]]"
expect "[[ -s $out/runs/rslicer-pretrain/$job/final/model.safetensors ]]"
expect "[[ \$(grep -c '^launch: host .* rank [01] local rank [01] device cpu threads 1' $out/pretrain-$job.out) == 2 ]]"
release=$out/runs/rslicer-pretrain/$job/final

# 2. A sweep through the Slurm launcher: a job array of 2 + the collector after it.
array=$("$bin" pretrain -m "${args[@]}" train.max_steps=2 train.lr=1e-3,2e-3 hydra.launcher.name=slurm \
        hydra.sweep.dir="$out/sweep" 2> "$out/sweep.log" | tail -1)
expect "[[ -n '$array' ]] && grep -q 'submitted 2 job(s) as Slurm array' $out/sweep.log"
for _ in $(seq 180); do [[ -s $out/sweep/results.md ]] && break; sleep 1; done
expect "[[ \$(grep -c '| ${array}_[01] | .*train.lr=.*| True |' $out/sweep/results.md) == 2 ]]"
expect "[[ -s $out/sweep/${array}_0/final/config.json && -s $out/sweep/${array}_1/final/config.json ]]"

# 3. The post-training chain embed -> cluster -> tune -> evaluate as dependent jobs.
chain=$(EMBED_ARGS="embed.max_tokens=32 embed.intra_op_threads=1" "$root/slurm/post_training.sh" "$release" "[$out/ob.h5]" "$out/post" split=time 2> "$out/chain.log" | tail -1)
expect "[[ -n '$chain' && \$(slurm_wait $chain 300) == JobState=COMPLETED ]]"
expect "[[ -s $out/post/report/report.json && -s $out/post/embeddings.h5 ]]"

# 4. Preemption: USR1 to the ranks (what --signal does before the time limit) -> checkpoint, exit 0 -> the script
#    requeues the job -> it resumes from the checkpoint and finishes.
job=$(sbatch --parsable --ntasks-per-node=2 -o "$out/preempt-%j.out" "$root/slurm/pretrain.sbatch" "${args[@]}" train.max_steps=2000)
run=$out/runs/rslicer-pretrain/$job
for _ in $(seq 600); do [[ -f $run/metrics.jsonl && $(wc -l < "$run/metrics.jsonl") -ge 3 ]] && break; sleep 0.2; done
scancel --signal=USR1 "$job"
# Slurm holds a requeued job until its old credential has expired (BeginTime; cred_expire=10 s in this cluster's
# AuthInfo, 120 s by default). Releasing it earlier by hand makes slurmd refuse it ("Job credential revoked"), so
# the test waits like a cluster does.
expect "[[ \$(slurm_wait $job 300) == JobState=COMPLETED ]]"
expect "grep -q 'signal 10 received' $out/preempt-$job.out && grep -q 'requeueing job $job' $out/preempt-$job.out"
expect "grep -q 'restart 1' $out/preempt-$job.out && grep -q 'resumed from .*checkpoints/step-' $out/preempt-$job.out"
expect "[[ -s $run/final/model.safetensors ]]"

# 5. A step that cannot launch (here: the PMIx directory of its step id is already there, as a stale one in /tmp
#    once made a CI run fail) fails its job with a clear line; srun alone exits 0 then and the chain would go on.
job=$(sbatch --parsable --hold -o "$out/nolaunch-%j.out" "$root/slurm/step.sbatch" evaluate embeddings="$out/post/embeddings.h5")
mkdir -p "$out/slurm/tmp/spmix_appdir_$(id -u)_$job.0"
scontrol release "$job"
expect "[[ \$(slurm_wait $job 120) == JobState=FAILED ]]"
expect "grep -q 'error: the job step did not launch' $out/nolaunch-$job.out"

if ((fails)); then  # what happened, for CI logs
  for f in "$out"/*.out "$out"/post/*.out; do [[ -f $f ]] && { echo "--- $f"; grep -vE 'step [0-9]+/' "$f" | tail -15; }; done
  echo "--- slurmctld"; grep -E "JobId=|error" "$out/slurm/log/slurmctld.log" | tail -25
  echo "--- slurmd"; grep -E "error|launch task" "$out/slurm/log/slurmd.log" | grep -v rmdir_recursive | tail -25
fi
echo "$passes passed, $fails failed"
((fails == 0))
