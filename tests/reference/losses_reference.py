"""PyTorch reference of the pre-training losses (paper eqs. 4-6) on one process: values and input gradients.

usage: /usr/bin/python3 losses_reference.py <in.json> <out.json>
  in:  {"e_m","e_t","e_l","z": [[...]], "begin","end","labels","fault_types": [...], "options": {temperature, delta,
        gamma, lambda_temp, lambda_anom, lambda_type, lambda_neighbourhood, neighbourhood_ns, mask_overlapping}}
  out: {"modal","temporal","anomaly","type","neighbourhood","total": float, "grad_e_m","grad_e_t","grad_e_l","grad_z": [[...]]}
Written from the equations, independently of the C++ code.
"""
import json
import sys

import torch
import torch.nn.functional as F


def main():
    inp = json.load(open(sys.argv[1]))
    o = inp["options"]
    t = {k: torch.tensor(inp[k], dtype=torch.float32, requires_grad=True) for k in ("e_m", "e_t", "e_l", "z")}
    begin = torch.tensor(inp["begin"], dtype=torch.float64)
    end = torch.tensor(inp["end"], dtype=torch.float64)
    labels = torch.tensor(inp["labels"])
    n = labels.shape[0]

    def overlaps(i, j):
        return i != j and min(end[i], end[j]) > max(begin[i], begin[j])

    def nce(a, b):
        logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / o["temperature"]
        if o.get("mask_overlapping"):  # windows overlapping the anchor are neither positive nor negative
            mask = torch.tensor([[overlaps(i, j) for j in range(n)] for i in range(n)])
            logits = logits.masked_fill(mask, float("-inf"))
        return F.cross_entropy(logits, torch.arange(n))

    def sym(a, b):
        return 0.5 * (nce(a, b) + nce(b, a))

    modal = (sym(t["e_t"], t["e_m"]) + sym(t["e_t"], t["e_l"]) + sym(t["e_m"], t["e_l"])) / 3

    zn = F.normalize(t["z"], dim=-1)
    sim = zn @ zn.T
    temporal = torch.zeros(())
    Z = 0.0
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            overlap = max(0.0, min(end[i], end[j]) - max(begin[i], begin[j]))
            w = overlap / max(end[i] - begin[i], end[j] - begin[j])
            Z += w
            temporal = temporal + w * torch.clamp(o["delta"] - sim[i, j], min=0)
    temporal = temporal / Z if Z > 0 else torch.zeros(())

    pairs = [(i, j) for i in range(n) for j in range(n) if labels[i] == 0 and labels[j] == 1]
    anomaly = sum(torch.clamp(sim[i, j] - o["gamma"], min=0) for i, j in pairs) / len(pairs) if pairs else torch.zeros(())

    def supervised_contrastive(member, related):
        """Each member's positives: the other members related to it that do not overlap it; its softmax runs over
        the other members that do not overlap it. The mean over anchors (members with a positive)."""
        per_anchor = []
        for i in range(n):
            if not member[i]:
                continue
            pos = [j for j in range(n) if j != i and member[j] and related(i, j) and not overlaps(i, j)]
            if not pos:
                continue
            cand = [j for j in range(n) if j != i and member[j] and not overlaps(i, j)]
            logits = sim[i, cand] / o["temperature"]
            log_prob = logits - torch.logsumexp(logits, 0)
            per_anchor.append(-sum(log_prob[cand.index(p)] for p in pos) / len(pos))
        return sum(per_anchor) / len(per_anchor) if per_anchor else torch.zeros(())

    # Fault type: over abnormal rows of known type, positives of the anchor's type.
    types = inp.get("fault_types", [-1] * n)
    typed = [labels[i] == 1 and types[i] >= 0 for i in range(n)]
    type_term = supervised_contrastive(typed, lambda i, j: types[j] == types[i])
    # Neighbourhood: over the rows not labelled abnormal, positives that begin within the horizon.
    horizon = o.get("neighbourhood_ns", 0)
    neighbourhood = supervised_contrastive([labels[i] != 1 for i in range(n)],
                                           lambda i, j: abs(begin[i] - begin[j]) <= horizon)

    total = (modal + o["lambda_temp"] * temporal + o["lambda_anom"] * anomaly + o.get("lambda_type", 0) * type_term +
             o.get("lambda_neighbourhood", 0) * neighbourhood)
    total.backward()
    out = {"modal": modal.item(), "temporal": float(temporal), "anomaly": float(anomaly), "type": float(type_term),
           "neighbourhood": float(neighbourhood), "total": total.item()}
    for k in t:
        out["grad_" + k] = t[k].grad.tolist()
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
