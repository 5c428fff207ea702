"""Independent reference of HF transformers' Qwen3 forward (modeling_qwen3.py, eager attention), in plain torch.

usage: /usr/bin/python3 qwen3_reference.py <weights.safetensors> <inputs.json> <out.json>
  weights: a RuntimeSlicer backbone ("model.*" HF names) written by our safetensors writer
  inputs:  {"config": {...HF config...}, "ids": [[...]], "mask": [[...]]}  (left padded)
  out:     {"embeddings": [[...]], "hidden_last": [[...]]}
Reads safetensors by hand (8-byte length, JSON header, raw data), so it needs only torch and numpy.
"""
import json
import math
import struct
import sys

import numpy as np
import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e["dtype"]
        b, en = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:en], dtype=np.float32).copy()).reshape(e["shape"])
    return out


def rms_norm(x, w, eps):
    x32 = x.to(torch.float32)
    x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return w * x32.to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(W, cfg, ids, mask):
    B, S = ids.shape
    H, Hkv, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    h = W["model.embed_tokens.weight"][ids]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    pos = torch.arange(S, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.tril(torch.ones(S, S, dtype=torch.bool))
    allowed = causal[None, None] & mask.bool()[:, None, None, :]
    add_mask = torch.zeros(B, 1, S, S).masked_fill(~allowed, torch.finfo(torch.float32).min)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rms_norm(h, W[p + "input_layernorm.weight"], eps)
        q = (x @ W[p + "self_attn.q_proj.weight"].T).view(B, S, H, D)
        k = (x @ W[p + "self_attn.k_proj.weight"].T).view(B, S, Hkv, D)
        v = (x @ W[p + "self_attn.v_proj.weight"].T).view(B, S, Hkv, D).transpose(1, 2)
        q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps).transpose(1, 2)
        k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = H // Hkv
        k = k[:, :, None].expand(B, Hkv, rep, S, D).reshape(B, H, S, D)  # HF repeat_kv
        v = v[:, :, None].expand(B, Hkv, rep, S, D).reshape(B, H, S, D)
        scores = q @ k.transpose(2, 3) / math.sqrt(D) + add_mask
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        attn = (probs @ v).transpose(1, 2).reshape(B, S, H * D)
        h = h + attn @ W[p + "self_attn.o_proj.weight"].T
        x = rms_norm(h, W[p + "post_attention_layernorm.weight"], eps)
        gate = x @ W[p + "mlp.gate_proj.weight"].T
        up = x @ W[p + "mlp.up_proj.weight"].T
        h = h + (torch.nn.functional.silu(gate) * up) @ W[p + "mlp.down_proj.weight"].T
    h = rms_norm(h, W["model.norm.weight"], eps)
    last = h[:, -1]
    return torch.nn.functional.normalize(last, p=2, dim=-1), last


def main():
    W = load_safetensors(sys.argv[1])
    inp = json.load(open(sys.argv[2]))
    ids = torch.tensor(inp["ids"], dtype=torch.int64)
    mask = torch.tensor(inp["mask"], dtype=torch.int64)
    with torch.no_grad():
        e, last = forward(W, inp["config"], ids, mask)
    json.dump({"embeddings": e.tolist(), "hidden_last": last.tolist()}, open(sys.argv[3], "w"))


if __name__ == "__main__":
    main()
