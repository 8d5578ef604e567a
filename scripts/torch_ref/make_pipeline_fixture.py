"""The data pipeline's reference (tests/fixtures/torch_pipeline.safetensors), computed
with PyTorch's own ops in torchvision's order for CIFAR-10 training:
RandomCrop(32, padding=4) -> RandomHorizontalFlip() -> ToTensor() -> Normalize(mean, std).

The crop offsets and flips are the trainer's draws from (seed, epoch, image index)
(src/core/pipeline.cc: Pipeline::draw), reproduced here with the same SplitMix64
streams, so the test checks the draws and the arithmetic both.

    /usr/bin/python3 scripts/torch_ref/make_pipeline_fixture.py tests/fixtures/torch_pipeline.safetensors
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_ref import wtformat  # noqa: E402
from torch_ref.spec_model import SplitMix64, stream_seed  # noqa: E402

STREAM_AUGMENT = 4  # src/core/rng.h
SEED, EPOCH, PAD = 7, 3, 4
MEAN = [0.4914, 0.4822, 0.4465]  # CIFAR-10's (src/defaults.json)
STD = [0.2470, 0.2435, 0.2616]
INDICES = [0, 5, 123, 49999]


def below(rng, bound):
    """rng.h's below(): Lemire's multiply-shift on 32 random bits."""
    return ((rng.next() >> 32) * bound) >> 32


def uniform01(rng):
    return np.float32(rng.next() >> 40) * np.float32(1.0 / 16777216.0)


def draw(index):
    rng = SplitMix64(stream_seed(stream_seed(SEED, STREAM_AUGMENT, EPOCH), index, 0))
    dy, dx = below(rng, 2 * PAD + 1), below(rng, 2 * PAD + 1)
    flip = bool(uniform01(rng) < np.float32(0.5))
    return dy, dx, flip


def main(out):
    g = np.random.default_rng(11)
    images = g.integers(0, 256, size=(len(INDICES), 3, 32, 32), dtype=np.uint8)
    mean = torch.tensor(MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(STD, dtype=torch.float32)[:, None, None]
    train, evals, draws = [], [], []
    for img, k in zip(images, INDICES):
        dy, dx, flip = draw(k)
        draws.append([dy, dx, int(flip)])
        t = torch.from_numpy(img.copy())
        t = F.pad(t, (PAD, PAD, PAD, PAD))[:, dy:dy + 32, dx:dx + 32]  # RandomCrop: zeros, then the window
        if flip:
            t = t.flip(-1)
        x = t.float().div(255)  # ToTensor
        train.append(x.sub(mean).div(std).numpy())  # Normalize: sub_(mean).div_(std)
        evals.append(torch.from_numpy(img.copy()).float().div(255).sub(mean).div(std).numpy())
    wtformat.write(out, {
        "images": images, "indices": np.array(INDICES, dtype=np.int64), "draws": np.array(draws, dtype=np.int64),
        "mean": np.array(MEAN, dtype=np.float32), "std": np.array(STD, dtype=np.float32),
        "train": np.stack(train).astype(np.float32), "eval": np.stack(evals).astype(np.float32),
    }, {"seed": str(SEED), "epoch": str(EPOCH), "crop_padding": str(PAD), "hflip": "true",
        "torch": torch.__version__})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_pipeline.safetensors")
