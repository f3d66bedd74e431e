#!/usr/bin/env python3
"""PyTorch reference fixtures for tests/conv2dx.rs: DepthwiseConv2d, Conv2d
with `bias`, `dilation` and `groups`, Dense with `bias = false`, and
GlobalAvgPool / GlobalMaxPool on images and sequences.

For every case below (its DSL is written out, and tests/conv2dx.rs checks that
its `model!` has exactly that DSL) this script builds the network from
PyTorch's functional ops (F.conv2d with `groups`/`dilation`, F.linear,
F.max_pool2d/1d, mean), fills every parameter with seeded uniform(-0.5, 0.5)
values, draws a seeded uniform(-1, 1) input and R (shaped like the output),
and writes two files, all tensors float64:

  tests/fixtures/conv2dx/conv2dx_<case>.safetensors
      every parameter under its state_dict name (`dw.weight` [c·m, 1, kh, kw],
      `dw.bias` [c·m], ...; none for `bias = false`), `input` (no batch
      dimension, shape as in the DSL) and `output` (float64 forward);
      metadata: dsl, type, kind = forward, params (PyTorch's parameter count).
  tests/fixtures/conv2dx/conv2dx_<case>_grad.safetensors
      `r`, `loss` = sum(output * r), `grad.<name>` and `grad.input`
      (autograd in float64), and the same computed by PyTorch in float32
      from the float32-rounded weights and input: `f32.output`,
      `f32.grad.<name>`, `f32.grad.input` (stored as float64, exactly).

Semantics (DESIGN.md): `padding = same` is TensorFlow's, for the dilated
span (k-1)*d+1: total = max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0), the smaller
half before; DepthwiseConv2d(depth_multiplier = m) is Conv2d(c, c*m,
groups = c); softmax on an image is over the channels of each pixel;
Dense on a sequence applies per step; global pooling on a sequence [t, f]
pools over the steps. Global max pooling uses max_pool2d/max_pool1d with a
window of the whole input, whose backward sends the gradient to the argmax
(the first maximum).

Deterministic: each case seeds its own torch.Generator from a CRC32 of its
name. CPU only, a second or two:

    /tmp/venv-train/bin/python tools/make_fixtures_conv2dx.py
"""

import math
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "fixtures" / "conv2dx"


# --- the layers, as (name, kind, options) --------------------------------

def conv(name, cin, filters, k, stride=1, padding="valid", dilation=1, groups=1,
         bias=True, act="linear"):
    return dict(name=name, kind="conv", cin=cin, filters=filters, k=pair(k),
                stride=pair(stride), padding=padding, dilation=pair(dilation),
                groups=groups, bias=bias, act=act)


def dw(name, cin, k, stride=1, padding="valid", dilation=1, m=1, bias=True, act="linear"):
    # DepthwiseConv2d(depth_multiplier = m) is Conv2d(c, c*m, groups = c).
    return conv(name, cin, cin * m, k, stride, padding, dilation, cin, bias, act)


def dense(name, fin, units, bias=True, act="linear"):
    return dict(name=name, kind="dense", fin=fin, units=units, bias=bias, act=act)


def gap(name):
    return dict(name=name, kind="gap")


def gmp(name):
    return dict(name=name, kind="gmp")


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


