#!/usr/bin/env bash
# Checkpoints under real mpirun (tiny model, a small simulated store): exact resume, resharding 2->3 and 4->2,
# async save, SIGTERM, export and init_from, and the faults: a rank killed during a save, a bit-flipped or truncated
# shard, a full disk (a small tmpfs; skipped with a reason where mounting is not allowed).
set -u
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
tool="/usr/bin/python3 $here/checkpoint_tool.py"
out=$(mktemp -d)
trap 'umount "$out/full" 2>/dev/null; [[ -n ${RSLICER_TEST_KEEP:-} ]] || rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpirun() { command mpirun --bind-to none "$@"; }
passes=0; fails=0
expect() { if eval "$1"; then passes=$((passes+1)); else echo "FAIL: $1"; fails=$((fails+1)); fi; }

"$bin" simulate system=online_boutique duration=30m seed=1 out="$out/ob" hydra.run.dir="$out/sim" > "$out/sim.log" 2>&1 \
  || { cat "$out/sim.log"; echo "0 passed, 1 failed"; exit 1; }
model=(model.hidden_size=32 model.num_hidden_layers=1 model.num_attention_heads=2 model.num_key_value_heads=1
       model.head_dim=16 model.intermediate_size=64 model.fusion.hidden_dim=32 model.fusion.out_dim=16)
args=("${model[@]}" train.global_batch=12 loader.max_tokens=32 train.warmup_steps=1 train.val_every=0
      data.stores="[$out/ob.h5]" train.max_steps=4)
train() { local np=$1 dir=$2; shift 2; mpirun -np "$np" "$bin" pretrain "${args[@]}" hydra.run.dir="$out/$dir" "$@" > "$out/$dir.log" 2>&1; }
losses() { /usr/bin/python3 -c "import json,sys; print(' '.join(repr(json.loads(l)['loss']) for l in open(sys.argv[1])))" "$1"; }
ck() { echo "$out/$1/checkpoints/step-00000$2"; }

# Exact resume: 4 steps straight = 2 steps, stop, resume, 2 more (same world size): losses and shards bitwise.
expect "train 2 straight"
expect "train 2 resumed train.stop_after_steps=2 && [[ -f $(ck resumed 2)/DONE && ! -e $out/resumed/final ]]"
expect "train 2 resumed train.resume=auto && grep -q 'resumed from .*step-000002' $out/resumed.log"
expect "[[ \"\$(losses $out/straight/metrics.jsonl)\" == \"\$(losses $out/resumed/metrics.jsonl)\" ]]"
expect "cmp -s $(ck straight 4)/shard-00000-of-00002.safetensors $(ck resumed 4)/shard-00000-of-00002.safetensors"
expect "cmp -s $(ck straight 4)/shard-00001-of-00002.safetensors $(ck resumed 4)/shard-00001-of-00002.safetensors"

# Async save writes the same bytes.
expect "train 2 async checkpoint.async=true checkpoint.every_steps=2"
expect "cmp -s $(ck straight 4)/shard-00001-of-00002.safetensors $(ck async 4)/shard-00001-of-00002.safetensors"
expect "cmp -s $(ck resumed 2)/shard-00000-of-00002.safetensors $(ck async 2)/shard-00000-of-00002.safetensors"

# train.epochs replaces max_steps: one pass over the sampler's batches.
expect "train 2 epoch train.epochs=1 checkpoint.at_end=false"
n=$(sed -nE 's/.*train.epochs=1 x [0-9]+ steps per epoch = ([0-9]+) steps.*/\1/p' "$out/epoch.log")
expect "[[ -n '$n' && \$(wc -l < $out/epoch/metrics.jsonl) == '$n' ]]"

# Retention: keep the newest 1 plus step 2 forever.
expect "train 2 keep train.max_steps=6 checkpoint.every_steps=2 checkpoint.keep_last=1 checkpoint.keep_steps=[2]"
expect "[[ -f $(ck keep 2)/DONE && ! -e $(ck keep 4) && -f $(ck keep 6)/DONE ]]"

