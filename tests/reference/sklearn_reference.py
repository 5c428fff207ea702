"""scikit-learn reference for the tuning tests: k-means from given initial centres, and sklearn.metrics.
usage: /usr/bin/python3 sklearn_reference.py <in.json> <out.json>"""
import json
import sys

import numpy as np
from sklearn import metrics
from sklearn.cluster import KMeans


def main():
    inp = json.load(open(sys.argv[1]))
    x = np.array(inp["x"], dtype=np.float64)
    init = np.array(inp["init"], dtype=np.float64)
    km = KMeans(n_clusters=len(init), init=init, n_init=1, max_iter=300, tol=0, algorithm="lloyd").fit(x)
    t, p = inp["truth"], inp["predicted"]
    a, b = inp["a"], inp["b"]
    out = {
        "inertia": float(km.inertia_),
        "precision": metrics.precision_score(t, p, zero_division=0),
        "recall": metrics.recall_score(t, p, zero_division=0),
        "f1": metrics.f1_score(t, p, zero_division=0),
        "macro": list(metrics.precision_recall_fscore_support(inp["mt"], inp["mp"], average="macro", zero_division=0)[:3]),
        "nmi": metrics.normalized_mutual_info_score(a, b),
        "ari": metrics.adjusted_rand_score(a, b),
        "silhouette": float(metrics.silhouette_score(x, km.labels_)),
        "auroc": metrics.roc_auc_score(inp["st"], inp["scores"]),
        "auprc": metrics.average_precision_score(inp["st"], inp["scores"]),
    }
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
