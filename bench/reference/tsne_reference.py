#!/usr/bin/python3
"""The t-SNE reference for bench/run: scikit-learn's TSNE (exact and Barnes-Hut, one thread) on the points that
bench/tsne_bench.cpp reads, the same perplexity and iterations.

usage: OMP_NUM_THREADS=1 /usr/bin/python3 tsne_reference.py <dir> <rows> <dim>
Writes <dir>/tsne_x.f32 (raw float32), prints one JSON line: seconds and KL divergence of each method.
"""
import json
import sys
import time

import numpy as np
from sklearn.manifold import TSNE

out, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(1)
centres = rng.normal(0, 1, (8, d)).astype(np.float32)
x = (centres[rng.integers(0, 8, n)] + rng.normal(0, 0.5, (n, d))).astype(np.float32)
x.tofile(out + "/tsne_x.f32")
result = {}
for method in ("exact", "barnes_hut"):
    t0 = time.perf_counter()
    t = TSNE(n_components=2, perplexity=30.0, method=method, init="random", learning_rate="auto", random_state=0)
    t.fit(x.astype(np.float64) if method == "exact" else x)
    result[method] = {"seconds": time.perf_counter() - t0, "kl": float(t.kl_divergence_), "iterations": int(t.n_iter_)}
print(json.dumps(result))
