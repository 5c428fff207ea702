#!/usr/bin/env python3
"""Reference for bench/gpu/gpu_step_bench: the same training step with HF transformers' Qwen3Model in PyTorch eager
(SDPA attention, torch.autocast bf16, torch.optim.AdamW with its default multi-tensor path), same config, batch,
sequence, loss and FLOP count. Prints one JSON line.

  hf_train_step.py CONFIG.json BATCH SEQ fp32|bf16 STEPS PEAK_TFLOPS
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
from transformers import Qwen3Config, Qwen3Model

cfg_path, B, S, precision, steps, peak = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), float(sys.argv[6]) * 1e12
with open(cfg_path) as f:
    c = json.load(f)
rope = c.get("rope_parameters", {}).get("rope_theta", c.get("rope_theta", 1e6))
config = Qwen3Config(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], num_hidden_layers=c["num_hidden_layers"],
                     num_attention_heads=c["num_attention_heads"], num_key_value_heads=c["num_key_value_heads"],
                     head_dim=c.get("head_dim", c["hidden_size"] // c["num_attention_heads"]),
                     intermediate_size=c["intermediate_size"], rope_theta=rope, rms_norm_eps=c.get("rms_norm_eps", 1e-6),
                     max_position_embeddings=max(S, 512), use_cache=False)
dev = torch.device("cuda")
torch.manual_seed(0)
model = Qwen3Model._from_config(config, attn_implementation="sdpa", dtype=torch.float32).to(dev).train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
ids = torch.randint(0, config.vocab_size, (B, S), device=dev)
mask = torch.ones(B, S, dtype=torch.int64, device=dev)
labels = torch.arange(B // 2, device=dev)


def step():
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
        h = model(input_ids=ids, attention_mask=mask).last_hidden_state
    z = F.normalize(h[:, -1].float(), dim=-1)
    loss = F.cross_entropy(z[: B // 2] @ z[B // 2:].t() / 0.05, labels)
    loss.backward()
    opt.step()
    return loss


for _ in range(3):
    step()
torch.cuda.synchronize()
torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
for _ in range(steps):
    loss = step()
last = loss.item()
torch.cuda.synchronize()
seconds = (time.perf_counter() - t0) / steps
# Where a step's time goes (synchronising between phases).
phase = {"forward_s": 0.0, "backward_s": 0.0, "optimizer_s": 0.0}
for _ in range(3):
    torch.cuda.synchronize(); a = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
        h = model(input_ids=ids, attention_mask=mask).last_hidden_state
    z = F.normalize(h[:, -1].float(), dim=-1)
    loss = F.cross_entropy(z[: B // 2] @ z[B // 2:].t() / 0.05, labels)
    torch.cuda.synchronize(); b = time.perf_counter()
    loss.backward()
    torch.cuda.synchronize(); c = time.perf_counter()
    opt.step()
    torch.cuda.synchronize(); d = time.perf_counter()
    phase["forward_s"] += (b - a) / 3; phase["backward_s"] += (c - b) / 3; phase["optimizer_s"] += (d - c) / 3
params = sum(p.numel() for p in model.parameters())
non_embedding = params - config.vocab_size * config.hidden_size
tokens = B * S
flops = tokens * (6 * non_embedding + 12 * config.num_hidden_layers * config.num_attention_heads * config.head_dim * S)
print(json.dumps({"impl": "hf-transformers", "params": params, "batch": B, "seq": S, "precision": precision,
                  "attention": "sdpa", "step_s": round(seconds, 5), "tokens_per_s": round(tokens / seconds),
                  "tflops": round(flops / seconds / 1e12, 1), "mfu": round(flops / seconds / peak, 4),
                  "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2), "loss": round(last, 4),
                  "torch": torch.__version__, **{k: round(v, 4) for k, v in phase.items()}}))
