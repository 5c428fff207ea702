#!/usr/bin/python3
"""Runtime states against the simulator's workload regimes under other ways of finding them, on an embeddings file
of the demo (scikit-learn k-means on z, k by silhouette in [2, 8] unless fixed; NMI over every window with a
regime, as rslicer cluster reports it):
  all tuning windows        -- as rslicer cluster does (split=time: each store's first 60%);
  normal tuning windows     -- the states of normal operation only;
  per store, normal windows -- each store's own states (its id and cluster), k by silhouette, then k = 6 (the
                               simulator's six regimes).

usage: /usr/bin/python3 bench/quality/regime_probe.py <embeddings.h5> [train fraction, default 0.6]
"""
import sys

import h5py
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score, silhouette_score


def chosen_k(x):
    best = None
    for k in range(2, 9):
        labels = KMeans(k, n_init=4, random_state=0).fit_predict(x)
        score = silhouette_score(x, labels, sample_size=min(2000, len(x)), random_state=0)
        if best is None or score > best[0]:
            best = (score, k)
    return best[1]


def states(x_fit, x_all, k):
    return KMeans(k, n_init=4, random_state=0).fit(x_fit).predict(x_all)


def main():
    f = h5py.File(sys.argv[1], "r")
    fraction = float(sys.argv[2]) if len(sys.argv) > 2 else 0.6
    z = f["z"][()]
    if z.ndim == 1:
        z = z.reshape(-1, int(f["z"].attrs["cols"]))
    store, label, regime, begin = f["store"][()], f["label"][()], f["regime"][()], f["begin_ns"][()]
    train = np.zeros(len(z), bool)
    for s in np.unique(store):
        idx = np.where(store == s)[0]
        train[idx] = begin[idx] < np.sort(begin[idx])[int(fraction * len(idx))]
    scored = regime >= 0
    nmi = lambda assignment: 100 * normalized_mutual_info_score(regime[scored], assignment[scored])

    k = chosen_k(z[train])
    print(f"all tuning windows, k={k}: NMI {nmi(states(z[train], z, k)):.1f}")
    normal = train & (label != 1)
    k = chosen_k(z[normal])
    print(f"normal tuning windows, k={k}: NMI {nmi(states(z[normal], z, k)):.1f}")
    for fixed in (None, 6):
        assignment, ks = np.zeros(len(z), int), []
        for s in np.unique(store):
            idx = np.where(store == s)[0]
            fit = idx[normal[idx]]
            k = fixed or chosen_k(z[fit])
            ks.append(k)
            assignment[idx] = 100 * s + states(z[fit], z[idx], k)
        print(f"per store, normal tuning windows, k={ks}: NMI {nmi(assignment):.1f}")


if __name__ == "__main__":
    main()
