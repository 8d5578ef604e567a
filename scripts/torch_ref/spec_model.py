"""Model specs in PyTorch: wasm-trainer's JSON layer lists (README, "The model spec";
presets and default hyperparameters in src/defaults.json) as torch.nn.Sequential, and
the trainer's Dropout masks reproduced bit for bit.

    spec = preset("bn-cnn")                  # or any spec dict {"input": [C,H,W], "layers": [...]}
    model = build_model(spec)                # nn.Sequential(OrderedDict(...)): state names as the trainer's
    model = build_model(spec, masked_dropout=True)   # Dropout -> MaskedDropout (the trainer's masks)
    set_dropout_masks(model, seed, step, n)  # the masks of optimizer step `step` for a batch of n
    canonical(spec), canonical_json(spec)    # every argument explicit, as checkpoints store it
    analytically_zero_grads(spec)            # biases feeding BatchNorm: gradient exactly 0

Layer types are PyTorch's class names and arguments PyTorch's argument names with
PyTorch's defaults; in_channels / in_features / num_features are inferred from the
shapes. A layer's state is named "<name>.weight" etc., <name> being its "name" or else
its index in the list as a string (exactly nn.Sequential(OrderedDict(...))). For the
"seed" preset this gives the seed's CNN (model.py) names, shapes and, under the same
torch.manual_seed, the same initial values (layers are constructed in the same order).

Dropout (src/core/rng.h, dropout_stream): the mask of image `position` of the batch of
optimizer step `step` (steps taken before the batch) at spec layer `layer` comes from
    SplitMix64(stream_seed(stream_seed(seed, 3, step), layer, position)):
element j (flat C,H,W order) draws u_j = (next() >> 40) * 2^-24 (its j-th draw) and is
kept iff u_j >= float32(p); kept elements are multiplied by float32(1 / (1 - p)).

    /usr/bin/python3 scripts/torch_ref/spec_model.py --self-test
checks the seed preset against the seed's CNN, the stream against values computed with
src/core/rng.h, and that every preset builds, canonicalizes idempotently and runs.
"""
import copy
import json
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULTS_PATH = os.path.join(ROOT, "src", "defaults.json")

_defaults = None


def defaults():
    """src/defaults.json (hyperparameters, default_model, presets), read once."""
    global _defaults
    if _defaults is None:
        with open(DEFAULTS_PATH, encoding="utf-8") as f:
            _defaults = json.load(f)
    return _defaults


def hyperparameters():
    return dict(defaults()["hyperparameters"])


def preset_names():
    return list(defaults()["presets"])


def preset(name):
    """A preset's spec {"input", "layers"} (a copy; the description left out)."""
    presets = defaults()["presets"]
    if name not in presets:
        raise SpecError(f'unknown model "{name}"; the presets are {", ".join(presets)}')
    p = presets[name]
    return {"input": copy.deepcopy(p["input"]), "layers": copy.deepcopy(p["layers"])}


class SpecError(ValueError):
    """An invalid spec; the message names the layer's index, type and field."""


# ------------------------------------------------------------------ canonical form

# type -> {argument: default} (None = required); sizes are normalized to [h, w].
_ARGS = {
    "Conv2d": {"out_channels": None, "kernel_size": None, "stride": 1, "padding": 0, "bias": True},
    "MaxPool2d": {"kernel_size": None, "stride": None, "padding": 0},
    "AvgPool2d": {"kernel_size": None, "stride": None, "padding": 0},
    "AdaptiveAvgPool2d": {"output_size": 1},
    "ReLU": {},
    "LeakyReLU": {"negative_slope": 0.01},
    "Tanh": {},
    "Sigmoid": {},
    "Flatten": {},
    "Linear": {"out_features": None, "bias": True},
    "Dropout": {"p": 0.5},
    "BatchNorm2d": {"eps": 1e-5, "momentum": 0.1, "affine": True},
    "BatchNorm1d": {"eps": 1e-5, "momentum": 0.1, "affine": True},
}
_SIZES = ("kernel_size", "stride", "padding", "output_size")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pair(v, where, field, minimum):
    if _is_int(v):
        v = [v, v]
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) for x in v)):
        raise SpecError(f"{where}: {field} must be an integer or a list [h, w] of two integers, got {json.dumps(v)}")
    if any(x < minimum for x in v):
        raise SpecError(f"{where}: {field} must be >= {minimum}, got {json.dumps(list(v))}")
    return [int(v[0]), int(v[1])]


