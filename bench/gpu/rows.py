#!/usr/bin/env python3
"""bench/gpu/run.sh's gpu_results.jsonl -> bench/run's table rows (ours beside the reference, ratio = ours / ref)."""
import json
import sys

pairs = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        res = r["result"]
        key = (r["row"], res.get("mib"))
        pairs.setdefault(key, {"gpu": r["gpu"]})[res["impl"]] = res
for (row, mib), p in pairs.items():
    ours = p.get("rslicer")
    if row == "nccl-allreduce":
        ref = p.get("torch.distributed")
        if ours and ref:
            print(json.dumps({"benchmark": "NCCL all-reduce us/call, %d MiB, %d rank(s), %s (busbw %.1f GB/s); ratio < 1 is faster" % (
                mib, ours["ranks"], p["gpu"], ours["busbw_gbs"]), "ours": ours["time_us"], "reference": ref["time_us"],
                "reference_name": "torch.distributed nccl", "ratio": ours["time_us"] / ref["time_us"]}))
        continue
    ref = p.get("hf-transformers")
    if not ours:
        continue
    label = "GPU training step seconds, %s, %d x %d, %s attention, %s (%.0f tokens/s, MFU %.1f%%, peak %.1f GiB)" % (
        row, ours["batch"], ours["seq"], ours["attention"], p["gpu"], ours["tokens_per_s"], 100 * ours["mfu"], ours["peak_gib"])
    print(json.dumps({"benchmark": label + "; ratio < 1 is faster", "ours": ours["step_s"],
                      "reference": ref["step_s"] if ref else 0, "reference_name": "HF transformers eager (MFU %.1f%%)" % (100 * ref["mfu"]) if ref else "",
                      "ratio": ours["step_s"] / ref["step_s"] if ref else 0}))
