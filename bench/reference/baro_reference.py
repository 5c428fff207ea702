"""BARO-style non-learned root-cause ranking over a window store's metrics (the reference beside the learned FL).

For each test fault: per pod and KPI, the robust z-score of the fault phase against the minutes before it,
  z = max over the fault phase of |x - median(before)| / IQR(before)   (BARO's RobustScaler; IQR floored),
the pod's score is its largest |z|, a service's the largest of its pods'. Events ranked once each, as Nezha and
RCAEval evaluate: AS@k at service and pod level. The onset is the fault's labelled begin, as our FL uses it.

Test faults follow the evaluation's split (src/tuning/split.h): fault_time (the faults from number
ceil(f x n) on, by onset), time (faults that begin in the later 1 - f of the store's windows), all (a held-out
store or system).
usage: /usr/bin/python3 baro_reference.py <store.h5> <fault_time|time|all> <train_fraction> <out.json>
       [--before-s 1800] [--phase-s 600]
"""
import argparse
import json
import math

import h5py
import numpy as np

import split as split_rules


def rank_event(times, comps, metrics, values, pods, begin, end, before_s, phase_s):
    before = (times >= begin - int(before_s * 1e9)) & (times < begin)
    phase = (times >= begin) & (times < min(end, begin + int(phase_s * 1e9)))
    scores = {}
    for pod in pods:
        best = 0.0
        pod_rows = comps == pod
        for m in np.unique(metrics[pod_rows]):
            rows = pod_rows & (metrics == m)
            b, p = values[rows & before], values[rows & phase]
            if len(b) < 3 or len(p) == 0:
                continue
            q75, q25 = np.percentile(b, [75, 25])
            iqr = max(q75 - q25, 1e-6 * abs(np.median(b)) + 1e-9)
            best = max(best, float(np.max(np.abs(p - np.median(b)))) / iqr)
        # A pod that reports nothing in the fault phase (killed) is as abnormal as a pod can be.
        if not np.any(pod_rows & phase) and np.any(pod_rows & before):
            best = math.inf
        scores[pod] = best
    return sorted(pods, key=lambda c: -scores[c])


def rank_of(ranking, truth):
    return ranking.index(truth) + 1 if truth in ranking else 0


def figures(ranks, prefix):
    out = {f"{prefix}{k}": (sum(1 for r in ranks if 1 <= r <= k) / len(ranks) if ranks else 0.0) for k in (1, 3, 5)}
    out["mrr"] = sum(1.0 / r for r in ranks if r > 0) / len(ranks) if ranks else 0.0
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("split", choices=["fault_time", "time", "all"])
    ap.add_argument("train_fraction", type=float)
    ap.add_argument("out")
    ap.add_argument("--before-s", type=float, default=1800)
    ap.add_argument("--phase-s", type=float, default=600)
    a = ap.parse_args()
    with h5py.File(a.store, "r") as f:
        times = f["metrics/time_ns"][:]
        comps = f["metrics/component"][:]
        metrics = f["metrics/metric"][:]
        values = f["metrics/value"][:].astype(np.float64)
        kind = f["components/kind"][:]
        service = f["components/service"][:]
        ids = f["components/id"][:]
        pods = [int(i) for i, k in zip(ids, kind) if k == 0]
        service_of = {int(i): int(s) if s >= 0 else int(i) for i, s in zip(ids, service)}
        pod_ranks, service_ranks = [], []
        for i in np.flatnonzero(split_rules.test_faults(f, a.split, a.train_fraction)):
            root = int(f["faults/root_cause"][i])
            if root < 0:
                continue
            ranking = rank_event(times, comps, metrics, values, pods, int(f["faults/begin_ns"][i]),
                                 int(f["faults/end_ns"][i]), a.before_s, a.phase_s)
            services = []
            for p in ranking:
                if service_of[p] not in services:
                    services.append(service_of[p])
            pod_ranks.append(rank_of(ranking, root))
            service_ranks.append(rank_of(services, service_of[root]))
    out = {"method": "BARO-style robust z of the fault phase against the minutes before it (metrics only)",
           "events": len(pod_ranks), "service": figures(service_ranks, "as"), "pod": figures(pod_ranks, "as")}
    json.dump(out, open(a.out, "w"), indent=2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
