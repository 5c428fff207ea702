#!/usr/bin/python3
"""An independent reader of rslicer checkpoints (manifest.json + safetensors shards), for the tests.

  checkpoint_tool.py diff A B        max |params A - params B| over the whole flat parameters
  checkpoint_tool.py flip DIR K      flips one bit in the data of shard K (bit rot)
  checkpoint_tool.py truncate DIR K  cuts shard K to half its size
"""
import json, os, struct, sys
import numpy as np


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        b, e = t['data_offsets']
        dtype = {'F32': np.float32, 'U8': np.uint8}[t['dtype']]
        out[name] = np.frombuffer(data[b:e], dtype=dtype)
    return out, 8 + n


def flat_params(ckpt):
    m = json.load(open(os.path.join(ckpt, 'manifest.json')))
    flat = np.zeros(m['numel'], dtype=np.float32)
    covered = 0
    for f in m['files']:
        if 'rank' not in f:
            continue
        tensors, _ = read_safetensors(os.path.join(ckpt, f['name']))
        flat[f['begin']:f['end']] = tensors['params']
        covered += f['end'] - f['begin']
    assert covered == m['numel'], (covered, m['numel'])
    return flat


def shard_path(ckpt, k):
    m = json.load(open(os.path.join(ckpt, 'manifest.json')))
    return os.path.join(ckpt, [f for f in m['files'] if f.get('rank') == k][0]['name'])


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'diff':
        a, b = flat_params(sys.argv[2]), flat_params(sys.argv[3])
        print(f'{float(np.abs(a - b).max()):.3g}')
    elif cmd == 'flip':
        path = shard_path(sys.argv[2], int(sys.argv[3]))
        _, data_start = read_safetensors(path)
        size = os.path.getsize(path)
        with open(path, 'r+b') as f:
            pos = data_start + (size - data_start) // 3
            f.seek(pos)
            byte = f.read(1)[0]
            f.seek(pos)
            f.write(bytes([byte ^ 0x10]))
    elif cmd == 'truncate':
        path = shard_path(sys.argv[2], int(sys.argv[3]))
        os.truncate(path, os.path.getsize(path) // 2)
