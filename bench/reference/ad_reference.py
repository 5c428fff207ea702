"""BARO-style non-learned anomaly detection over window stores' metrics (the reference beside the learned AD).

Each window is scored against the minutes before it, as baro_reference.py scores a fault phase:
  per series (component, KPI), x = the series' mean over the window's rows, and its robust z against the means of
  the windows that end by the window's begin and begin at most --before-s earlier,
  z = |x - median(before)| / IQR(before)   (BARO's RobustScaler; IQR floored as in baro_reference.py);
the window's score is its largest |z| over series with 3 or more earlier values. No labels and no training: the
reference needs nothing from the tuning split, so it is threshold-free (AUROC, AUPRC over the test windows).

Beside it, a shortcut check ("presence"): the number of modalities beyond metrics a window has (spans, logs) as the
score. A data set that records traces or logs only around its faults (Nezha's shipped dates) lets this read the
labels without reading any state; where it is far above chance, so can a detector that reads the trace or log texts
(bench/quality/nezha-modality-presence-2026-12-07.md).

Test windows follow the evaluation's split (src/tuning/split.h, mirrored in split.py), per store: fault_time,
time or all (a held-out store or system). The AUROC and AUPRC pool the test windows of every store given.
usage: /usr/bin/python3 ad_reference.py <fault_time|time|all> <train_fraction> <out.json> <store.h5>...
       [--before-s 1800]
"""
import argparse
import json

import h5py
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

import split as split_rules


def window_means(f):
    """[windows, series] mean of each (component, KPI) series over each window's metric rows; NaN where none."""
    comps, metrics = f["metrics/component"][:].astype(np.int64), f["metrics/metric"][:].astype(np.int64)
    values = f["metrics/value"][:].astype(np.float64)
    ranges = f["windows/metric_range"][:]
    n_metrics = len(f["metric_names"])
    keys = comps * n_metrics + metrics
    used, series = np.unique(keys, return_inverse=True)
    x = np.full((len(ranges), len(used)), np.nan)
    for w, (a, b) in enumerate(ranges):
        if b <= a:
            continue
        sums = np.bincount(series[a:b], weights=values[a:b], minlength=len(used))
        counts = np.bincount(series[a:b], minlength=len(used))
        x[w, counts > 0] = sums[counts > 0] / counts[counts > 0]
    return x


def scores(f, rows, before_s):
    """The score of each window in `rows` (indices into the store's windows)."""
    x = window_means(f)
    begin, end = f["windows/begin_ns"][:], f["windows/end_ns"][:]
    out = np.zeros(len(rows))
    for i, w in enumerate(rows):
        before = np.where((end <= begin[w]) & (begin >= begin[w] - int(before_s * 1e9)))[0]
        if len(before) < 3:
            continue
        h = x[before]
        enough = np.sum(~np.isnan(h), axis=0) >= 3
        if not enough.any():
            continue
        h = h[:, enough]
        median = np.nanmedian(h, axis=0)
        q75, q25 = np.nanpercentile(h, [75, 25], axis=0)
        iqr = np.maximum(q75 - q25, 1e-6 * np.abs(median) + 1e-9)
        z = np.abs(x[w, enough] - median) / iqr
        out[i] = np.nanmax(z) if np.any(~np.isnan(z)) else 0.0
    return out


def modalities_beyond_metrics(f, rows):
    """Per window in `rows`: 1 if it has spans, plus 1 if it has log lines."""
    spans, logs = f["windows/span_range"][:], f["windows/log_range"][:]
    return ((spans[rows, 1] > spans[rows, 0]).astype(float) + (logs[rows, 1] > logs[rows, 0])).astype(float)


def threshold_free(y, s):
    both = 0 < y.sum() < len(y)
    return {"auroc": float(roc_auc_score(y, s)) if both else None,
            "auprc": float(average_precision_score(y, s)) if both else None,
            "base_rate": float(y.mean()) if len(y) else None}


def main():
    ap = argparse.ArgumentParser()
    split_rules.add_arguments(ap, ["fault_time", "time", "all"])
    ap.add_argument("--before-s", type=float, default=1800)
    a = ap.parse_args()
    all_scores, all_presence, all_labels = [], [], []
    for path in a.stores:
        with h5py.File(path, "r") as f:
            test = split_rules.test_windows(f, a.split, a.train_fraction)
            labels = f["windows/label"][:]
            rows = np.where(test & (labels >= 0))[0]
            all_scores.append(scores(f, rows, a.before_s))
            all_presence.append(modalities_beyond_metrics(f, rows))
            all_labels.append(labels[rows] == 1)
    y = np.concatenate(all_labels)
    out = {"method": f"BARO-style robust z of each window against the {a.before_s / 60:g} minutes before it "
                     "(metrics only, max over series; no labels, no training)",
           "windows": int(len(y)), "abnormal": int(y.sum()),
           "ad": threshold_free(y, np.concatenate(all_scores)),
           "presence": threshold_free(y, np.concatenate(all_presence))}
    json.dump(out, open(a.out, "w"), indent=2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
