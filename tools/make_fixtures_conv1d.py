#!/usr/bin/env python3
"""PyTorch reference fixtures for tests/conv1d.rs: Conv1d and the 1-D pools.

For every case below this script builds the network its DSL describes out of
PyTorch modules (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d, nn.Linear), fills
every parameter with seeded uniform(-0.5, 0.5) values, draws a seeded
uniform(-1, 1) input and a seeded uniform(-1, 1) `r` shaped like the output,
and writes tests/fixtures/conv1d_<case>.safetensors holding (all float64):

    <layer>.<param>      every parameter, PyTorch state_dict naming and layout
    input, output        no batch dimension, our layout ([steps, features])
    r, loss              loss = sum(output * r)
    grad.<param>         autograd's dloss/dparam
    grad.input           autograd's dloss/dinput
    f32.output, f32.loss, f32.grad.<param>, f32.grad.input
                         the same computed by PyTorch in float32, from the
                         float64 parameters, input and r rounded to float32
                         (stored widened to float64)

and in `__metadata__`: `dsl` (the model's body, verbatim as in
tests/conv1d.rs), `type` (the Rust struct name), `kind` = "conv1d",
`generator`.

Semantics (DESIGN.md): a sequence [t, f] is PyTorch's [f, t] transposed
(features are channels); `padding = same` is TensorFlow's: total
max((ceil(n/s) − 1)·s + (k − 1)·d + 1 − n, 0), the smaller half before
(F.pad); `causal` pads (k − 1)·d before and nothing after; an integer p pads
p on both sides (nn.Conv1d's own padding); softmax is over the features of
each step (dim 1 of PyTorch's [N, C, T]); pooling floors, stride defaults to
the window; Dense on a sequence applies per step.

Deterministic: each case seeds torch from a CRC32 of its name. CPU only:

    /tmp/venv-train/bin/python tools/make_fixtures_conv1d.py
"""

import math
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "fixtures"


