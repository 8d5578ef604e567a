"""The PyTorch side of the interop tests (tests/node/interop.test.js): the seed's model,
optimizer and training loop, driven on files.

  step.py train OUT.pth [--steps N] [--seed S] [--batch-size B] [--lr X] [--train-limit N]
      Trains the seed's CNN from PyTorch's default init (torch.manual_seed(S)) for N
      Adam steps over MNIST in a per-epoch torch.randperm order, and saves the seed's
      checkpoint {"model": state_dict, "optimizer": optimizer.state_dict()}.

  step.py step CKPT.pth OUT.safetensors [--batch-start I] [--batch-size B] [--test-limit N]
                                         [--save-after AFTER.pth]
      Loads CKPT exactly as the seed does (model.load_state_dict, then
      optimizer.load_state_dict), evaluates the first N test images, then takes ONE
      training step on train images [I, I+B) and writes, in wasm-trainer's container
      format (metadata format = wasm-trainer-torch-step, format_version = 1):
        predictions                          I64 [N]  argmax of the logits of the test images
        test_loss, test_accuracy             F32 [1]  mean CrossEntropyLoss; fraction correct
        test_correct                         I64 [1]
        loss                                 F32 [1]  loss of the training batch, before the step
        after.<param>                        F32      params after the step
        after.optimizer.<param>.exp_avg      F32      Adam's moments after the step
        after.optimizer.<param>.exp_avg_sq   F32
      with metadata step (Adam's count after the step), lr, betas, eps, weight_decay.

Images are bytes / 255 (ToTensor); labels int64. One torch thread (deterministic, and
the machine is small).
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_ref import wtformat  # noqa: E402
from torch_ref.model import CNN, MNIST_DIR, PARAM_NAMES, load_mnist, make_adam  # noqa: E402


def cmd_train(a):
    torch.manual_seed(a.seed)
    model = CNN()
    opt = make_adam(model, lr=a.lr)
    crit = nn.CrossEntropyLoss()
    x, y, _, _ = load_mnist("train", a.data, a.train_limit)
    gen = torch.Generator().manual_seed(a.seed)
    perm, pos = torch.randperm(len(x), generator=gen), 0
    losses = []
    for _ in range(a.steps):
        if pos >= len(x):  # a new epoch, like DataLoader(shuffle=True), last batch partial
            perm, pos = torch.randperm(len(x), generator=gen), 0
        idx = perm[pos:pos + a.batch_size]
        pos += a.batch_size
        loss = crit(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, a.out)
    print(f"trained {a.steps} steps, last loss {losses[-1]:.4f}; saved {a.out}")


def cmd_step(a):
    ck = torch.load(a.ckpt, map_location="cpu")
    model = CNN()
    model.load_state_dict(ck["model"])
    opt = make_adam(model)
    opt.load_state_dict(ck["optimizer"])  # restores lr, betas, eps, weight_decay and the state
    crit = nn.CrossEntropyLoss()
    out = {}
    xt, yt, _, _ = load_mnist("test", a.data, a.test_limit)
    with torch.no_grad():
        logits = model(xt)
        out["test_loss"] = np.array([crit(logits, yt).item()], np.float32)
        pred = logits.argmax(1)
    correct = int((pred == yt).sum())
    out["predictions"] = pred.numpy().astype(np.int64)
    out["test_correct"] = np.array([correct], np.int64)
    out["test_accuracy"] = np.array([correct / len(yt)], np.float32)

    x, y, _, _ = load_mnist("train", a.data, a.batch_start + a.batch_size)
    x, y = x[a.batch_start:], y[a.batch_start:]
    loss = crit(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    out["loss"] = np.array([loss.item()], np.float32)
    for n, p in model.named_parameters():
        st = opt.state[p]
        out[f"after.{n}"] = p.detach().numpy().copy()
        out[f"after.optimizer.{n}.exp_avg"] = st["exp_avg"].numpy().copy()
        out[f"after.optimizer.{n}.exp_avg_sq"] = st["exp_avg_sq"].numpy().copy()
    g = opt.param_groups[0]
    step = int(opt.state[next(model.parameters())]["step"])
    md = {"format": "wasm-trainer-torch-step", "format_version": "1", "torch_version": torch.__version__,
          "step": str(step), "batch_start": str(a.batch_start), "batch_size": str(a.batch_size),
          "test_count": str(len(yt)), "learning_rate": "%.17g" % g["lr"], "beta1": "%.17g" % g["betas"][0],
          "beta2": "%.17g" % g["betas"][1], "eps": "%.17g" % g["eps"], "weight_decay": "%.17g" % g["weight_decay"]}
    wtformat.write(a.out, out, md)
    if a.save_after:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, a.save_after)
    print(f"test accuracy {correct}/{len(yt)}, batch loss {loss.item():.6f}, step {step}; wrote {a.out}")


def main(argv=None):
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description="PyTorch side of wasm-trainer's interop tests")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("out")
    t.add_argument("--steps", type=int, default=50)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--train-limit", type=int, default=None)
    t.add_argument("--data", default=MNIST_DIR)
    s = sub.add_parser("step")
    s.add_argument("ckpt")
    s.add_argument("out")
    s.add_argument("--batch-start", type=int, default=0)
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--test-limit", type=int, default=None)
    s.add_argument("--save-after")
    s.add_argument("--data", default=MNIST_DIR)
    a = ap.parse_args(argv)
    {"train": cmd_train, "step": cmd_step}[a.cmd](a)


if __name__ == "__main__":
    main()