def canonical(spec):
    """The spec with every argument explicit (PyTorch's defaults filled in), sizes as
    [h, w], output_size [1, 1]; layer names kept where given. Validates the fields
    and the shapes (SpecError names the layer index, type and field)."""
    if not isinstance(spec, dict):
        raise SpecError(f"a spec is a JSON object {{\"input\": [C, H, W], \"layers\": [...]}}, got {type(spec).__name__}")
    unknown = sorted(set(spec) - {"input", "layers", "description"})
    if unknown:
        raise SpecError(f'spec: unknown field "{unknown[0]}" (expected "input" and "layers")')
    inp = spec.get("input")
    if not (isinstance(inp, list) and len(inp) == 3 and all(_is_int(v) and v > 0 for v in inp)):
        raise SpecError(f"spec: input must be [C, H, W], three positive integers, got {json.dumps(inp)}")
    layers = spec.get("layers")
    if not isinstance(layers, list) or not layers:
        raise SpecError("spec: layers must be a non-empty list")
    out = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("type"), str):
            raise SpecError(f'layer {i}: each layer is an object with a "type" (one of {", ".join(_ARGS)})')
        t = layer["type"]
        where = f"layer {i} ({t})"
        if t not in _ARGS:
            raise SpecError(f'layer {i}: unknown type "{t}" (expected one of {", ".join(_ARGS)})')
        args = _ARGS[t]
        for k in layer:
            if k not in args and k not in ("type", "name"):
                raise SpecError(f'{where}: unknown field "{k}" (expected {", ".join(["name"] + list(args)) or "name only"})')
        c = {"type": t}
        if "name" in layer:
            n = layer["name"]
            if not isinstance(n, str) or not n or "." in n:
                raise SpecError(f"{where}: name must be a non-empty string without '.', got {json.dumps(n)}")
            c["name"] = n
        for k, d in args.items():
            v = layer.get(k, d)
            if v is None and not (k == "stride" and t in ("MaxPool2d", "AvgPool2d")):
                raise SpecError(f"{where}: {k} is required")
            if k in ("out_channels", "out_features"):
                if not _is_int(v) or v < 1:
                    raise SpecError(f"{where}: {k} must be a positive integer, got {json.dumps(v)}")
            elif k == "kernel_size":
                v = _pair(v, where, k, 1)
            elif k == "stride":
                v = c["kernel_size"] if v is None else _pair(v, where, k, 1)
            elif k == "padding":
                v = _pair(v, where, k, 0)
            elif k == "output_size":
                if _pair(v, where, k, 1) != [1, 1]:
                    raise SpecError(f"{where}: output_size must be 1 (only global average pooling), got {json.dumps(v)}")
                v = [1, 1]
            elif k in ("bias", "affine"):
                if not isinstance(v, bool):
                    raise SpecError(f"{where}: {k} must be true or false, got {json.dumps(v)}")
            elif k == "p":
                if not _is_num(v) or not 0 <= v <= 1:
                    raise SpecError(f"{where}: p must be a number in [0, 1], got {json.dumps(v)}")
            elif k in ("eps",):
                if not _is_num(v) or not v > 0:
                    raise SpecError(f"{where}: eps must be a positive number, got {json.dumps(v)}")
            elif k == "momentum":
                if not _is_num(v) or not 0 <= v <= 1:
                    raise SpecError(f"{where}: momentum must be a number in [0, 1], got {json.dumps(v)}")
            elif k == "negative_slope":
                if not _is_num(v):
                    raise SpecError(f"{where}: negative_slope must be a number, got {json.dumps(v)}")
            c[k] = v
        out.append(c)
    names = [layer.get("name", str(i)) for i, layer in enumerate(out)]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise SpecError(f'layer {i} ({out[i]["type"]}): name "{n}" is already used by layer {names.index(n)}')
    result = {"input": [int(v) for v in inp], "layers": out}
    shapes(result)  # validates the shapes
    return result