CASES = [
    # (case, rust type, input shape, DSL body, layers)
    ("dw_m1_same", "DwM1Same", [3, 6, 5], """
        input: [3, 6, 5],
        dw: DepthwiseConv2d(kernel = 3, padding = same, activation = relu),
    """, [dw("dw", 3, 3, padding="same", act="relu")]),
    ("dw_m2_s2", "DwM2S2", [2, 7, 6], """
        input: [2, 7, 6],
        dw: DepthwiseConv2d(kernel = 3, stride = 2, padding = same, depth_multiplier = 2, activation = tanh),
    """, [dw("dw", 2, 3, stride=2, padding="same", m=2, act="tanh")]),
    ("dw_dil2", "DwDil2", [2, 7, 7], """
        input: [2, 7, 7],
        dw: DepthwiseConv2d(kernel = (3, 2), dilation = 2, depth_multiplier = 2, bias = false),
    """, [dw("dw", 2, (3, 2), dilation=2, m=2, bias=False)]),
    ("dw_dil2_same", "DwDil2Same", [2, 5, 6], """
        input: [2, 5, 6],
        dw: DepthwiseConv2d(kernel = 3, dilation = 2, padding = same, activation = sigmoid),
    """, [dw("dw", 2, 3, dilation=2, padding="same", act="sigmoid")]),
    ("dw_pad_stride", "DwPadStride", [3, 6, 7], """
        input: [3, 6, 7],
        dw: DepthwiseConv2d(kernel = (2, 3), stride = (2, 1), padding = (1, 2), depth_multiplier = 3, activation = softmax),
    """, [dw("dw", 3, (2, 3), stride=(2, 1), padding=(1, 2), m=3, act="softmax")]),
    ("conv_no_bias", "ConvNoBias", [2, 5, 5], """
        input: [2, 5, 5],
        conv: Conv2d(4, kernel = 3, bias = false, activation = sigmoid),
    """, [conv("conv", 2, 4, 3, bias=False, act="sigmoid")]),
    ("conv_dil21", "ConvDil21", [2, 7, 5], """
        input: [2, 7, 5],
        conv: Conv2d(3, kernel = 3, dilation = (2, 1), padding = same),
    """, [conv("conv", 2, 3, 3, dilation=(2, 1), padding="same")]),
    ("conv_groups2", "ConvGroups2", [4, 5, 7], """
        input: [4, 5, 7],
        conv: Conv2d(6, kernel = (2, 3), stride = (1, 2), groups = 2, activation = relu),
    """, [conv("conv", 4, 6, (2, 3), stride=(1, 2), groups=2, act="relu")]),
    ("conv_groups_softmax", "ConvGroupsSoftmax", [4, 4, 4], """
        input: [4, 4, 4],
        conv: Conv2d(4, kernel = 2, groups = 2, bias = false, dilation = 2, activation = softmax),
    """, [conv("conv", 4, 4, 2, groups=2, bias=False, dilation=2, act="softmax")]),
    ("dense_no_bias", "DenseNoBias", [6], """
        input: [6],
        fc1: Dense(4, bias = false, activation = tanh),
        fc2: Dense(3, bias = false),
    """, [dense("fc1", 6, 4, bias=False, act="tanh"), dense("fc2", 4, 3, bias=False)]),
    ("dense_no_bias_seq", "DenseNoBiasSeq", [5, 3], """
        input: [5, 3],
        fc: Dense(4, bias = false, activation = softmax),
    """, [dense("fc", 3, 4, bias=False, act="softmax")]),
    ("gap_image", "GapImage", [3, 4, 5], """
        input: [3, 4, 5],
        dw: DepthwiseConv2d(kernel = 3, padding = same, depth_multiplier = 2),
        gap: GlobalAvgPool,
        out: Dense(3),
    """, [dw("dw", 3, 3, padding="same", m=2), gap("gap"), dense("out", 6, 3)]),
    ("gmp_image", "GmpImage", [3, 5, 4], """
        input: [3, 5, 4],
        conv: Conv2d(4, kernel = 2, activation = tanh),
        gmp: GlobalMaxPool,
        out: Dense(2, activation = sigmoid),
    """, [conv("conv", 3, 4, 2, act="tanh"), gmp("gmp"), dense("out", 4, 2, act="sigmoid")]),
    ("gap_seq", "GapSeq", [6, 3], """
        input: [6, 3],
        fc: Dense(4, activation = relu),
        gap: GlobalAvgPool,
    """, [dense("fc", 3, 4, act="relu"), gap("gap")]),
    ("gmp_seq", "GmpSeq", [7, 4], """
        input: [7, 4],
        fc: Dense(3, activation = tanh),
        gmp: GlobalMaxPool,
        out: Dense(2),
    """, [dense("fc", 4, 3, act="tanh"), gmp("gmp"), dense("out", 3, 2)]),
    # A DS-CNN block in miniature (MLPerf Tiny KWS): strided conv, depthwise
    # and pointwise without biases, global average pooling, softmax head.
    ("ds_cnn_block", "DsCnnBlock", [1, 10, 6], """
        input: [1, 10, 6],
        conv1: Conv2d(4, kernel = 3, stride = 2, padding = same, activation = relu),
        dw1: DepthwiseConv2d(kernel = 3, padding = same, bias = false, activation = relu),
        pw1: Conv2d(6, kernel = 1, bias = false, activation = relu),
        gap: GlobalAvgPool,
        out: Dense(3, activation = softmax),
    """, [conv("conv1", 1, 4, 3, stride=2, padding="same", act="relu"),
          dw("dw1", 4, 3, padding="same", bias=False, act="relu"),
          conv("pw1", 4, 6, 1, bias=False, act="relu"),
          gap("gap"), dense("out", 6, 3, act="softmax")]),
]