class Conv1d(nn.Module):
    """Our Conv1d on [T, F]: nn.Conv1d on [1, F, T] after F.pad."""

    def __init__(self, f, filters, kernel, stride=1, dilation=1, padding="valid",
                 groups=1, bias=True, activation="linear", n=None):
        super().__init__()
        span = (kernel - 1) * dilation + 1
        if padding == "valid":
            self.pad = (0, 0)
        elif padding == "causal":
            self.pad = (span - 1, 0)
        elif padding == "same":
            total = max((math.ceil(n / stride) - 1) * stride + span - n, 0)
            self.pad = (total // 2, total - total // 2)
        else:
            self.pad = (padding, padding)
        self.conv = nn.Conv1d(f, filters, kernel, stride=stride, dilation=dilation,
                              groups=groups, bias=bias)
        self.activation = activation

    def forward(self, x):  # x: [T, F]
        z = self.conv(F.pad(x.T.unsqueeze(0), self.pad)).squeeze(0)  # [O, T']
        z = activate(z, self.activation, dim=0)
        return z.T


class Pool1d(nn.Module):
    def __init__(self, kind, size, stride=None):
        super().__init__()
        stride = stride or size
        self.pool = (nn.MaxPool1d if kind == "max" else nn.AvgPool1d)(size, stride)

    def forward(self, x):
        return self.pool(x.T.unsqueeze(0)).squeeze(0).T


class Dense(nn.Module):
    def __init__(self, f, units, activation="linear"):
        super().__init__()
        self.lin = nn.Linear(f, units)
        self.activation = activation

    def forward(self, x):  # per step: x [T, F]
        return activate(self.lin(x), self.activation, dim=-1)


def activate(z, act, dim):
    return {
        "linear": lambda v: v,
        "relu": torch.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "softmax": lambda v: torch.softmax(v, dim=dim),
    }[act](z)


# name -> (Rust type, input [t, f], DSL body, layers: list of (name, ctor(f, t)))
CASES = {
    "valid_k3": ("C1Valid", (10, 3), """
        input: [10, 3],
        c: Conv1d(4, kernel = 3, activation = tanh),
    """, [("c", lambda f, t: Conv1d(f, 4, 3, activation="tanh"))]),
    "same_s2": ("C1SameS2", (11, 3), """
        input: [11, 3],
        c: Conv1d(5, kernel = 4, stride = 2, padding = same, activation = relu),
    """, [("c", lambda f, t: Conv1d(f, 5, 4, stride=2, padding="same", activation="relu", n=t))]),
    "causal_stack": ("C1Causal", (16, 2), """
        input: [16, 2],
        c1: Conv1d(4, kernel = 2, padding = causal, activation = tanh),
        c2: Conv1d(4, kernel = 2, dilation = 2, padding = causal, activation = tanh),
        c4: Conv1d(4, kernel = 3, dilation = 4, padding = causal, activation = sigmoid),
        head: Dense(1),
    """, [
        ("c1", lambda f, t: Conv1d(f, 4, 2, padding="causal", activation="tanh")),
        ("c2", lambda f, t: Conv1d(f, 4, 2, dilation=2, padding="causal", activation="tanh")),
        ("c4", lambda f, t: Conv1d(f, 4, 3, dilation=4, padding="causal", activation="sigmoid")),
        ("head", lambda f, t: Dense(f, 1)),
    ]),
    "groups2": ("C1Groups", (8, 4), """
        input: [8, 4],
        c: Conv1d(6, kernel = 3, groups = 2, padding = 1, activation = softmax),
    """, [("c", lambda f, t: Conv1d(f, 6, 3, groups=2, padding=1, activation="softmax"))]),
    "nobias": ("C1NoBias", (9, 3), """
        input: [9, 3],
        c: Conv1d(2, kernel = 3, dilation = 2, bias = false),
    """, [("c", lambda f, t: Conv1d(f, 2, 3, dilation=2, bias=False))]),
    "pools": ("C1Pools", (13, 3), """
        input: [13, 3],
        c: Conv1d(4, kernel = 3, activation = relu),
        mp: MaxPool1d(2),
        ap: AvgPool1d(2, stride = 1),
    """, [
        ("c", lambda f, t: Conv1d(f, 4, 3, activation="relu")),
        ("mp", lambda f, t: Pool1d("max", 2)),
        ("ap", lambda f, t: Pool1d("avg", 2, 1)),
    ]),
    "pools_overlap": ("C1PoolsOverlap", (12, 2), """
        input: [12, 2],
        mp: MaxPool1d(3, stride = 2),
        ap: AvgPool1d(2),
    """, [
        ("mp", lambda f, t: Pool1d("max", 3, 2)),
        ("ap", lambda f, t: Pool1d("avg", 2)),
    ]),
}


def build(layers, t, f):
    mods = []
    x = torch.zeros(t, f, dtype=torch.float64)
    for name, ctor in layers:
        m = ctor(f, t).double()
        x = m(x)
        t, f = x.shape
        mods.append((name, m))
    return mods


def state_dict(mods):
    """Our names: `<layer>.<param>` (the wrappers' inner module dropped)."""
    out = {}
    for name, m in mods:
        for k, v in m.state_dict().items():
            out[f"{name}.{k.split('.', 1)[1]}"] = v
    return out


def run(mods, params, x, r, dtype):
    """Forward and gradients with `params` (our names) in `dtype`."""
    for name, m in mods:
        m.to(dtype)
        with torch.no_grad():
            for k, v in m.state_dict().items():
                v.copy_(params[f"{name}.{k.split('.', 1)[1]}"].to(dtype))
    x = x.to(dtype).clone().requires_grad_(True)
    y = x
    for _, m in mods:
        y = m(y)
    loss = (y * r.to(dtype)).sum()
    named = [(f"{name}.{k.split('.', 1)[1]}", p) for name, m in mods for k, p in m.named_parameters()]
    grads = torch.autograd.grad(loss, [x] + [p for _, p in named])
    out = {"output": y.detach(), "loss": loss.detach().reshape(1), "grad.input": grads[0]}
    for (k, _), g in zip(named, grads[1:]):
        out[f"grad.{k}"] = g
    return out


def make(case, spec):
    rust_type, (t, f), dsl, layers = spec
    torch.manual_seed(zlib.crc32(case.encode()))
    mods = build(layers, t, f)
    params = {k: torch.rand_like(v) - 0.5 for k, v in state_dict(mods).items()}
    x = torch.rand(t, f, dtype=torch.float64) * 2 - 1
    y_shape = run(mods, params, x, torch.zeros(1, dtype=torch.float64), torch.float64)["output"].shape
    r = torch.rand(*y_shape, dtype=torch.float64) * 2 - 1
    # f32: every input rounded to float32 first, as our f32 model loads them.
    p32 = {k: v.float() for k, v in params.items()}
    res64 = run(mods, params, x, r, torch.float64)
    res32 = run(mods, p32, x.float(), r.float(), torch.float32)
    tensors = {k: v for k, v in params.items()}
    tensors["input"] = x
    tensors["r"] = r
    tensors.update(res64)
    tensors.update({f"f32.{k}": v.double() for k, v in res32.items()})
    arrays = {k: np.ascontiguousarray(v.detach().numpy().astype(np.float64)) for k, v in tensors.items()}
    meta = {
        "dsl": "\n".join(l.strip() for l in dsl.strip().splitlines()),
        "type": rust_type,
        "kind": "conv1d",
        "generator": f"tools/make_fixtures_conv1d.py, torch {torch.__version__}",
    }
    path = OUT_DIR / f"conv1d_{case}.safetensors"
    save_file(arrays, str(path), metadata=meta)
    print(f"{path.relative_to(ROOT)}: output {list(res64['output'].shape)}, "
          f"loss {res64['loss'].item():.6f}")


if __name__ == "__main__":
    for case, spec in CASES.items():
        make(case, spec)
