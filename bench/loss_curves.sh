#!/usr/bin/env bash
# The sparse embedding path against the dense one on the same run: 200 pre-training steps of the tiny model on
# 2 ranks (simulated Online Boutique, 96 tokens), both loss curves in one plot (bench/loss_curves.png) and the
# mean absolute difference of the losses. usage: bench/loss_curves.sh [steps]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
steps=${1:-200}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
"$build/bin/rslicer" simulate system=online_boutique duration=6h seed=1 out="$work/ob" hydra.run.dir="$work/sim" > /dev/null 2>&1
for sparse in true false; do
  mpirun -np 2 --bind-to none "$build/bin/rslicer" pretrain data.stores="[$work/ob.h5]" train.max_steps=$steps \
    train.global_batch=16 train.val_every=0 loader.max_tokens=96 train.sparse_embedding=$sparse checkpoint.at_end=false \
    hydra.run.dir="$work/$sparse" > "$work/$sparse.log" 2>&1
done
/usr/bin/python3 - "$work" "$root/bench/loss_curves.png" <<'PY'
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
w, out = sys.argv[1], sys.argv[2]
load = lambda k: [json.loads(l) for l in open("%s/%s/metrics.jsonl" % (w, k))]
s, d = load("true"), load("false")
ls, ld = [x["loss"] for x in s], [x["loss"] for x in d]
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(range(1, len(ld) + 1), ld, label="dense embedding gradient, AdamW on every row", lw=1.2)
ax.plot(range(1, len(ls) + 1), ls, label="sparse rows + lazy AdamW", lw=1.2, ls="--")
ax.set_xlabel("step"); ax.set_ylabel("loss (global batch)"); ax.set_yscale("log"); ax.legend()
ax.set_title("tiny Qwen3, 2 ranks, simulated Online Boutique")
fig.tight_layout(); fig.savefig(out, dpi=110)
tail = lambda v: sum(v[-20:]) / 20
ws = lambda v: sum(x["windows_per_s"] for x in v[2:]) / len(v[2:])
print("steps %d: mean |loss diff| %.4f; last-20 mean loss sparse %.4f dense %.4f; windows/s sparse %.1f dense %.1f; plot %s"
      % (len(ls), sum(abs(a - b) for a, b in zip(ls, ld)) / len(ls), tail(ls), tail(ld), ws(s), ws(d), out))
PY