def param_shapes(layer):
    if layer["kind"] == "conv":
        kh, kw = layer["k"]
        out = [("weight", [layer["filters"], layer["cin"] // layer["groups"], kh, kw])]
        if layer["bias"]:
            out.append(("bias", [layer["filters"]]))
        return out
    if layer["kind"] == "dense":
        out = [("weight", [layer["units"], layer["fin"]])]
        if layer["bias"]:
            out.append(("bias", [layer["units"]]))
        return out
    return []


def same_pads(n, k, s, d):
    """TensorFlow's `same` for the dilated span: (before, after)."""
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def activate(x, act, softmax_dim):
    if act == "linear":
        return x
    if act == "relu":
        return torch.relu(x)
    if act == "sigmoid":
        return torch.sigmoid(x)
    if act == "tanh":
        return torch.tanh(x)
    if act == "softmax":
        return torch.softmax(x, dim=softmax_dim)
    raise ValueError(act)


def forward(layers, params, x):
    """x without a batch dimension: [c, h, w], [t, f] or [n]."""
    for layer in layers:
        name, kind = layer["name"], layer["kind"]
        if kind == "conv":
            (kh, kw), (sh, sw), (dh, dw_) = layer["k"], layer["stride"], layer["dilation"]
            _, h, w = x.shape
            p = layer["padding"]
            if p == "valid":
                pads = (0, 0, 0, 0)
            elif p == "same":
                t, b = same_pads(h, kh, sh, dh)
                l, r = same_pads(w, kw, sw, dw_)
                pads = (l, r, t, b)
            else:
                ph, pw = p
                pads = (pw, pw, ph, ph)
            xp = F.pad(x[None], pads)
            z = F.conv2d(xp, params[f"{name}.weight"], params.get(f"{name}.bias"),
                         stride=(sh, sw), dilation=(dh, dw_), groups=layer["groups"])[0]
            x = activate(z, layer["act"], 0)  # softmax over the channels of a pixel
        elif kind == "dense":
            z = F.linear(x, params[f"{name}.weight"], params.get(f"{name}.bias"))
            x = activate(z, layer["act"], -1)
        elif kind == "gap":
            x = x.mean(dim=(1, 2)) if x.dim() == 3 else x.mean(dim=0)
        elif kind == "gmp":
            if x.dim() == 3:
                x = F.max_pool2d(x[None], x.shape[1:])[0, :, 0, 0]
            else:  # [t, f]: over the steps
                x = F.max_pool1d(x.T[None], x.shape[0])[0, :, 0]
        else:
            raise ValueError(kind)
    return x


def run(layers, weights, x0, r0, dtype):
    params = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in weights.items()}
    x = torch.tensor(x0, dtype=dtype, requires_grad=True)
    y = forward(layers, params, x)
    r = torch.tensor(r0, dtype=dtype)
    loss = (y * r).sum()
    loss.backward()
    grads = {f"grad.{k}": p.grad.detach().numpy().astype(np.float64) for k, p in params.items()}
    grads["grad.input"] = x.grad.detach().numpy().astype(np.float64)
    return y.detach().numpy().astype(np.float64), float(loss.detach()), grads


def build(case, rust_type, shape, dsl, layers):
    gen = torch.Generator().manual_seed(zlib.crc32(case.encode()))

    def uniform(shape, lo, hi):
        return (torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo).numpy()

    weights = {}
    for layer in layers:
        for member, pshape in param_shapes(layer):
            weights[f"{layer['name']}.{member}"] = uniform(pshape, -0.5, 0.5)
    x0 = uniform(shape, -1.0, 1.0)
    with torch.no_grad():
        y_shape = forward(layers, {k: torch.tensor(v) for k, v in weights.items()},
                          torch.tensor(x0)).shape
    r0 = uniform(list(y_shape), -1.0, 1.0)
    y64, loss64, g64 = run(layers, weights, x0, r0, torch.float64)
    w32 = {k: v.astype(np.float32) for k, v in weights.items()}
    y32, _, g32 = run(layers, w32, x0.astype(np.float32), r0.astype(np.float32), torch.float32)

    meta = {
        "dsl": dsl.strip("\n"),
        "type": rust_type,
        "kind": "forward",
        "params": str(sum(int(np.prod(v.shape)) for v in weights.values())),
        "init": "uniform(-0.5, 0.5) parameters, uniform(-1, 1) input and r",
        "generator": "tools/make_fixtures_conv2dx.py",
    }
    fwd = dict(weights)
    fwd["input"] = x0
    fwd["output"] = y64
    grad = {"r": r0, "loss": np.array([loss64])}
    grad.update(g64)
    grad["f32.output"] = y32
    for k, v in g32.items():
        grad[f"f32.{k}"] = v
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in fwd.items()},
              str(OUT_DIR / f"conv2dx_{case}.safetensors"), metadata=meta)
    save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in grad.items()},
              str(OUT_DIR / f"conv2dx_{case}_grad.safetensors"),
              metadata={"kind": "grad", "forward": f"conv2dx_{case}",
                        "generator": meta["generator"]})
    print(f"conv2dx_{case}: output {list(y64.shape)}, {meta['params']} parameters")


def main(argv):
    torch.use_deterministic_algorithms(True)
    only = set(argv)
    for c in CASES:
        if not only or c[0] in only:
            build(*c)


if __name__ == "__main__":
    main(sys.argv[1:])
