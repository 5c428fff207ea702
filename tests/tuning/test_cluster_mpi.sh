#!/usr/bin/env bash
# rslicer cluster under mpirun: k-means over 1, 2 and 3 ranks (rows sharded, Lloyd's sums all-reduced) gives the
# same centroids and assignments; each system's states of normal operation found apart (cluster.per_system,
# cluster.windows=normal) are the union of each system's own clustering.
set -u
bin=$1
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fail() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }
"$bin" simulate system=online_boutique duration=2h seed=3 out="$out/ob" hydra.run.dir="$out/sim" > "$out/log" 2>&1 || fail simulate
"$bin" simulate system=train_ticket duration=1h seed=4 out="$out/tt" hydra.run.dir="$out/sim_tt" >> "$out/log" 2>&1 || fail simulate
mpirun -np 2 --bind-to none "$bin" embed data.stores="[$out/ob.h5,$out/tt.h5]" model.hidden_size=32 model.num_hidden_layers=1 \
  model.num_attention_heads=2 model.num_key_value_heads=1 model.head_dim=16 model.intermediate_size=64 \
  model.fusion.hidden_dim=32 model.fusion.out_dim=16 embed.max_tokens=32 embed.components.enabled=false \
  out="$out/e.h5" hydra.run.dir="$out/embed" >> "$out/log" 2>&1 || { tail -5 "$out/log"; fail embed; }
# The embed job applies its malloc policy (embed.allocator): a setting glibc cannot take is one error line naming
# the key, and nothing is written.
"$bin" embed data.stores="[$out/ob.h5]" embed.allocator.mmap_threshold_mb=4096 out="$out/bad.h5" \
  hydra.run.dir="$out/bad" > "$out/bad.log" 2>&1 && fail "embed took embed.allocator.mmap_threshold_mb=4096"
tail -1 "$out/bad.log" | grep -q "^error: .*embed.allocator.mmap_threshold_mb" || { cat "$out/bad.log"; fail "no error line for embed.allocator"; }
[[ ! -e $out/bad.h5 ]] || fail "embed wrote output after a config error"
for np in 1 2 3; do
  mpirun -np $np --bind-to none "$bin" cluster embeddings="$out/e.h5" cluster.k=4 split=time out="$out/c$np.json" \
    hydra.run.dir="$out/c$np" >> "$out/log" 2>&1 || { tail -5 "$out/log"; fail "cluster on $np ranks"; }
done
/usr/bin/python3 - "$out" <<'PY' || fail "results differ"
import json, sys
c = [json.load(open("%s/c%d.json" % (sys.argv[1], n))) for n in (1, 2, 3)]
for n, other in zip((2, 3), c[1:]):
    diff = max(abs(a - b) for a, b in zip(c[0]["centroids"]["data"], other["centroids"]["data"]))
    same = sum(a == b for a, b in zip(c[0]["assignment"], other["assignment"])) / len(c[0]["assignment"])
    print("k-means on %d ranks vs 1: max |centroid diff| %.3g, assignments equal %.4f" % (n, diff, same))
    assert diff < 1e-5 and same == 1.0
PY
grep -q "k-means over 3 rank(s)" "$out/log" || fail "no 3-rank k-means line"
for np in 1 2; do
  mpirun -np $np --bind-to none "$bin" cluster embeddings="$out/e.h5" cluster.windows=normal cluster.per_system=true \
    cluster.k_range=[2,4] split=time out="$out/s$np.json" hydra.run.dir="$out/s$np" >> "$out/log" 2>&1 \
    || { tail -5 "$out/log"; fail "per-system cluster on $np ranks"; }
done
# K is at most a group's windows / cluster.min_windows: groups of 120 and 72 windows at 50 a state hold 2 and 1
"$bin" cluster embeddings="$out/e.h5" cluster.windows=normal cluster.per_system=true cluster.min_windows=50 split=time \
  out="$out/capped.json" hydra.run.dir="$out/capped" >> "$out/log" 2>&1 || { tail -5 "$out/log"; fail "capped cluster"; }
"$bin" cluster embeddings="$out/e.h5" cluster.windows=normal cluster.per_system=true cluster.k=100000 split=time \
  out="$out/bad.json" hydra.run.dir="$out/bad_k" > "$out/bad_k.log" 2>&1 && fail "cluster took more states than windows"
tail -1 "$out/bad_k.log" | grep -q "^error: .*training window(s) to find states in" || { cat "$out/bad_k.log"; fail "no error line for too few windows"; }
[[ ! -e $out/bad.json ]] || fail "cluster wrote output after an error"
# split=none: every window tunes (states and models to deploy); there is nothing to evaluate, said in one line
"$bin" cluster embeddings="$out/e.h5" split=none out="$out/all.json" hydra.run.dir="$out/all" >> "$out/log" 2>&1 || fail "cluster split=none"
"$bin" tune embeddings="$out/e.h5" clusters="$out/all.json" split=none out="$out/models.json" hydra.run.dir="$out/tune" >> "$out/log" 2>&1 \
  || { tail -5 "$out/log"; fail "tune split=none"; }
"$bin" evaluate embeddings="$out/e.h5" models="$out/models.json" split=none hydra.run.dir="$out/eval" > "$out/eval.log" 2>&1 \
  && fail "evaluate took split=none"
tail -1 "$out/eval.log" | grep -q "^error: no test window (split=none)" || { cat "$out/eval.log"; fail "no error line for split=none"; }
/usr/bin/python3 - "$out" <<'PY' || fail "per-system states"
import json, sys
import h5py, numpy as np
d = sys.argv[1]
s1, s2 = (json.load(open("%s/s%d.json" % (d, n))) for n in (1, 2))
f = h5py.File(d + "/e.h5", "r")
store, label, begin = f["store"][()], f["label"][()], f["begin_ns"][()]
train = np.zeros(len(store), bool)  # split=time: each store's first 60% of windows by time
for s in np.unique(store):
    idx = np.where(store == s)[0]
    train[idx] = begin[idx] < np.sort(begin[idx])[int(0.6 * len(idx))]
names = [g["name"] for g in s1["groups"]]
print("groups", [(g["name"], g["windows"], g["k"]) for g in s1["groups"]])
assert names == sorted(["online_boutique", "train_ticket"]), names
assert s1["k"] == sum(g["k"] for g in s1["groups"]) == s1["centroids"]["rows"]
every = json.load(open(d + "/all.json"))
assert [g["windows"] for g in every["groups"]] == [int(((store == s) & (label != 1)).sum()) for s in (0, 1)], every["groups"]
# each group holds its system's training windows not labelled abnormal (the stores are one system each, in order)
for g, s in zip(s1["groups"], (0, 1)):
    assert g["windows"] == int(((store == s) & (label != 1) & train).sum()), (g, s)
assert 2 <= min(g["k"] for g in s1["groups"]) and max(g["k"] for g in s1["groups"]) <= 4
capped = json.load(open(d + "/capped.json"))
print("capped", [(g["name"], g["windows"], g["k"]) for g in capped["groups"]])
assert [g["k"] for g in capped["groups"]] == [max(1, min(2, g["windows"] // 50)) for g in capped["groups"]]
assert capped["k"] == capped["centroids"]["rows"] == sum(g["k"] for g in capped["groups"])
diff = max(abs(a - b) for a, b in zip(s1["centroids"]["data"], s2["centroids"]["data"]))
assert diff < 1e-5 and s1["assignment"] == s2["assignment"], diff
PY
echo "2 passed, 0 failed"
