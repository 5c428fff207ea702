#!/usr/bin/env bash
# The post-training chain as dependent jobs: embed (RANKS tasks) -> cluster -> tune -> evaluate, each starting only
# when the previous one succeeded (--dependency=afterok). Run from the repository root on a login node:
#   slurm/post_training.sh RELEASE STORES OUT_DIR [split overrides...]
#   e.g. slurm/post_training.sh runs/rslicer-pretrain/123/final "[data/ob.h5,data/tt.h5]" post/ split=system split.test_systems=[train_ticket]
# Split overrides go to embed (its metric baseline reads the tuning side's labels only), cluster, tune and evaluate;
# EMBED_ARGS (word-split) to embed, e.g. "embed.max_tokens=128".
# Environment: RANKS (embed tasks, default 2), PARTITION, SBATCH_EXTRA (more sbatch options), DEPENDENCY (a job
# the chain waits for, e.g. the pre-training job: afterok:<id>). Prints the job ids, last line: the evaluate job.
set -euo pipefail
(($# >= 3)) || { echo "error: missing arguments, slurm/post_training.sh, RELEASE STORES OUT_DIR [split overrides...]" >&2; exit 2; }
release=$1 stores=$2 out=$(mkdir -p "$3" && cd "$3" && pwd); shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
common=(--parsable --chdir="$root" --output="$out/%x-%j.out" ${PARTITION:+--partition=$PARTITION} ${SBATCH_EXTRA:-})
export RSLICER_ROOT=$root
dep=${DEPENDENCY:+--dependency=$DEPENDENCY}
embed=$(sbatch "${common[@]}" $dep -J rslicer-embed --ntasks="${RANKS:-2}" "$root/slurm/step.sbatch" embed "$@" \
  data.stores="$stores" embed.release="$release" ${EMBED_ARGS:-} out="$out/embeddings.h5" hydra.run.dir="$out/embed")
cluster=$(sbatch "${common[@]}" --dependency=afterok:$embed -J rslicer-cluster "$root/slurm/step.sbatch" cluster "$@" \
  embeddings="$out/embeddings.h5" out="$out/clusters.json" hydra.run.dir="$out/cluster")
tune=$(sbatch "${common[@]}" --dependency=afterok:$cluster -J rslicer-tune "$root/slurm/step.sbatch" tune "$@" \
  embeddings="$out/embeddings.h5" clusters="$out/clusters.json" out="$out/models.json" hydra.run.dir="$out/tune")
evaluate=$(sbatch "${common[@]}" --dependency=afterok:$tune -J rslicer-evaluate "$root/slurm/step.sbatch" evaluate "$@" \
  embeddings="$out/embeddings.h5" clusters="$out/clusters.json" models="$out/models.json" hydra.run.dir="$out/report")
echo "embed $embed -> cluster $cluster -> tune $tune -> evaluate $evaluate; report: $out/report/report.md"
echo "$evaluate"
