"""Draws docs/architecture.png: the src/ libraries, what depends on what, and how a window flows from raw files to
a report. usage: /usr/bin/python3 docs/architecture_diagram.py [out.png]"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

# library -> (x, y, what it owns)
LIBS = {
    "core": (0.5, 0.06, "errors, logging, atomic files,\nCPU sets, malloc, BLAS kernels"),
    "config": (0.16, 0.25, "Hydra/OmegaConf: overrides,\ncomposition, run dirs, sweeps"),
    "data": (0.5, 0.25, "readers, simulator, window store,\nserializer, tokenizer, loader"),
    "dist": (0.84, 0.25, "MPI context, Communicator,\nall_gather_with_grad, reducer"),
    "model": (0.3, 0.46, "Qwen3 backbone, fusion,\nsafetensors, releases"),
    "losses": (0.7, 0.46, "modal InfoNCE, temporal,\nanomaly (global batch)"),
    "train": (0.5, 0.65, "Trainer, flat AdamW, ZeRO-1,\nsparse rows, checkpoints, balance"),
    "tuning": (0.16, 0.65, "embeddings, splits, clustering,\nAD/FL/FC, metrics, t-SNE"),
    "cli": (0.5, 0.86, "rslicer: simulate ingest inspect pretrain\nembed cluster tune evaluate export"),
}
DEPS = [("config", "core"), ("data", "core"), ("dist", "core"), ("model", "core"), ("losses", "dist"),
        ("train", "losses"), ("train", "model"), ("train", "data"), ("train", "config"),
        ("train", "tuning"), ("tuning", "data"), ("tuning", "config"), ("cli", "train"), ("cli", "tuning"),
        ("cli", "config"), ("cli", "dist"), ("cli", "data")]
FLOW = ("raw files (Nezha, AIOps 2022/ART, OTLP) or the simulator -> ingest -> HDF5 window store -> serializer "
        "(3 texts a window) -> tokenizer -> loader (per rank) -> model -> losses over the global batch -> checkpoints / "
        "release -> embed -> cluster -> tune -> evaluate (report, plots)")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "docs/architecture.png"
    fig, ax = plt.subplots(figsize=(12, 9))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.12, 1)
    ax.axis("off")
    w, h = 0.26, 0.11
    for name, (x, y, text) in LIBS.items():
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.01", fc="#e8f0fb", ec="#3568a8"))
        ax.text(x, y + 0.025, "src/" + name, ha="center", va="center", fontsize=11, weight="bold")
        ax.text(x, y - 0.02, text, ha="center", va="center", fontsize=8)
    for a, b in DEPS:
        (xa, ya, _), (xb, yb, _) = LIBS[a], LIBS[b]
        ax.annotate("", xy=(xb, yb + (h / 2 if yb < ya else -h / 2)), xytext=(xa, ya + (-h / 2 if yb < ya else h / 2)),
                    arrowprops=dict(arrowstyle="->", color="#777777", lw=0.8))
    ax.text(0.5, 0.98, "RuntimeSlicer: libraries (arrow = depends on)", ha="center", fontsize=13, weight="bold")
    words, lines, line = FLOW.split(" "), [], ""
    for word in words:
        if len(line) + len(word) > 120:
            lines.append(line)
            line = ""
        line += word + " "
    lines.append(line)
    ax.text(0.5, -0.07, "A window's way: " + "\n".join(lines), ha="center", va="center", fontsize=9)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print("wrote", out)


if __name__ == "__main__":
    main()
