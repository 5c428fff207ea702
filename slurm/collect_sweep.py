#!/usr/bin/python3
"""Collects a Slurm sweep's results (run by the collector job the Slurm launcher submits after the array).

usage: collect_sweep.py SWEEP_DIR  -> SWEEP_DIR/results.jsonl and results.md, one row per run dir <array>_<task>:
its overrides (.hydra/overrides.yaml), and for pretrain the last metrics.jsonl line and whether it finished
(final/ exists), for evaluate the headline figures of report.json.
"""
import glob
import json
import os
import re
import sys


def overrides(run):
    path = os.path.join(run, ".hydra", "overrides.yaml")
    if not os.path.exists(path):
        return []
    return [l[2:].strip().strip("'\"") for l in open(path) if l.startswith("- ")]


def main():
    sweep = sys.argv[1]
    rows = []
    for run in sorted(glob.glob(os.path.join(sweep, "*_*/")), key=lambda p: int(re.findall(r"_(\d+)/?$", p)[0])):
        row = {"run": os.path.basename(run.rstrip("/")), "overrides": overrides(run)}
        metrics = os.path.join(run, "metrics.jsonl")
        if os.path.exists(metrics):
            lines = [json.loads(l) for l in open(metrics) if l.strip()]
            if lines:
                last = lines[-1]
                row.update({k: last[k] for k in ("step", "loss", "val_loss", "windows_per_s") if k in last})
            row["finished"] = os.path.isdir(os.path.join(run, "final"))
        report = os.path.join(run, "report.json")
        if os.path.exists(report):
            r = json.load(open(report)).get("trained", {})
            row.update({"ad_f1": r.get("ad", {}).get("f1"), "fl_mrr": r.get("fl", {}).get("pod", {}).get("mrr"),
                        "fc_f1": r.get("fc", {}).get("macro_f1")})
        rows.append(row)
    with open(os.path.join(sweep, "results.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    keys = [k for k in ("step", "loss", "val_loss", "windows_per_s", "finished", "ad_f1", "fl_mrr", "fc_f1")
            if any(k in r for r in rows)]
    with open(os.path.join(sweep, "results.md"), "w") as f:
        f.write("| run | overrides | " + " | ".join(keys) + " |\n|---|---|" + "---|" * len(keys) + "\n")
        for r in rows:
            cells = [("%.4g" % r[k]) if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys]
            f.write("| %s | %s | %s |\n" % (r["run"], " ".join(r["overrides"]), " | ".join(cells)))
    print("collected %d run(s) into %s" % (len(rows), os.path.join(sweep, "results.md")))


if __name__ == "__main__":
    main()