# Resharding: the 2-rank checkpoint of step 2 continued on 3 ranks; a 4-rank one continued on 2 ranks.
expect "train 3 reshard3 train.resume=$(ck resumed 2) && grep -q 'saved by 2 rank' $out/reshard3.log"
expect "[[ -f $(ck reshard3 4)/shard-00002-of-00003.safetensors ]]"
d=$($tool diff "$(ck straight 4)" "$(ck reshard3 4)"); echo "2 -> 3 ranks: max |param diff| $d"
expect "/usr/bin/python3 -c 'import sys; sys.exit(0 if float(\"$d\") < 1e-5 else 1)'"
expect "train 4 four train.stop_after_steps=2"
expect "train 2 reshard2 train.resume=$(ck four 2)"
d=$($tool diff "$(ck straight 4)" "$(ck reshard2 4)"); echo "4 -> 2 ranks: max |param diff| $d"
expect "/usr/bin/python3 -c 'import sys; sys.exit(0 if float(\"$d\") < 1e-5 else 1)'"

# The fault-type term with same-type fault pairs (loader.fault_pairs) on a 3-hour store (two network-loss events):
# the pairs reach the loss (a non-zero type term at some step), and resume stays exact (the pairs are drawn by step).
"$bin" simulate system=online_boutique duration=3h seed=1 out="$out/ob3h" hydra.run.dir="$out/sim3h" > "$out/sim3h.log" 2>&1
pairs=(data.stores="[$out/ob3h.h5]" loader.fault_pairs=2 loss.lambda_type=0.5 loader.component_views=0.25)
expect "train 2 pairs_straight ${pairs[*]} && grep -q 'fault-type pairs: 2 a global batch' $out/pairs_straight.log"
expect "/usr/bin/python3 -c 'import json,sys; sys.exit(0 if any(json.loads(l)[\"type\"] > 0 for l in open(sys.argv[1])) else 1)' $out/pairs_straight/metrics.jsonl"
expect "train 2 pairs_resumed ${pairs[*]} train.stop_after_steps=2 && train 2 pairs_resumed ${pairs[*]} train.resume=auto"
expect "[[ \"\$(losses $out/pairs_straight/metrics.jsonl)\" == \"\$(losses $out/pairs_resumed/metrics.jsonl)\" ]]"

# train.balance: rank 1 made a node 8 times slower (RSLICER_FAULT=slow_rank:1:8): the split of the
# global batch moves windows to rank 0 (from the step after the first measured one; loader.prefetch=1), and 6
# steps end where the even split's do, within 1e-5 (the same global batches; sums in another order).
expect "train 2 even6 train.max_steps=6 loader.prefetch=1"
expect "RSLICER_FAULT=slow_rank:1:8 train 2 balanced train.max_steps=6 loader.prefetch=1 train.balance.enabled=true train.balance.settle_steps=1 checkpoint.every_steps=2 && grep -q 'train.balance: windows per rank' $out/balanced.log"
split=$(/usr/bin/python3 -c "import json,sys; print(' '.join('/'.join(map(str, json.loads(l)['rank_windows'])) for l in open(sys.argv[1])))" "$out/balanced/metrics.jsonl")
echo "train.balance, rank 1 slowed: windows per rank by step $split"
expect "[[ '$split' =~ ^6/6\ 6/6\ 6/6\ (1[01]|[7-9])/[1-5] ]]"
d=$($tool diff "$(ck even6 6)" "$(ck balanced 6)"); echo "train.balance vs the even split after 6 steps: max |param diff| $d"
expect "/usr/bin/python3 -c 'import sys; sys.exit(0 if float(\"$d\") < 1e-5 else 1)'"
# Resumed from step 4, the run goes on with the split its checkpoint kept (not from equal parts).
expect "RSLICER_FAULT=slow_rank:1:8 train 2 balanced_resumed train.resume=$(ck balanced 4) train.max_steps=6 loader.prefetch=1 train.balance.enabled=true train.balance.settle_steps=1"
split5() { /usr/bin/python3 -c "import json,sys; print(['/'.join(map(str, r['rank_windows'])) for r in map(json.loads, open(sys.argv[1])) if r['step'] == 5][0])" "$1"; }
s5=$(split5 "$out/balanced/metrics.jsonl"); r5=$(split5 "$out/balanced_resumed/metrics.jsonl")
echo "train.balance, step 5 straight / resumed from step 4: windows per rank $s5 / $r5"
expect "[[ '$s5' != 6/6 && '$r5' == '$s5' ]]"
# A kept split that is not what rslicer writes is refused with one line, before any training.
cp -r "$(ck balanced 4)" "$out/badsplit"
/usr/bin/python3 -c "import json,sys; p=sys.argv[1]+'/manifest.json'; m=json.load(open(p)); m['data_cursor']['splits']=[{'from_data_step': 4}]; json.dump(m, open(p, 'w'))" "$out/badsplit"
expect "! train 2 badsplit train.resume=$out/badsplit train.max_steps=6 train.balance.enabled=true && grep -q '^error: data_cursor.splits is malformed.*badsplit/manifest.json' $out/badsplit.log"

