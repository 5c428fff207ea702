"""A non-learned failure-classification reference (the one beside the learned FC, as BARO is beside FL).

Each fault event is described by its root-cause pod's metrics: per KPI, the signed robust z of the fault phase's
median against the minutes before it (IQR-scaled, BARO's scaler), squashed as sign(z) log(1 + |z|); a KPI with
no sample in the fault phase (a killed pod) gets -50 before squashing. KPIs are matched by name across stores.
Test events take the type of the nearest tuning event (cosine, 1-NN), per event, over the types seen in tuning.
It is given the true root cause (the learned FC uses FL's top-ranked pod): an upper reference for what the
metrics of the right pod tell, not a competitor on equal terms.

Splits follow src/tuning/split.h: time (faults that begin in the later 1 - f of each store's windows test),
fault_time (faults from number ceil(f x n) on), system (the first store tunes, the others test).
usage: /usr/bin/python3 fc_reference.py <time|fault_time|system> <train_fraction> <out.json> <store.h5>...
       [--before-s 1800] [--phase-s 300]
"""
import argparse
import json
from collections import Counter

import h5py
import numpy as np

import split as split_rules


def event_features(f, before_s, phase_s):
    times = f["metrics/time_ns"][:]
    comps = f["metrics/component"][:]
    metrics = f["metrics/metric"][:]
    values = f["metrics/value"][:].astype(np.float64)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["metric_names"][:]]
    begins, ends = f["faults/begin_ns"][:], f["faults/end_ns"][:]
    out = []
    for i in range(len(begins)):
        root = int(f["faults/root_cause"][i])
        if root < 0:
            out.append(None)
            continue
        rows = comps == root
        before = rows & (times >= begins[i] - int(before_s * 1e9)) & (times < begins[i])
        phase = rows & (times >= begins[i]) & (times < min(ends[i], begins[i] + int(phase_s * 1e9)))
        feats = {}
        for m in np.unique(metrics[rows]):
            b, p = values[before & (metrics == m)], values[phase & (metrics == m)]
            if len(b) < 3:
                continue
            median = np.median(b)
            q75, q25 = np.percentile(b, [75, 25])
            z = -50.0 if len(p) == 0 else (np.median(p) - median) / max(q75 - q25, 1e-6 * abs(median) + 1e-9)
            feats[names[m]] = float(np.sign(z) * np.log1p(abs(z)))
        out.append(feats)
    return out


def test_mask(f, split, fraction, store_index):
    """The store's test faults; split=system: the first store tunes, the others test."""
    if split == "system":
        return np.full(len(f["faults/begin_ns"]), store_index > 0)
    return split_rules.test_faults(f, split, fraction)


def macro_f1(truth, predicted):
    f1 = []
    for t in sorted(set(truth)):
        tp = sum(1 for a, b in zip(truth, predicted) if a == t and b == t)
        denominator = truth.count(t) + predicted.count(t)
        f1.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(f1)) if f1 else 0.0


def main():
    ap = argparse.ArgumentParser()
    split_rules.add_arguments(ap, ["time", "fault_time", "system"])
    ap.add_argument("--before-s", type=float, default=1800)
    ap.add_argument("--phase-s", type=float, default=300)
    a = ap.parse_args()
    events = []  # (type, is_test, features)
    for k, path in enumerate(a.stores):
        with h5py.File(path, "r") as f:
            test = test_mask(f, a.split, a.train_fraction, k)
            types = f["faults/type"][:]
            for i, feats in enumerate(event_features(f, a.before_s, a.phase_s)):
                if feats is not None and types[i] >= 0:
                    events.append((int(types[i]), bool(test[i]), feats))
    kpis = sorted({name for _, _, feats in events for name in feats})
    x = np.array([[feats.get(n, 0.0) for n in kpis] for _, _, feats in events]).reshape(len(events), len(kpis))
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    y = [t for t, _, _ in events]
    tune = [i for i, (_, is_test, _) in enumerate(events) if not is_test]
    seen = {y[i] for i in tune}
    test = [i for i, (t, is_test, _) in enumerate(events) if is_test and t in seen]
    predicted = [y[tune[int(np.argmax(x[tune] @ x[i]))]] for i in test] if tune else []
    truth = [y[i] for i in test]
    out = {"method": "1-NN over tuning events of the true root-cause pod's robust KPI z-scores (metrics only)",
           "events": len(test), "tuning_events": len(tune), "unseen_events": sum(
               1 for _, is_test, _ in events if is_test) - len(test),
           "f1": macro_f1(truth, predicted),
           "accuracy": float(np.mean([a == b for a, b in zip(truth, predicted)])) if test else 0.0,
           "test_types": {str(k): v for k, v in sorted(Counter(truth).items())}}
    json.dump(out, open(a.out, "w"), indent=2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
