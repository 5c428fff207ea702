#!/usr/bin/python3
"""Failure localization per fault event, replayed on an embeddings file with two references for a pod's move:
  product: the mean of the pod's last 8 embedded normal windows before the fault's onset (as rslicer evaluate);
  matched: the same, from windows that carry the same modalities as the window ranked (the store's modality mask:
           metrics, traces, logs); where fewer than 2 normal ones do, from earlier faults' windows that do;
  construct (with a second embeddings file, of a fault-free store of the same system such as Nezha's construct
           phase, `rslicer ingest data.phase=construct`): the mean of the same-named pod's windows there that carry
           the same modalities.
Stores such as Nezha's record traces and logs only in fault minutes, so every pod's text gains trace and log lines
at the onset; the matched reference asks whether comparing like with like finds the root cause. Scores are the
cosine distance over the pod's spread shrunk halfway to the window's median spread, averaged over the event's test
windows (split=fault_time); the product's callee discount is left out (0 to 0.6 MRR points on Nezha).

usage: /usr/bin/python3 bench/quality/fl_modality_probe.py <embeddings.h5> [train fraction, default 0.6]
                                                            [construct embeddings.h5]
"""
import math
import sys
from collections import defaultdict

import h5py
import numpy as np


def unit(x):
    return x / max(np.linalg.norm(x), 1e-12)


def decoded(values):
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def mean_and_spread(vectors):
    """The reference's mean and its members' mean cosine distance from it."""
    mean = vectors.mean(0)
    return mean, float(np.mean([1 - unit(v) @ unit(mean) for v in vectors]))


def pod_names(store_path):
    return decoded(h5py.File(store_path, "r")["components/name"][()])


def construct_reference(path):
    """The construct store's pod embeddings by (pod name, window modality mask)."""
    f = h5py.File(path, "r")
    store_path = decoded(f["stores"][()])[0]
    mask = h5py.File(store_path, "r")["windows/modality_mask"][()][f["window"][()]]
    names = pod_names(store_path)
    comp_row, comp_id = f["comp_row"][()], f["comp_id"][()]
    rows = defaultdict(list)
    for c in range(len(comp_row)):
        rows[(names[comp_id[c]], mask[comp_row[c]])].append(c)
    return {"comp": f["comp"][()], "rows": rows}


def main():
    f = h5py.File(sys.argv[1], "r")
    fraction = float(sys.argv[2]) if len(sys.argv) > 2 else 0.6
    cols = lambda name: f[name][()].reshape(-1, int(f[name].attrs["cols"])) if f[name][()].ndim == 1 else f[name][()]
    store, window, label, fault, begin, root = (f[k][()] for k in ("store", "window", "label", "fault", "begin_ns",
                                                                   "root_cause"))
    comp, comp_row, comp_id = cols("comp"), f["comp_row"][()], f["comp_id"][()]
    stores = decoded(f["stores"][()])
    masks = [h5py.File(p, "r")["windows/modality_mask"][()] for p in stores]
    modalities = np.array([masks[s][w] for s, w in zip(store, window)])
    names = [pod_names(p) for p in stores]
    construct = construct_reference(sys.argv[3]) if len(sys.argv) > 3 else None

    onset = {}
    for r in np.where((fault >= 0) & (label == 1))[0]:
        key = (store[r], fault[r])
        onset[key] = min(onset.get(key, 1 << 62), begin[r])
    cut = {}
    for s in np.unique(store):
        times = sorted(t for (ss, _), t in onset.items() if ss == s)
        k = math.ceil(fraction * len(times))
        cut[s] = times[k] if k < len(times) else 1 << 62
    test = [r for r in range(len(store)) if begin[r] >= cut[store[r]] and label[r] == 1 and root[r] >= 0]
    history = defaultdict(list)  # (store, pod) -> [(begin, comp row)]
    for c in range(len(comp_row)):
        history[(store[comp_row[c]], comp_id[c])].append((begin[comp_row[c]], c))
    for rows in history.values():
        rows.sort()
    comps_of = defaultdict(list)
    for c in range(len(comp_row)):
        comps_of[comp_row[c]].append(c)

    def reference(key, before, fault_now, wanted, mode, n=8):
        if mode == "construct":
            pick = construct["rows"].get((names[key[0]][key[1]], wanted), [])
            return mean_and_spread(construct["comp"][pick]) if len(pick) >= 2 else (None, 0.0)
        earlier = [c for b, c in history[key] if b < before]
        normal = [c for c in earlier if label[comp_row[c]] != 1]
        pick = normal[-n:]
        if mode == "matched":
            pick = [c for c in normal if modalities[comp_row[c]] == wanted][-n:]
            if len(pick) < 2:
                pick = [c for c in earlier if label[comp_row[c]] == 1 and fault[comp_row[c]] != fault_now and
                        modalities[comp_row[c]] == wanted][-n:]
        return mean_and_spread(comp[pick]) if len(pick) >= 2 else (None, 0.0)

    def replay(mode):
        events = defaultdict(lambda: defaultdict(list))
        for r in test:
            key = (store[r], fault[r])
            moves = []
            for c in comps_of[r]:
                mean, spread = reference((store[r], comp_id[c]), onset[key], fault[r], modalities[r], mode)
                if mean is not None:
                    moves.append((comp_id[c], 1 - unit(comp[c]) @ unit(mean), spread))
            if not moves:
                continue
            pooled = np.median([m[2] for m in moves if m[2] > 0] or [0.0])
            for pod, distance, spread in moves:
                events[key][pod].append(distance / (0.5 * spread + 0.5 * pooled + 1e-9))
        ranks = []
        for key, pods in sorted(events.items()):
            truth = root[next(r for r in test if (store[r], fault[r]) == key)]
            order = sorted(pods, key=lambda p: -np.mean(pods[p]))
            ranks.append(order.index(truth) + 1 if truth in order else len(order) + 1)
        return ranks

    for mode in ["product", "matched"] + (["construct"] if construct else []):
        ranks = replay(mode)
        print(f"{mode:9s} pod AS@1 {100 * np.mean([k == 1 for k in ranks]):5.1f}  MRR "
              f"{100 * np.mean([1 / k for k in ranks]):5.1f}  events {len(ranks)}  root-cause ranks {ranks}")


if __name__ == "__main__":
    main()