# Bit rot and truncation are refused, naming the file and the tensor.
cp -r "$(ck resumed 2)" "$out/flipped"; $tool flip "$out/flipped" 1
expect "! train 2 flip train.resume=$out/flipped && grep -q '^error: checkpoint tensor .* fails its SHA-256 check.*shard-00001-of-00002' $out/flip.log"
cp -r "$(ck resumed 2)" "$out/cut"; $tool truncate "$out/cut" 0
expect "! train 2 cut train.resume=$out/cut && grep -q '^error: checkpoint file has .* bytes.*truncated.*tensor' $out/cut.log"

# A rank killed (SIGKILL) during the save of step 4: no DONE there, step 2 still loads, resume=auto goes on from it.
expect "! RSLICER_FAULT=kill_in_save:1:4 train 2 killed train.max_steps=6 checkpoint.every_steps=2"
expect "[[ -f $(ck killed 2)/DONE && -d $(ck killed 4) && ! -f $(ck killed 4)/DONE ]]"
cp -r "$(ck killed 4)" "$out/broken"
expect "train 2 killed train.max_steps=6 checkpoint.every_steps=2 train.resume=auto && grep -q 'resumed from .*step-000002' $out/killed.log"
expect "[[ -f $(ck killed 6)/DONE && ! -d $(ck killed 4)/shard-00001-of-00002.safetensors.tmp ]]"

# A full disk: a tmpfs that holds one checkpoint but not two. The run fails with one line; step 2 stays loadable.
mkdir -p "$out/full"
if mount -t tmpfs -o size=80m tmpfs "$out/full" 2>/dev/null; then
  expect "! train 2 full checkpoint.dir=$out/full train.max_steps=6 checkpoint.every_steps=2"
  expect "grep -q '^error: checkpoint of step 4 not saved (rank .*; earlier checkpoints are intact' $out/full.log"
  expect "[[ -f $out/full/step-000002/DONE && ! -e $out/full/step-000004 ]]"
  expect "train 2 afterfull checkpoint.dir=$out/full train.max_steps=2 train.resume=auto checkpoint.at_end=false && grep -q 'resumed from' $out/afterfull.log"
  umount "$out/full"
else
  echo "SKIP full-disk case: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)"
fi

# SIGTERM (the scheduler's warning): checkpoint at the next step boundary, exit 0.
( mpirun -np 2 "$bin" pretrain "${args[@]}" train.max_steps=100000 hydra.run.dir="$out/term" > "$out/term.log" 2>&1; echo $? > "$out/term.rc" ) &
for _ in $(seq 100); do grep -q "step 3/" "$out/term.log" 2>/dev/null && break; sleep 0.2; done
pkill -TERM -f "^$bin pretrain .*hydra.run.dir=$out/term"  # the ranks, as Slurm's --signal does (not mpirun)
wait
expect "[[ \$(cat $out/term.rc) == 0 ]] && grep -q 'signal 15 received' $out/term.log"
expect "ls -d $out/term/checkpoints/step-*/DONE > /dev/null"

# Export -> release; fine-tuning from it (init_from), strict and partial key matching.
expect "$bin export ckpt=$(ck straight 4) out=$out/release hydra.run.dir=$out/export > $out/export.log 2>&1"
expect "[[ -s $out/release/model.safetensors && -s $out/release/config.json && -s $out/release/README.md ]]"
expect "grep -q 'step 4' $out/release/README.md"
expect "train 2 finetune train.init_from=$out/release train.max_steps=1 && grep -q 'init_from .*: [0-9]* loaded, 0 missing, 0 unexpected' $out/finetune.log"
expect "train 1 fromckpt train.init_from=$(ck straight 4) train.max_steps=1"
expect "! train 1 deeper train.init_from=$out/release model.num_hidden_layers=2 train.max_steps=1 && grep -q '^error: train.init_from does not match' $out/deeper.log"
expect "train 1 partial train.init_from=$out/release model.num_hidden_layers=2 train.init_strict=false train.max_steps=1 && grep -q 'missing model.layers.1' $out/partial.log"
expect "! $bin export ckpt=$out/broken out=$out/bad hydra.run.dir=$out/export2 > $out/export2.log 2>&1 && grep -q '^error: checkpoint is incomplete' $out/export2.log"

echo "$passes passed, $fails failed"
((fails == 0))
