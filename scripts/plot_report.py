"""Plots for `rslicer evaluate`: t-SNE of the state embeddings coloured by cluster and by label, trained beside the
untrained baseline (the paper's Figure 4), and the fault-classification confusion matrix. PNG files in the run dir.
usage: /usr/bin/python3 plot_report.py <plot_inputs.json>"""
import json
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def load(entry):
    with h5py.File(entry["embeddings"], "r") as f:
        z = f["z"][:].reshape(len(f["label"]), -1)
        label = f["label"][:]
        regime = f["regime"][:]
    clusters = None
    if entry.get("clusters"):
        clusters = np.array(json.load(open(entry["clusters"]))["assignment"])
    return z, label, regime, clusters


def main():
    inp = json.load(open(sys.argv[1]))
    runs = [("trained", inp["trained"])] + ([("untrained baseline", inp["baseline"])] if "baseline" in inp else [])
    fig, axes = plt.subplots(2, len(runs), figsize=(6 * len(runs), 10), squeeze=False)
    for col, (name, entry) in enumerate(runs):
        z, label, regime, clusters = load(entry)
        # The map rslicer evaluate computed (src/tuning/tsne.h) over the windows it chose.
        idx = np.array(entry["tsne"]["index"], dtype=np.int64)
        xy = np.array(entry["tsne"]["map"], dtype=np.float64).reshape(len(idx), 2)
        colour = clusters[idx] if clusters is not None else regime[idx]
        axes[0][col].scatter(xy[:, 0], xy[:, 1], c=colour, cmap="tab10", s=6)
        axes[0][col].set_title(f"{name}: coloured by state cluster (t-SNE, KL {entry['tsne']['kl']:.2f})")
        lab = label[idx]
        for value, colour_name, text in ((0, "tab:blue", "normal"), (1, "tab:red", "abnormal"), (-1, "tab:gray", "unknown")):
            m = lab == value
            if m.any():
                axes[1][col].scatter(xy[m, 0], xy[m, 1], c=colour_name, s=6, label=text)
        axes[1][col].legend()
        axes[1][col].set_title(f"{name}: coloured by label")
    fig.tight_layout()
    fig.savefig(inp["out_dir"] + "/tsne_states.png", dpi=110)
    if inp["confusion"]:
        names = sorted({c["true"] for c in inp["confusion"]} | {c["predicted"] for c in inp["confusion"]})
        m = np.zeros((len(names), len(names)))
        for c in inp["confusion"]:
            m[names.index(c["true"]), names.index(c["predicted"])] = c["count"]
        fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 1.2 * len(names) + 2))
        ax.imshow(m, cmap="Blues")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, int(m[i, j]), ha="center", va="center")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title("fault classification (trained)")
        fig.tight_layout()
        fig.savefig(inp["out_dir"] + "/confusion.png", dpi=110)


if __name__ == "__main__":
    main()
