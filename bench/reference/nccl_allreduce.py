#!/usr/bin/env python3
"""Reference for bench/gpu/nccl_bench: torch.distributed all-reduce (backend nccl), same sizes and iterations, one
GPU per rank. Launch with torchrun or under mpirun (reads OMPI_COMM_WORLD_* when RANK is not set)."""
import json
import os
import sys
import time

import torch
import torch.distributed as dist

rank = int(os.environ.get("RANK", os.environ.get("OMPI_COMM_WORLD_RANK", 0)))
world = int(os.environ.get("WORLD_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", 1)))
os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
os.environ.setdefault("MASTER_PORT", "29533")
iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 50
torch.cuda.set_device(rank % torch.cuda.device_count())
dist.init_process_group("nccl", rank=rank, world_size=world)
for mib in (1, 8, 64, 256, 1024):
    x = torch.zeros(mib * 2**20 // 4, dtype=torch.float32, device="cuda")
    for _ in range(5):
        dist.all_reduce(x)
    torch.cuda.synchronize()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(iterations):
        dist.all_reduce(x)
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / iterations
    algbw = x.numel() * 4 / seconds / 1e9
    if rank == 0:
        print(json.dumps({"impl": "torch.distributed", "ranks": world, "mib": mib, "time_us": round(seconds * 1e6, 1),
                          "algbw_gbs": round(algbw, 1), "busbw_gbs": round(algbw * 2 * (world - 1) / world, 1)}))
dist.destroy_process_group()
