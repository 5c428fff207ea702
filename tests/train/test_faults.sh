#!/usr/bin/env bash
# Fault injection under real mpirun (the hooks are RSLICER_FAULT values read by rslicer pretrain, see
# src/train/trainer.h): a rank killed mid-step, a rank that hangs (the watchdog), a NaN loss (skip / stop), and
# bad stores (unreadable, another schema version) refused before any work. Prints a line per case for the README.
set -u
bin=$1
out=$(mktemp -d); trap '[[ -n ${RSLICER_TEST_KEEP:-} ]] || rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
passes=0; fails=0
expect() { if eval "$1"; then passes=$((passes+1)); else echo "FAIL: $1"; fails=$((fails+1)); fi; }
"$bin" simulate system=online_boutique duration=30m seed=1 out="$out/ob" hydra.run.dir="$out/sim" > "$out/sim.log" 2>&1
args=(model.hidden_size=32 model.num_hidden_layers=1 model.num_attention_heads=2 model.num_key_value_heads=1
      model.head_dim=16 model.intermediate_size=64 model.fusion.hidden_dim=32 model.fusion.out_dim=16
      train.global_batch=12 loader.max_tokens=32 train.warmup_steps=1 train.val_every=0 train.max_steps=6
      data.stores="[$out/ob.h5]" dist.timeout_s=5 checkpoint.every_steps=2)
train() { local dir=$1; shift; timeout 120 mpirun -np 2 --bind-to none "$bin" pretrain "${args[@]}" hydra.run.dir="$out/$dir" "$@" > "$out/$dir.log" 2>&1; }

# A rank killed (SIGKILL) mid-step: the job ends non-zero, mpirun names the lost rank; the step-2 checkpoint stays.
t0=$(date +%s); RSLICER_FAULT=kill_in_step:1:3 train kill; rc=$?; t=$(( $(date +%s) - t0 ))
expect "[[ $rc != 0 && $rc != 124 ]] && grep -qE 'rank 1 .*(exited|killed)|process rank 1' $out/kill.log"
expect "[[ -f $out/kill/checkpoints/step-000002/DONE && ! -e $out/kill/checkpoints/step-000004 ]]"
echo "rank killed mid-step: exit $rc after ${t}s"

# A rank that hangs: the other's watchdog (dist.timeout_s=5) aborts the job, naming the operation and its rank.
t0=$(date +%s); RSLICER_FAULT=hang_in_step:1:3 train hang; rc=$?; t=$(( $(date +%s) - t0 ))
expect "[[ $rc != 0 && $rc != 124 ]] && grep -q '^error: collective .* did not finish within 5 s, rank 0 of 2' $out/hang.log"
echo "rank hung mid-step: exit $rc after ${t}s: $(grep -m1 'did not finish' $out/hang.log | cut -c1-120)"

# NaN loss at step 3: skipped (no update, run goes on), or the run stops with one line and no checkpoint of it.
expect "RSLICER_FAULT=nan_loss:3 train nanskip && grep -q 'skipping the update of step 3' $out/nanskip.log"
expect "/usr/bin/python3 -c \"import json,sys; l=[json.loads(x) for x in open('$out/nanskip/metrics.jsonl')]; sys.exit(0 if [x['skipped'] for x in l]==[False,False,True,False,False,False] else 1)\""
expect "! RSLICER_FAULT=nan_loss:3 train nanstop train.nonfinite=stop && grep -q '^error: non-finite loss nan' $out/nanstop.log"
expect "[[ -f $out/nanstop/checkpoints/step-000002/DONE && ! -e $out/nanstop/checkpoints/step-000004 ]]"
expect "! RSLICER_FAULT=nan_loss:3 train nanmany train.max_consecutive_skips=0 && grep -q '^error: non-finite loss or gradient for 1 consecutive' $out/nanmany.log"

# Bad stores: refused with one line before any training.
echo "not hdf5" > "$out/bad.h5"; chmod 000 "$out/ob.h5.copy" 2> /dev/null
expect "! train badstore data.stores=[$out/bad.h5] && grep -q '^error: .*bad.h5' $out/badstore.log && ! grep -q 'step 1/' $out/badstore.log"
expect "! train nostore data.stores=[$out/missing.h5] && grep -q '^error: .*missing.h5' $out/nostore.log"
cp "$out/ob.h5" "$out/v2.h5"
/usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f.attrs['schema_version']=2; f.close()" "$out/v2.h5"
expect "! train v2 data.stores=[$out/v2.h5] && grep -q '^error: .*schema.*v2.h5' $out/v2.log"

echo "$passes passed, $fails failed"
((fails == 0))
