#!/usr/bin/env bash
# The Nezha experiment on real data (../shared/data): ingest one system's date, pre-train on it (2 ranks), embed with
# the trained model and the untrained backbone, then cluster, tune on the earlier faults and evaluate on the later
# ones (split=fault_time). usage: scripts/experiment_nezha.sh [tt|ob] [build dir] [date]
# The date (default the shipped 2023-01-30 for tt, 2022-08-22 for ob) comes from nezha-<system>-<date>.tar.zst in
# ../shared/data/nezha (RSLICER_SHARED_DATA), or from rca_data/<date>/ of a Nezha checkout there.
set -euo pipefail
which=${1:-tt}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/${2:-build}/bin/rslicer"
system=train-ticket; date=${3:-2023-01-30}
[[ $which == ob ]] && { system=online-boutique; date=${3:-2022-08-22}; }
nezha_dir=${RSLICER_SHARED_DATA:-$root/../shared/data}/nezha
out=${EXPERIMENT_OUT:-$root/experiment-out/nezha_$which}
export RSLICER_DATA=$out OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpirun=(mpirun -np 2 --bind-to none)
rm -rf "$out"; mkdir -p "$out"
source "$root/scripts/nezha_date.sh"
raw=$(nezha_date_dir "$nezha_dir" "$system" "$date" "$out/raw")
"$bin" ingest data.path="$raw" data.date=$date out="$out/nezha_$which.h5" hydra.run.dir="$out/runs/ingest"
# Pre-training reads the tuning side only (split=fault_time): the later faults' windows and labels stay unseen.
"${mpirun[@]}" "$bin" pretrain +experiment=nezha_$which split=fault_time hydra.run.dir="$out/runs/pretrain"
for m in trained baseline; do
  extra=(); [[ $m == trained ]] && extra=(embed.release="$out/runs/pretrain/final")
  "${mpirun[@]}" "$bin" embed data.stores="[$out/nezha_$which.h5]" split=fault_time "${extra[@]}" embed.max_tokens=96 \
    embed.batch_size=32 embed.components.normal_stride=50 out="$out/embeddings_$m.h5" hydra.run.dir="$out/runs/embed_$m"
  "$bin" cluster split=fault_time embeddings="$out/embeddings_$m.h5" out="$out/clusters_$m.json" hydra.run.dir="$out/runs/cluster_$m"
  "$bin" tune split=fault_time embeddings="$out/embeddings_$m.h5" clusters="$out/clusters_$m.json" \
    out="$out/models_$m.json" hydra.run.dir="$out/runs/tune_$m"
done
"$bin" evaluate split=fault_time embeddings="$out/embeddings_trained.h5" clusters="$out/clusters_trained.json" \
  models="$out/models_trained.json" baseline.embeddings="$out/embeddings_baseline.h5" \
  baseline.clusters="$out/clusters_baseline.json" baseline.models="$out/models_baseline.json" hydra.run.dir="$out/report"
echo "report: $out/report/report.md"
