#!/usr/bin/env python3
"""Two sets of make quality results side by side, per seed: before / after a change (trained / baseline each), for
the goal metrics and AD's share of windows flagged.
usage: bench/quality/compare.py SEED=before.json,after.json [SEED=before.json,after.json ...] > OUT.md"""
import json
import sys

KEYS = ["ad/f1", "ad/auprc", "ad/flagged_share", "fl/pod/mrr", "fl/events/service/as1", "fc/f1", "regimes/nmi",
        "regimes/nmi_within_store"]


def rows(result, name):
    for e in result["experiments"]:
        if e["name"] == name:
            return {x["key"]: x for x in e["rows"]}
    return {}


def cell(row):
    if not row or row["trained"] is None or row["baseline"] is None:
        return "-"
    return f"{100 * row['trained']:.1f} / {100 * row['baseline']:.1f}"


def main():
    runs = []
    for arg in sys.argv[1:]:
        seed, paths = arg.split("=", 1)
        before, after = (json.load(open(p)) for p in paths.split(","))
        runs.append((seed, before, after))
    print("| experiment: metric | " + " | ".join(f"seed {s} before | seed {s} after" for s, _, _ in runs) + " |")
    print("|---|" + "---|" * (2 * len(runs)))
    for experiment in runs[0][1]["experiments"]:
        name = experiment["name"]
        for key in KEYS:
            cells = []
            for _, before, after in runs:
                cells += [cell(rows(before, name).get(key)), cell(rows(after, name).get(key))]
            if any(c != "-" for c in cells):
                print(f"| {name}: {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
