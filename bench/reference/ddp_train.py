#!/usr/bin/python3
"""The training reference for bench/run: PyTorch DDP (gloo) on the same work as bench/train_bench.cpp.

The tiny Qwen3 of configs/model/tiny.yaml (real 151,669-token vocabulary, hidden 128, 2 layers, 4/2 heads,
head_dim 32, intermediate 384), one backbone call over the three modalities of each window, last-token pooling,
the gated fusion MLP, the global-batch InfoNCE over (M,T), (T,L), (M,L) with all_gather-with-gradient
(torch.distributed.nn), the temporal hinge over the gathered batch; AdamW (lr 3e-4, wd 0.01), clipping at 1.0.
Synthetic token batches, full length, one intra-op thread per rank.

usage: mpirun -np R /usr/bin/python3 ddp_train.py <per_rank_batch> <seq> <steps> [threads] [padding]
padding: mean fraction of left padding, with the lengths rule of train_bench.cpp (sequence_length).
Prints one JSON line (rank 0): medians over the steps after the first two.
"""
import json
import math
import os
import resource
import sys
import time

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn as nn
import torch.nn.functional as F

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, INTER = 151669, 128, 2, 4, 2, 32, 384
EPS, THETA = 1e-6, 1e6


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(HIDDEN), RMSNorm(HIDDEN)
        self.q_proj = nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.k_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.v_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.o_proj = nn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)
        self.q_norm, self.k_norm = RMSNorm(HEAD_DIM), RMSNorm(HEAD_DIM)
        self.gate_proj = nn.Linear(HIDDEN, INTER, bias=False)
        self.up_proj = nn.Linear(HIDDEN, INTER, bias=False)
        self.down_proj = nn.Linear(INTER, HIDDEN, bias=False)

    def forward(self, h, cos, sin, add_mask):
        B, S, _ = h.shape
        x = self.input_layernorm(h)
        q = self.q_norm(self.q_proj(x).view(B, S, HEADS, HEAD_DIM)).transpose(1, 2)
        k = self.k_norm(self.k_proj(x).view(B, S, KV_HEADS, HEAD_DIM)).transpose(1, 2)
        v = self.v_proj(x).view(B, S, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = HEADS // KV_HEADS
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        probs = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(HEAD_DIM) + add_mask, dim=-1)
        h = h + self.o_proj((probs @ v).transpose(1, 2).reshape(B, S, HEADS * HEAD_DIM))
        x = self.post_attention_layernorm(h)
        return h + self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class RuntimeSlicer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.norm = RMSNorm(HIDDEN)
        self.gate = nn.Linear(3 * HIDDEN, 3)
        self.fc1, self.fc2 = nn.Linear(3 * HIDDEN, 256), nn.Linear(256, 128)

    def forward(self, ids, mask):
        n3, S = ids.shape
        inv_freq = 1.0 / (THETA ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
        emb = torch.cat([torch.outer(torch.arange(S).float(), inv_freq)] * 2, dim=-1)
        allowed = torch.tril(torch.ones(S, S, dtype=torch.bool))[None, None] & mask.bool()[:, None, None, :]
        add_mask = torch.zeros(n3, 1, S, S).masked_fill(~allowed, torch.finfo(torch.float32).min)
        h = self.embed_tokens(ids)
        for layer in self.layers:
            h = layer(h, emb.cos(), emb.sin(), add_mask)
        e = F.normalize(self.norm(h)[:, -1], dim=-1)
        B = n3 // 3
        e_m, e_t, e_l = e[:B], e[B:2 * B], e[2 * B:]
        cat = torch.cat([e_m, e_t, e_l], -1)
        g = 3.0 * torch.softmax(self.gate(cat), -1)
        cat = torch.cat([e_m * g[:, :1], e_t * g[:, 1:2], e_l * g[:, 2:]], -1)
        return e_m, e_t, e_l, F.normalize(self.fc2(F.gelu(self.fc1(cat))), dim=-1)


def gather(x):
    return torch.cat(dist_fn.all_gather(x), 0)


def loss_fn(e_m, e_t, e_l, z, begin, end, temperature=0.07, delta=0.8, lambda_temp=0.5):
    n, rank = e_m.shape[0], dist.get_rank()
    labels = torch.arange(n) + rank * n
    g = {k: gather(v) for k, v in (("m", e_m), ("t", e_t), ("l", e_l), ("z", z))}
    local = {"m": e_m, "t": e_t, "l": e_l}

    def sym(a, b):
        return 0.5 * (F.cross_entropy(local[a] @ g[b].T / temperature, labels) +
                      F.cross_entropy(local[b] @ g[a].T / temperature, labels))

    modal = (sym("t", "m") + sym("t", "l") + sym("m", "l")) / 3
    sim = g["z"] @ g["z"].T
    overlap = (torch.minimum(end[:, None], end[None]) - torch.maximum(begin[:, None], begin[None])).clamp(min=0)
    w = overlap / torch.maximum((end - begin)[:, None], (end - begin)[None])
    w.fill_diagonal_(0)
    temporal = (w * (delta - sim).clamp(min=0)).sum() / w.sum().clamp(min=1e-12)
    return modal + lambda_temp * temporal


def sequence_length(step, rank, i, seq, padding):
    h = (i * 2654435761 + step * 40503 + rank * 7919) % (2 ** 64) % 1000
    return max(1, seq - int(h / 1000.0 * 2.0 * padding * seq))


def main():
    batch, seq, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    padding = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    real_tokens = 0
    rank, world = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0)), int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29533", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(RuntimeSlicer(), bucket_cap_mb=25)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    n = batch * world
    begin = torch.arange(n, dtype=torch.float64) * 30.0
    end = begin + 60.0
    times = []
    for step in range(steps):
        gen = torch.Generator().manual_seed(step * 1000003 + rank)
        ids = torch.randint(0, VOCAB, (3 * batch, seq), generator=gen)
        lengths = torch.tensor([sequence_length(step, rank, i, seq, padding) for i in range(3 * batch)])
        mask = (torch.arange(seq)[None, :] >= seq - lengths[:, None]).long()  # left padded, as HF's tokenizer
        ids = ids * mask
        real_tokens += int(mask.sum()) * world if step >= 2 else 0
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(*model(ids, mask), begin, end)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        t = torch.tensor([time.perf_counter() - t0])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)  # the step of the slowest rank, as ours reports
        if step >= 2:
            times.append(t.item())
    rss = torch.tensor([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0])
    dist.all_reduce(rss, op=dist.ReduceOp.MAX)
    if rank == 0:
        t = sorted(times)[len(times) // 2]
        print(json.dumps({"ranks": world, "per_rank_batch": batch, "seq": seq, "windows_per_s": n / t,
                          "padding": padding,
                          "tokens_per_s": real_tokens / len(times) / t, "step_s": t, "peak_rss_mb": rss.item(),
                          "torch": torch.__version__}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
