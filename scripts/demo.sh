#!/usr/bin/env bash
# `make demo`: the main job end to end on the built-in simulator, 2 MPI ranks:
#   simulate Online Boutique + Train-Ticket (workload regimes, faults) -> ingest (Train-Ticket through the Nezha
#   reader) -> per evaluation split, pre-train the tiny model on 2 ranks on that split's training side (global-batch
#   losses, sharded checkpoints) and export it as a release -> embed (trained and untrained baseline) -> cluster ->
#   tune -> evaluate on Train-Ticket (held-out system, tuned on Online Boutique) and on each store's later period
#   (held-out period) -> results tables, report and plots.
# DEMO_SCALE=small shortens everything (used by the end-to-end test); DEMO_DURATION sets the simulated span;
# DEMO_PRETRAIN_ARGS adds pre-training overrides
# (a recipe variant, e.g. "loss.lambda_modal=0.5"), DEMO_EMBED_ARGS embedding overrides (a serializer variant must be
# given to both: "loader.serializer.caller_wait=true" and "embed.serializer.caller_wait=true").
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/bin/rslicer"
out=${DEMO_OUT:-$root/demo-out}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpirun=(mpirun -np 2 --bind-to none)

# 12 simulated hours: about 28 faults a store, so that each of the 8 fault types has several events on each side of
# a split (at 3 hours the held-out period had 5 events and one tuning event a type: FC and FL figures were noise).
# 300 steps of 16 windows, about three passes over the tuning side: the held-out period's FL pod Top-1 was 82-85 in
# three seeds (60-81 at 150 steps; bench/quality/steps-label-free-2026-12-07.md).
duration=${DEMO_DURATION:-12h}; steps=300; tokens=96; batch=16; stride=30
if [[ ${DEMO_SCALE:-} == small ]]; then duration=40m; steps=3; tokens=48; batch=8; stride=60; fi

rm -rf "$out"; mkdir -p "$out"
cd "$out"
started=$(date +%s)
step() { printf '\n== [%ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }
run() { "$@" hydra.run.dir="$out/runs/$(( ++n ))"; }
n=0

step "1/9 simulate Online Boutique ($duration, workload regimes + faults) into a window store"
run "$bin" simulate system=online_boutique duration=$duration seed=1 out="$out/online_boutique"

step "2/9 simulate Train-Ticket ($duration) as raw files in Nezha's layout"
run "$bin" simulate system=train_ticket duration=$duration seed=2 format=nezha out="$out/train_ticket_raw"

step "3/9 ingest Train-Ticket through the Nezha reader (the path real data takes)"
run "$bin" ingest data=nezha data.path="$out/train_ticket_raw" out="$out/train_ticket.h5"

stores="[$out/online_boutique.h5,$out/train_ticket.h5]"
# Each evaluation split gets its own pre-training on that split's training side only (split=...), so that neither
# the test windows nor their labels (the anomaly loss reads labels) reach the model it evaluates.
split_args() {
  if [[ $1 == system ]]; then echo "split=system split.test_systems=[train_ticket]"; else echo "split=time split.train_fraction=0.6"; fi
}
split_label() {
  if [[ $1 == system ]]; then echo "held-out system: tune on Online Boutique, test on Train-Ticket"
  else echo "held-out period: the first 60% of each store tunes, the rest tests"; fi
}
for split in time system; do
  step "4/9 [$split] pre-train the tiny Qwen3 state encoder on 2 MPI ranks ($steps steps, global batch $batch) on the training side of: $(split_label $split)"
  "${mpirun[@]}" "$bin" pretrain data.stores="$stores" $(split_args $split) train.max_steps=$steps train.global_batch=$batch \
    train.warmup_steps=$(( steps / 10 + 1 )) train.val_every=$(( steps > 50 ? 50 : steps )) loader.max_tokens=$tokens \
    checkpoint.every_steps=$(( steps > 50 ? 50 : steps )) checkpoint.keep_last=2 ${DEMO_PRETRAIN_ARGS:-} \
    hydra.run.dir="$out/runs/pretrain_$split"
  step "4b/9 [$split] export the last checkpoint as a release (HF-style safetensors, config.json, tokenizer, model card)"
  run "$bin" export ckpt="$(ls -d "$out/runs/pretrain_$split"/checkpoints/step-* | tail -1)" out="$out/release_$split"
done

step "5/9 embed both systems with each trained model and with the untrained backbone (baseline), 2 ranks"
# Per split: a metric's z in the texts is against the normal windows of the split's tuning side (the labels tune
# reads), so the embeddings are made with the split they are evaluated with.
embed() {
  run "${mpirun[@]}" "$bin" embed data.stores="$stores" "$@" embed.max_tokens=$tokens \
    embed.batch_size=32 embed.components.normal_stride=$stride ${DEMO_EMBED_ARGS:-}
}
for split in time system; do
  embed $(split_args $split) embed.release="$out/release_$split" out="$out/embeddings_trained_$split.h5"
  # The untrained backbone reads the same texts under both splits unless a metric's z reads the tuning side's labels
  # (serializer.metric_baseline=tuning_normal): then one embedding serves both (the files are identical).
  if [[ $split == system && ${DEMO_EMBED_ARGS:-} != *tuning_normal* ]]; then
    cp "$out/embeddings_baseline_time.h5" "$out/embeddings_baseline_system.h5"
  else
    embed $(split_args $split) out="$out/embeddings_baseline_$split.h5"
  fi
done

for split in system time; do
  sel=($(split_args $split)); label=$(split_label $split)
  step "6-8/9 [$split] cluster states, tune per-state AD/FL/FC models ($label)"
  for which in trained baseline; do
    emb="$out/embeddings_${which}_$split.h5"
    run "$bin" cluster "${sel[@]}" embeddings="$emb" out="$out/clusters_${which}_$split.json"
    run "$bin" tune "${sel[@]}" embeddings="$emb" clusters="$out/clusters_${which}_$split.json" \
      out="$out/models_${which}_$split.json"
  done
  step "9/9 [$split] evaluate: trained beside the untrained baseline ($label)"
  "$bin" evaluate "${sel[@]}" embeddings="$out/embeddings_trained_$split.h5" clusters="$out/clusters_trained_$split.json" \
    models="$out/models_trained_$split.json" baseline.embeddings="$out/embeddings_baseline_$split.h5" \
    baseline.clusters="$out/clusters_baseline_$split.json" baseline.models="$out/models_baseline_$split.json" \
    hydra.run.dir="$out/report_$split"
done

cat <<MSG

Demo done in $(( $(date +%s) - started ))s. Everything is in $out:
  stores            $out/online_boutique.h5, $out/train_ticket.h5
  checkpoints       $out/runs/pretrain_{time,system}/checkpoints (sharded, resumable: train.resume=auto)
  releases          $out/release_{time,system} (model.safetensors, config.json, tokenizer, README.md)
  reports           $out/report_system/report.md (held-out system), $out/report_time/report.md (held-out period)
  plots             $out/report_*/tsne_states.png, $out/report_*/confusion.png
  training metrics  $out/runs/pretrain_{time,system}/metrics.jsonl
MSG
