#!/usr/bin/python3
"""How much fault-type information an embedding file's pod embeddings carry, apart from failure localization: each
abnormal window's signature is its true root-cause pod's move (the pod's embedding less the mean of its last 8
normal windows before the fault's onset, unit length); a type's prototype is the mean signature of its tuning
windows; a test window takes the type of the nearest prototype (cosine). Macro F1 over the test windows of types
seen in tuning, per window. The learned FC (rslicer tune/evaluate) uses FL's top pod instead of the true one.

usage: /usr/bin/python3 bench/quality/fc_probe.py <embeddings.h5> time|system [train fraction 0.6 | test system]
"""
import sys

import h5py
import numpy as np
from sklearn.metrics import f1_score


def unit(x):
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9, None)


def test_windows(f, split, arg):
    store, begin = f["store"][()], f["begin_ns"][()]
    systems = [s.decode() if isinstance(s, bytes) else s for s in f["systems"][()]]
    test = np.zeros(len(store), bool)
    for s in np.unique(store):
        idx = np.where(store == s)[0]
        idx = idx[np.argsort(begin[idx])]
        if split == "time":
            test[idx[int(float(arg or 0.6) * len(idx)):]] = True
        elif (arg or "train_ticket") in systems[s]:
            test[idx] = True
    return test


def signatures(f, history=8):
    label, fault, store, begin = f["label"][()], f["fault"][()], f["store"][()], f["begin_ns"][()]
    root, comp, comp_row, comp_id = f["root_cause"][()], f["comp"][()], f["comp_row"][()], f["comp_id"][()]
    onset = {}
    for r in np.where((fault >= 0) & (label == 1))[0]:
        onset[(store[r], fault[r])] = min(onset.get((store[r], fault[r]), begin[r]), begin[r])
    normal = {}
    for c in np.where(label[comp_row] == 0)[0]:
        normal.setdefault((store[comp_row[c]], comp_id[c]), []).append((begin[comp_row[c]], c))
    for v in normal.values():
        v.sort()
    out = {}
    for c in np.where((label[comp_row] == 1) & (comp_id == root[comp_row]))[0]:
        r = comp_row[c]
        t0 = onset.get((store[r], fault[r]), begin[r])
        past = [k for t, k in normal.get((store[r], comp_id[c]), []) if t < t0][-history:]
        if len(past) >= 2:
            out[r] = unit(comp[c] - comp[past].mean(0))
    return out


def main():
    path, split = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r") as f:
        test = test_windows(f, split, sys.argv[3] if len(sys.argv) > 3 else None)
        y = f["fault_type"][()]
        sig = signatures(f)
    rows = np.array(sorted(sig))
    train, held = rows[~test[rows]], rows[test[rows]]
    seen = sorted(set(y[train]))
    held = np.array([r for r in held if y[r] in seen])
    protos = np.array([unit(np.mean([sig[r] for r in train if y[r] == t], 0)) for t in seen])
    pred = np.array(seen)[(np.array([sig[r] for r in held]) @ protos.T).argmax(1)]
    print(f"{path}: FC with the true root cause, macro F1 per window {100 * f1_score(y[held], pred, average='macro'):.1f} "
          f"({len(held)} test windows, {len(seen)} types)")


if __name__ == "__main__":
    main()
