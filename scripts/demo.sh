#!/usr/bin/env bash
# `make demo`: the main job end to end on the built-in simulator, 2 MPI ranks:
#   simulate Online Boutique + Train-Ticket (workload regimes, faults) -> ingest (Train-Ticket through the Nezha
#   reader) -> pre-train the tiny model on 2 ranks with the global-batch losses (sharded checkpoints) -> export the
#   last checkpoint as a release -> embed (trained and
#   untrained baseline) -> cluster -> tune on Online Boutique -> evaluate on Train-Ticket (held-out system) and on
#   Online Boutique's later period (held-out period) -> results tables, report and plots.
# DEMO_SCALE=small shortens everything (used by the end-to-end test).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/bin/rslicer"
out=${DEMO_OUT:-$root/demo-out}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpirun=(mpirun -np 2 --bind-to none)

duration=3h; steps=150; tokens=96; batch=16; stride=30
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
step "4/9 pre-train the tiny Qwen3 state encoder on 2 MPI ranks ($steps steps, global batch $batch)"
run "${mpirun[@]}" "$bin" pretrain data.stores="$stores" train.max_steps=$steps train.global_batch=$batch \
  train.warmup_steps=$(( steps / 10 + 1 )) train.val_every=$(( steps > 50 ? 50 : steps )) loader.max_tokens=$tokens \
  checkpoint.every_steps=$(( steps > 50 ? 50 : steps )) checkpoint.keep_last=2
pretrain_run="$out/runs/$n"
step "4b/9 export the last checkpoint as a release (HF-style safetensors, config.json, tokenizer, model card)"
run "$bin" export ckpt="$(ls -d "$pretrain_run"/checkpoints/step-* | tail -1)" out="$out/release"
release="$out/release"

step "5/9 embed both systems with the trained model and with the untrained backbone (baseline), 2 ranks"
for which in trained baseline; do
  extra=(); [[ $which == trained ]] && extra=(embed.release="$release")
  run "${mpirun[@]}" "$bin" embed data.stores="$stores" "${extra[@]}" embed.max_tokens=$tokens \
    embed.batch_size=32 embed.components.normal_stride=$stride out="$out/embeddings_$which.h5"
done

for split in system time; do
  if [[ $split == system ]]; then
    sel=(split=system split.test_systems=[train_ticket]); label="held-out system: tune on Online Boutique, test on Train-Ticket"
  else
    sel=(split=time split.train_fraction=0.6); label="held-out period: the first 60% of each store tunes, the rest tests"
  fi
  step "6-8/9 [$split] cluster states, tune per-state AD/FL/FC models ($label)"
  for which in trained baseline; do
    run "$bin" cluster "${sel[@]}" embeddings="$out/embeddings_$which.h5" out="$out/clusters_${which}_$split.json"
    run "$bin" tune "${sel[@]}" embeddings="$out/embeddings_$which.h5" clusters="$out/clusters_${which}_$split.json" \
      out="$out/models_${which}_$split.json"
  done
  step "9/9 [$split] evaluate: trained beside the untrained baseline ($label)"
  "$bin" evaluate "${sel[@]}" embeddings="$out/embeddings_trained.h5" clusters="$out/clusters_trained_$split.json" \
    models="$out/models_trained_$split.json" baseline.embeddings="$out/embeddings_baseline.h5" \
    baseline.clusters="$out/clusters_baseline_$split.json" baseline.models="$out/models_baseline_$split.json" \
    hydra.run.dir="$out/report_$split"
done

cat <<MSG

Demo done in $(( $(date +%s) - started ))s. Everything is in $out:
  stores            $out/online_boutique.h5, $out/train_ticket.h5
  checkpoints       $pretrain_run/checkpoints (sharded, resumable: train.resume=auto)
  release           $release (model.safetensors, config.json, tokenizer, README.md)
  reports           $out/report_system/report.md (held-out system), $out/report_time/report.md (held-out period)
  plots             $out/report_*/tsne_states.png, $out/report_*/confusion.png
  training metrics  $out/runs/4/metrics.jsonl
MSG
