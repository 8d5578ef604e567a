"""PyTorch reference throughput for `npm run bench`: the seed's CNN, Adam, batch 64,
on MNIST held in memory as bytes and scaled per batch like ToTensor (the same work
wasm-trainer does per step). Prints one JSON line.

usage: /usr/bin/python3 scripts/bench_torch.py DATA_DIR THREADS STEPS
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class CNN(nn.Module):  # shared/seed: the tutorial's model
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1, 1)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(8, 16, 3, 1, 1)
        self.fc1 = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc1(x.reshape(x.shape[0], -1))


def main():
    data_dir, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    images = np.fromfile(f"{data_dir}/train-images-idx3-ubyte", dtype=np.uint8, offset=16)
    labels = np.fromfile(f"{data_dir}/train-labels-idx1-ubyte", dtype=np.uint8, offset=8)
    images = torch.from_numpy(images.reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(labels.astype(np.int64))
    model = CNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    perm = torch.randperm(images.shape[0])

    def step(i):
        idx = perm[(i * 64) % 59968:(i * 64) % 59968 + 64]
        x = images[idx].float().div(255)
        loss = crit(model(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(30):
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    sec = time.perf_counter() - t0
    print(json.dumps({"images_per_second": steps * 64 / sec, "threads": threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
