#!/usr/bin/python3
"""The k-means reference for bench/run: scikit-learn's KMeans (Lloyd, one thread) from the same initial centroids as
bench/cluster_bench.cpp, on the same data, so that both reach the same inertia and the times compare.

usage: OMP_NUM_THREADS=1 /usr/bin/python3 kmeans_reference.py <dir> <rows> <dim> <k>
Writes <dir>/x.f32 and <dir>/init.f32 (raw float32, row-major) for cluster_bench, prints one JSON line.
"""
import json
import sys
import time

import numpy as np
from sklearn.cluster import KMeans

out, n, d, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
centres = rng.normal(0, 1, (k, d)).astype(np.float32)
x = (centres[rng.integers(0, k, n)] + rng.normal(0, 0.6, (n, d))).astype(np.float32)  # overlapping blobs
init = x[rng.choice(n, k, replace=False)].copy()
x.tofile(out + "/x.f32")
init.tofile(out + "/init.f32")
t0 = time.perf_counter()
km = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", max_iter=300, tol=0.0).fit(x)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "inertia": float(km.inertia_), "iterations": int(km.n_iter_)}))
