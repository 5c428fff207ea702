#!/usr/bin/env python3
"""Which modalities a window has, as an anomaly detector, beside AD read from each of the model's embeddings, on the
test side of every experiment of a `make quality` run. A window's texts say "traces window 60s none" when it has no
spans: where a data set records traces and logs only around its fault injections, an AD that reads the trace or log
embedding can score by their presence instead of by the state.

Per experiment (trained and untrained embeddings), AUPRC on the test side of:
  presence   the number of modalities beyond metrics the window has (0, 1, 2): no model, no state
  z, e_m, e_t, e_l
             each embedding scored as rslicer tune scores z (a Gaussian over the tuning side's normal windows for
             the stores tuning saw, shrinkage 0.1, one state; else the cosine distance to the median of the store's
             previous 60 windows), as a robust z against the store's previous 60 scores (tuning/trailing_scores.h)

usage: /usr/bin/python3 bench/quality/ad_presence_probe.py <make quality out dir> [OUT.md]"""
import os
import sys

import h5py
import numpy as np
from sklearn.metrics import average_precision_score

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import ad_reference  # noqa: E402
import split as split_rules  # noqa: E402

HISTORY = 60
EXPERIMENTS = [("demo, held-out period", "demo/embeddings_{}_time.h5", "time"),
               ("demo, held-out system", "demo/embeddings_{}_system.h5", "system"),
               ("Nezha TT fault_time", "nezha/tt_fault_time/embeddings_{}.h5", "fault_time"),
               ("Nezha OB fault_time", "nezha/ob_fault_time/embeddings_{}.h5", "fault_time"),
               ("Nezha OB -> TT", "nezha/ob_to_tt/embeddings_{}.h5", "system"),
               ("Nezha TT -> OB", "nezha/tt_to_ob/embeddings_{}.h5", "system")]
TEST_SYSTEM = {"demo, held-out system": "train_ticket", "Nezha OB -> TT": "train_ticket", "Nezha TT -> OB": "online_boutique"}


def rows_in_time(store, begin):
    return {s: np.where(store == s)[0][np.argsort(begin[store == s], kind="stable")] for s in np.unique(store)}


def trailing_robust_z(raw, by_store):
    out = np.zeros(len(raw))
    for rows in by_store.values():
        r = raw[rows]
        for i in range(10, len(rows)):  # the first windows have too little history: 0
            prior = r[max(0, i - HISTORY):i]
            median = np.median(prior)
            out[rows[i]] = (r[i] - median) / (1.4826 * np.median(np.abs(prior - median)) + 1e-9)
    return out


def distance_to_own_past(x, by_store):
    out = np.zeros(len(x))
    for rows in by_store.values():
        unit = x[rows] / (np.linalg.norm(x[rows], axis=1, keepdims=True) + 1e-12)
        for i in range(1, len(rows)):
            median = np.median(x[rows[max(0, i - HISTORY):i]], axis=0)
            out[rows[i]] = 1 - unit[i] @ (median / (np.linalg.norm(median) + 1e-12))
    return out


def gaussian_score(x, fit_rows, shrinkage=0.1):
    mean, cov = x[fit_rows].mean(0), np.cov(x[fit_rows], rowvar=False)
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
    d = x - mean
    return np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d)


def store_path(f, i):
    path = f["stores"][()][i]
    return path.decode() if isinstance(path, bytes) else path


def test_side(f, how, name):
    """The rows that test: time and fault_time per store as the evaluation splits (bench/reference/split.py,
    mirroring src/tuning/split.h); system: the held-out system's stores (Nezha's held-out stores are one system
    each)."""
    store, window = f["store"][()], f["window"][()]
    systems = [s.decode() if isinstance(s, bytes) else s for s in f["systems"][()]]
    test = np.zeros(len(store), bool)
    for i in np.unique(store):
        rows = store == i
        if how == "system":
            test[rows] = systems[i] == TEST_SYSTEM[name]
        else:
            with h5py.File(store_path(f, i), "r") as s:
                test[rows] = split_rules.test_windows(s, how, 0.6)[window[rows]]
    return test


def modalities_beyond_metrics(f):
    """ad_reference.py's shortcut check, per row of the embeddings file."""
    store, window = f["store"][()], f["window"][()]
    out = np.zeros(len(store))
    for i in np.unique(store):
        rows = store == i
        with h5py.File(store_path(f, i), "r") as s:
            out[rows] = ad_reference.modalities_beyond_metrics(s, window[rows])
    return out


def probe(path, how, name):
    f = h5py.File(path, "r")
    store, begin, label = f["store"][()], f["begin_ns"][()], f["label"][()]
    test = test_side(f, how, name)
    by_store = rows_in_time(store, begin)
    tuned = np.isin(store, np.unique(store[~test]))
    normal_tuning = ~test & (label == 0)
    scores = {"presence": modalities_beyond_metrics(f)}
    for key in ("z", "e_m", "e_t", "e_l"):
        x = f[key][()].astype(np.float64)
        raw = distance_to_own_past(x, by_store)
        if normal_tuning.sum() > 20:
            raw = np.where(tuned, gaussian_score(x, normal_tuning), raw)
        scores[key] = trailing_robust_z(raw, by_store)
    return {k: 100 * average_precision_score(label[test], v[test]) for k, v in scores.items()}, 100 * label[test].mean()


def main():
    root = sys.argv[1]
    lines = ["| experiment | model | base rate | presence | z | e_m | e_t | e_l |", "|---|---|---|---|---|---|---|---|"]
    for name, pattern, how in EXPERIMENTS:
        for model in ("trained", "baseline"):
            path = os.path.join(root, pattern.format(model))
            if not os.path.exists(path):
                continue
            auprc, base = probe(path, how, name)
            lines.append(f"| {name} | {model} | {base:.1f} | " + " | ".join(f"{auprc[k]:.1f}" for k in
                                                                         ("presence", "z", "e_m", "e_t", "e_l")) + " |")
            print(lines[-1], flush=True)
    if len(sys.argv) > 2:
        with open(sys.argv[2] + ".tmp", "w") as out:
            out.write("\n".join(lines) + "\n")
        os.replace(sys.argv[2] + ".tmp", sys.argv[2])


if __name__ == "__main__":
    main()