def canonical_json(spec):
    """Canonical JSON text: keys sorted, no spaces (nlohmann's dump(), as the C++ writes)."""
    return json.dumps(canonical(spec), sort_keys=True, separators=(",", ":"))


def layer_names(spec):
    return [layer.get("name", str(i)) for i, layer in enumerate(spec["layers"])]


# ------------------------------------------------------------------ shapes

def shapes(spec):
    """[(in_shape, out_shape)] per layer of a canonical spec; a shape is (C, H, W) or (F,)."""
    s = tuple(spec["input"])
    res = []
    for i, L in enumerate(spec["layers"]):
        t = L["type"]
        where = f"layer {i} ({t})"
        spatial = len(s) == 3

        def need_spatial():
            if not spatial:
                raise SpecError(f"{where}: expects a [C, H, W] input but gets the flat {list(s)} (remove the Flatten before it?)")

        if t in ("Conv2d", "MaxPool2d", "AvgPool2d"):
            need_spatial()
            (kh, kw), (sh, sw), (ph, pw) = L["kernel_size"], L["stride"], L["padding"]
            if t != "Conv2d" and (2 * ph > kh or 2 * pw > kw):
                raise SpecError(f"{where}: padding {L['padding']} must be at most half of kernel_size {L['kernel_size']}")
            if kh > s[1] + 2 * ph or kw > s[2] + 2 * pw:
                raise SpecError(f"{where}: kernel_size {L['kernel_size']} is larger than the padded input "
                                f"{[s[1] + 2 * ph, s[2] + 2 * pw]}")
            o = (L["out_channels"] if t == "Conv2d" else s[0],
                 (s[1] + 2 * ph - kh) // sh + 1, (s[2] + 2 * pw - kw) // sw + 1)
        elif t == "AdaptiveAvgPool2d":
            need_spatial()
            o = (s[0], 1, 1)
        elif t == "BatchNorm2d":
            need_spatial()
            o = s
        elif t in ("Linear", "BatchNorm1d"):
            if spatial:
                raise SpecError(f"{where}: expects a flat input but gets {list(s)} (add a Flatten before it)")
            o = (L["out_features"],) if t == "Linear" else s
        elif t == "Flatten":
            o = (int(np.prod(s)),)
        else:  # elementwise
            o = s
        if any(d < 1 for d in o):
            raise SpecError(f"{where}: the output shape {list(o)} shrinks to zero")
        res.append((s, o))
        s = o
    if len(s) != 1:
        raise SpecError(f"the last layer's output is {list(s)}: it must be flat (the classes); end with Flatten or Linear")
    return res


def num_classes(spec):
    return shapes(canonical(spec))[-1][1][0]


def input_size(spec):
    return int(np.prod(spec["input"]))


# ------------------------------------------------------------------ Dropout masks

M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
STREAM_DROPOUT = 3


class SplitMix64:
    """src/core/rng.h's SplitMix64 on Python ints."""

    def __init__(self, seed):
        self.state = seed & M64

    def next(self):
        self.state = (self.state + GAMMA) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def stream_seed(seed, purpose, index):
    a = SplitMix64(seed ^ ((purpose * 0xD1B54A32D192ED03) & M64))
    b = SplitMix64(a.next() ^ ((index * 0x8CB92BA72F3D8DD7) & M64))
    return b.next()


def dropout_stream_seed(seed, step, layer, position):
    """The state dropout_stream(seed, step, layer, position) starts from."""
    return stream_seed(stream_seed(seed, STREAM_DROPOUT, step), layer, position)


def splitmix_draws(state, count):
    """The first `count` outputs of SplitMix64(state), vectorized (uint64 numpy, wrapping):
    the j-th draw mixes state + (j + 1) * GAMMA."""
    with np.errstate(over="ignore"):
        z = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(GAMMA) + np.uint64(state)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform01(draws):
    """rng.h's uniform01(): float32((z >> 40)) * 2^-24, exact."""
    return (draws >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def dropout_keep(seed, step, layer, n, numel, p):
    """bool [n, numel]: which elements the trainer keeps for the n images of a batch."""
    pf = np.float32(p)
    keep = np.empty((n, numel), dtype=bool)
    for pos in range(n):
        keep[pos] = uniform01(splitmix_draws(dropout_stream_seed(seed, step, layer, pos), numel)) >= pf
    return keep


def dropout_scale(p):
    """float32(1.0 / (1.0 - p)) (in double, then rounded), 0 for p = 1 (nothing is kept)."""
    return np.float32(0.0) if p >= 1 else np.float32(1.0 / (1.0 - float(p)))


def dropout_mask(seed, step, layer, n, numel, p):
    """float32 [n, numel]: dropout_scale(p) where kept, 0 where dropped."""
    return np.where(dropout_keep(seed, step, layer, n, numel, p), dropout_scale(p), np.float32(0.0)).astype(np.float32)


class MaskedDropout(nn.Module):
    """nn.Dropout with the trainer's masks: in train mode the input is multiplied by a
    mask set beforehand (set_dropout_masks), elementwise, once; in eval mode it is the
    identity. No state (state_dict as nn.Dropout's: empty)."""

    def __init__(self, p, layer, numel):
        super().__init__()
        self.p, self.layer, self.numel = float(p), int(layer), int(numel)
        self.mask = None  # [n, numel] tensor, set per batch

    def forward(self, x):
        if not self.training:
            return x
        if self.mask is None or self.mask.shape[0] != x.shape[0]:
            raise RuntimeError(f"MaskedDropout at layer {self.layer}: no mask for a batch of {x.shape[0]} "
                               "(call set_dropout_masks(model, seed, step, n) first)")
        return x * self.mask.to(x.dtype).view_as(x)

    def extra_repr(self):
        return f"p={self.p}, layer={self.layer} (the trainer's masks)"


def set_dropout_masks(model, seed, step, n):
    """Gives every MaskedDropout of `model` the trainer's masks for optimizer step
    `step` (steps taken before this batch) and a batch of n images."""
    for m in model.modules():
        if isinstance(m, MaskedDropout):
            m.mask = torch.from_numpy(dropout_mask(seed, step, m.layer, n, m.numel, m.p))


def train_forward(model, x, seed, step):
    """model(x) in train mode with the trainer's Dropout masks of step `step`."""
    model.train()
    set_dropout_masks(model, seed, step, x.shape[0])
    return model(x)


# ------------------------------------------------------------------ the model

def build_model(spec, masked_dropout=False):
    """nn.Sequential(OrderedDict) for a spec (validated and canonicalized first). Its
    parameters are PyTorch's default init, drawn from torch's global RNG in layer order.
    masked_dropout: Dropout layers become MaskedDropout (the trainer's masks)."""
    spec = canonical(spec)
    mods = OrderedDict()
    for i, (L, (s, o)) in enumerate(zip(spec["layers"], shapes(spec))):
        t = L["type"]
        name = L.get("name", str(i))
        if t == "Conv2d":
            m = nn.Conv2d(s[0], L["out_channels"], kernel_size=tuple(L["kernel_size"]), stride=tuple(L["stride"]),
                          padding=tuple(L["padding"]), bias=L["bias"])
        elif t == "MaxPool2d":
            m = nn.MaxPool2d(tuple(L["kernel_size"]), stride=tuple(L["stride"]), padding=tuple(L["padding"]))
        elif t == "AvgPool2d":
            m = nn.AvgPool2d(tuple(L["kernel_size"]), stride=tuple(L["stride"]), padding=tuple(L["padding"]))
        elif t == "AdaptiveAvgPool2d":
            m = nn.AdaptiveAvgPool2d((1, 1))
        elif t == "ReLU":
            m = nn.ReLU()
        elif t == "LeakyReLU":
            m = nn.LeakyReLU(L["negative_slope"])
        elif t == "Tanh":
            m = nn.Tanh()
        elif t == "Sigmoid":
            m = nn.Sigmoid()
        elif t == "Flatten":
            m = nn.Flatten()
        elif t == "Linear":
            m = nn.Linear(s[0], L["out_features"], bias=L["bias"])
        elif t == "Dropout":
            m = MaskedDropout(L["p"], i, int(np.prod(s))) if masked_dropout else nn.Dropout(L["p"])
        elif t in ("BatchNorm2d", "BatchNorm1d"):
            m = getattr(nn, t)(s[0], eps=L["eps"], momentum=L["momentum"], affine=L["affine"])
        else:  # canonical() knows every type
            raise SpecError(f"layer {i}: unknown type {t}")
        mods[name] = m
    return nn.Sequential(mods)


def is_seed(spec):
    """True when `spec` is the seed's CNN (the seed preset, however written)."""
    try:
        return canonical_json(spec) == canonical_json(preset("seed"))
    except SpecError:
        return False


def preset_of(spec):
    """The name of the preset `spec` is (canonically), or "custom"."""
    c = canonical_json(spec)
    for n in preset_names():
        if canonical_json(preset(n)) == c:
            return n
    return "custom"


def analytically_zero_grads(spec):
    """Parameters whose gradient is exactly 0 in train mode: the bias of a Conv2d or
    Linear directly followed by a BatchNorm (which subtracts each channel's batch mean,
    so a per-channel constant cannot change the output). PyTorch computes them as
    float32 rounding noise (up to ~1e-5 here), which Adam, dividing by sqrt(v) + eps,
    turns into steps of about +-lr; the fixtures use the exact 0, as the trainer does."""
    spec = canonical(spec)
    out = []
    L = spec["layers"]
    for i in range(len(L) - 1):
        if L[i]["type"] in ("Conv2d", "Linear") and L[i]["bias"] and L[i + 1]["type"] in ("BatchNorm2d", "BatchNorm1d"):
            out.append(L[i].get("name", str(i)) + ".bias")
    return out


def param_names(model):
    return [n for n, _ in model.named_parameters()]


# ------------------------------------------------------------------ files

# ------------------------------------------------------------------ self-test

# First draws of src/core/rng.h, computed with the C++ (g++ on rng.h):
# dropout_stream(7, 0, 3, 0).next() x3, dropout_stream(0, 5, 9, 31).next(),
# stream_seed(0, 1, 0) and stream_seed(123, 2, 4).
_RNG_H_VALUES = {
    "dropout_stream(7,0,3,0)": [0xb620937a70ce4aeb, 0x1c74d7d1708218f6, 0x2f4c00c252fa8f11],
    "dropout_stream(0,5,9,31)": [0xbb7fbcadc3f217d2],
    "stream_seed(0,1,0)": 0x98bc9b3a9f64da94,
    "stream_seed(123,2,4)": 0xa3d82a17f904daf6,
    # keep (1) / drop (0) of the first 20 elements, p = 0.25, seed 7, step 3, layer 9
    "keep(7,3,9,pos 0..1)": ["01111111111011111010", "11010010101000111011"],
}


def self_test():
    from torch_ref.model import CNN  # noqa: E402
    torch.set_num_threads(1)
    ok = True

    def check(cond, what):
        nonlocal ok
        print(("ok    " if cond else "FAIL  ") + what)
        ok = ok and bool(cond)

    # The stream against rng.h.
    v = _RNG_H_VALUES
    check([int(x) for x in splitmix_draws(dropout_stream_seed(7, 0, 3, 0), 3)] == v["dropout_stream(7,0,3,0)"],
          "dropout_stream(7, 0, 3, 0): the first 3 draws are rng.h's")
    r = SplitMix64(dropout_stream_seed(0, 5, 9, 31))
    check([r.next()] == v["dropout_stream(0,5,9,31)"], "dropout_stream(0, 5, 9, 31): scalar SplitMix64 agrees")
    check(stream_seed(0, 1, 0) == v["stream_seed(0,1,0)"] and stream_seed(123, 2, 4) == v["stream_seed(123,2,4)"],
          "stream_seed as rng.h")
    keep = dropout_keep(7, 3, 9, 2, 20, 0.25)
    check(["".join("1" if k else "0" for k in row) for row in keep] == v["keep(7,3,9,pos 0..1)"],
          "keep masks (p = 0.25) as rng.h's uniform01() >= float(p)")
    s = SplitMix64(dropout_stream_seed(3, 1, 2, 5))
    check([s.next() for _ in range(100)] == [int(x) for x in splitmix_draws(dropout_stream_seed(3, 1, 2, 5), 100)],
          "the vectorized draws equal the scalar SplitMix64")
    a, b = dropout_mask(7, 4, 9, 8, 3136, 0.25), dropout_mask(7, 4, 9, 8, 3136, 0.25)
    check(np.array_equal(a, b), "masks are deterministic")
    check(not np.array_equal(a, dropout_mask(7, 5, 9, 8, 3136, 0.25))
          and not np.array_equal(a[0], a[1]) and not np.array_equal(a, dropout_mask(7, 4, 8, 8, 3136, 0.25)),
          "masks differ by step, position and layer")
    frac = float((a == 0).mean())
    check(abs(frac - 0.25) < 0.01 and set(np.unique(a)) == {np.float32(0), np.float32(1 / 0.75)},
          f"dropped fraction {frac:.4f} ~ p = 0.25; kept scale float32(1/0.75)")
    check(dropout_mask(1, 0, 0, 2, 100, 0.0).min() == 1 and dropout_mask(1, 0, 0, 2, 100, 1.0).max() == 0, "p = 0 and p = 1")

    # The seed preset is the seed's CNN.
    torch.manual_seed(0)
    cnn = CNN()
    torch.manual_seed(0)
    seq = build_model(preset("seed"))
    sa, sb = cnn.state_dict(), seq.state_dict()
    check(list(sa) == list(sb) and all(sa[k].shape == sb[k].shape for k in sa),
          f"build_model(preset('seed')) has the seed CNN's state_dict names and shapes {list(sb)}")
    check(all(torch.equal(sa[k], sb[k]) for k in sa), "... and the same init under torch.manual_seed(0)")
    x = torch.rand(3, 1, 28, 28)
    check(torch.equal(cnn(x), seq(x)), "... and the same logits")
    check(is_seed(preset("seed")) and not is_seed(preset("lenet5")), "is_seed")

    # Every preset.
    for name in preset_names():
        sp = preset(name)
        c = canonical(sp)
        check(canonical(c) == c and canonical_json(c) == canonical_json(sp) and preset_of(sp) == name,
              f"{name}: canonical form is idempotent")
        m = build_model(sp, masked_dropout=True)
        xb = torch.rand(4, *sp["input"])
        y = train_forward(m, xb, 7, 0)
        m.eval()
        check(tuple(y.shape) == (4, num_classes(sp)) and tuple(m(xb).shape) == (4, num_classes(sp)),
              f"{name}: train and eval forward give [4, {num_classes(sp)}]; "
              f"{sum(p.numel() for p in m.parameters())} parameters, state {len(m.state_dict())} tensors")
        # The same state names without MaskedDropout.
        check(list(build_model(sp).state_dict()) == list(m.state_dict()), f"{name}: MaskedDropout has no state")

    # Refusals name the layer, its type and the field.
    bad = [({"input": [1, 28, 28], "layers": [{"type": "Linear", "out_features": 10}]}, "layer 0 (Linear)"),
           ({"input": [1, 28, 28], "layers": [{"type": "Conv2d", "out_channels": 4}]}, "kernel_size is required"),
           ({"input": [1, 4, 4], "layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 5}, {"type": "Flatten"}]},
            "larger than the padded input"),
           ({"input": [1, 28, 28], "layers": [{"type": "Flatten", "name": "a"}, {"type": "Linear", "out_features": 3, "name": "a"}]},
            "already used"),
           ({"input": [1, 28, 28], "layers": [{"type": "Conv3d"}]}, 'unknown type "Conv3d"')]
    for sp, msg in bad:
        try:
            canonical(sp)
            check(False, f"refuses: {msg}")
        except SpecError as e:
            check(msg in str(e), f"refuses: {e}")
    # Files: 0-dim tensors keep shape [] (and the checksum holds).
    from torch_ref import wtformat
    d = wtformat.dumps({"a.num_batches_tracked": np.array(3, np.int64), "b": np.ones((2, 2), np.float32)},
                       {"format": "x"})
    back, _ = wtformat.loads(d)
    check(back["a.num_batches_tracked"].shape == () and int(back["a.num_batches_tracked"]) == 3
          and back["b"].shape == (2, 2), "0-dim I64 tensors are written with shape []")
    print("self-test " + ("passed" if ok else "FAILED"))
    return ok


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(0 if self_test() else 1)
    sys.exit(__doc__)
