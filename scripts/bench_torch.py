"""PyTorch reference throughput for `npm run bench`: a model spec built as nn.Sequential
by scripts/torch_ref/spec_model.py (the same spec JSON the trainer reads), Adam, on
images held in memory as bytes and scaled per batch like ToTensor (the same work
wasm-trainer does per step). Prints one JSON line.

usage: /usr/bin/python3 scripts/bench_torch.py DATA_DIR THREADS STEPS [SPEC [WARMUP_SECONDS]]
       /usr/bin/python3 scripts/bench_torch.py --peak   (1 thread: GFLOP/s of PyTorch's best conv)

DATA_DIR holds train-images-idx3-ubyte and train-labels-idx1-ubyte (IDX, images 3-d
[N, H, W] or 4-d [N, C, H, W]); SPEC is a preset name or a spec's JSON text (default:
the default preset). Warm-up: 30 steps or WARMUP_SECONDS (default 1), whichever ends
first, at least 2 steps.

PyTorch runs at its best here: glibc's malloc keeps freed memory instead of returning it
to the kernel (GLIBC_TUNABLES, below; the script re-executes itself with it). With
glibc's defaults a process lands, at random, in one of two modes whose speeds differ up
to 2x (the seed: 8,000 or 15,000 images/s on this machine): where its dynamic mmap
threshold settles decides whether every step's big temporaries are mapped, faulted in
and unmapped again. A fixed threshold with a high trim threshold is the fast mode, every
time; it is what an allocator such as jemalloc gives PyTorch in production.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref.spec_model import build_model, canonical, defaults, hyperparameters, preset  # noqa: E402


def read_idx(path):
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < 4 or b[0] or b[1] or b[2] != 8:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def peak():
    """PyTorch's own best on one thread, as its reference peak: a 3x3 convolution of
    128 to 128 channels on 64 images of 32x32 (forward; oneDNN, with the widest vectors
    and the FMA this CPU has), counted as direct convolution FLOPs. (torch.mm is no
    reference here: Debian's PyTorch multiplies matrices with the generic BLAS.)"""
    import torch.nn.functional as F
    torch.set_num_threads(1)
    n, c, hw = 64, 128, 32
    x, w = torch.rand(n, c, hw, hw), torch.rand(c, c, 3, 3)
    flops = 2 * n * c * c * 9 * hw * hw
    for _ in range(2):
        F.conv2d(x, w, padding=1)
    reps, t0 = 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - t0 < 1.0:
        F.conv2d(x, w, padding=1)
        reps += 1
    sec = time.perf_counter() - t0
    print(json.dumps({"gflops": flops * reps / sec / 1e9, "threads": 1, "torch": torch.__version__}))


MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"


def main():
    if os.environ.get("GLIBC_TUNABLES") != MALLOC_TUNABLES:  # read by malloc at start-up only
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GLIBC_TUNABLES": MALLOC_TUNABLES})
    if sys.argv[1:2] == ["--peak"]:
        return peak()
    data_dir, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    source = sys.argv[4] if len(sys.argv) > 4 else defaults()["default_model"]
    warmup_seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    spec = canonical(json.loads(source) if source.lstrip().startswith("{") else preset(source))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    h = hyperparameters()
    images = read_idx(f"{data_dir}/train-images-idx3-ubyte")
    labels = read_idx(f"{data_dir}/train-labels-idx1-ubyte")
    images = torch.from_numpy(images.reshape(-1, *spec["input"]).copy())
    labels = torch.from_numpy(labels.astype(np.int64))
    batch = h["batch_size"]
    model = build_model(spec)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=h["learning_rate"], betas=(h["beta1"], h["beta2"]), eps=h["eps"])
    crit = nn.CrossEntropyLoss()
    n = images.shape[0]
    last = n - n % batch - batch  # the last full batch's start
    perm = torch.randperm(n)

    def step(i):
        start = (i * batch) % (last + batch)
        idx = perm[start:start + batch]
        x = images[idx].float().div(255)
        loss = crit(model(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    warm = 0
    while warm < 2 or (warm < 30 and time.perf_counter() - t0 < warmup_seconds):
        step(warm)
        warm += 1
    t0 = time.perf_counter()
    for i in range(steps):
        step(warm + i)
    sec = time.perf_counter() - t0
    print(json.dumps({"images_per_second": steps * batch / sec, "threads": threads, "steps": steps,
                      "warmup_steps": warm, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
