#!/usr/bin/env python3
"""make quality runs with different seeds (RSLICER_SEED) side by side: for each experiment and goal metric, trained
and baseline per seed, and in how many seeds trained beats baseline. A figure that flips between seeds is noise at
this scale, not a result.
usage: bench/quality/seeds.py OUT.md SEED=results.json [SEED=results.json ...]"""
import json
import sys

GOALS = ["ad/f1", "ad/auprc", "fl/pod/top1", "fl/pod/mrr", "fl/events/service/as1", "fc/f1", "fc/events/f1",
         "regimes/nmi", "regimes/nmi_within_store"]


def rows_by_key(experiment):
    return {r["key"]: r for r in experiment["rows"]}


def main():
    out, runs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    results = [(seed, json.load(open(path))) for seed, path in runs]
    names = [e["name"] for e in results[0][1]["experiments"]]
    lines = ["# make quality across seeds", "",
             "Percentages, trained / baseline per seed (RSLICER_SEED: model initialisation and sampling; the data are "
             "the same). Last column: the seeds where trained beats baseline.", ""]
    for name in names:
        per_seed = []
        for seed, r in results:
            match = [e for e in r["experiments"] if e["name"] == name]
            per_seed.append(rows_by_key(match[0]) if match else {})
        lines += [f"## {name}", "", "| metric | " + " | ".join(f"seed {s}" for s, _ in results) + " | trained wins |",
                  "|---|" + "---|" * (len(results) + 1)]
        for key in GOALS:
            cells, wins, seen = [], 0, 0
            for rows in per_seed:
                row = rows.get(key)
                if not row or row["trained"] is None or row["baseline"] is None:
                    cells.append("-")
                    continue
                seen += 1
                wins += row["trained"] > row["baseline"]
                cells.append(f"{100 * row['trained']:.1f} / {100 * row['baseline']:.1f}")
            if seen:
                metric = next(rows[key]["metric"] for rows in per_seed if key in rows)
                lines.append(f"| {metric} | " + " | ".join(cells) + f" | {wins} of {seen} |")
        lines.append("")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines))
    import os
    os.replace(out + ".tmp", out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
