#!/usr/bin/env python3
"""PyTorch references for the activations relu6, leaky_relu, elu, gelu,
silu, hard_sigmoid and hard_swish (tests/activations.rs).

Run from the repository root (torch, safetensors):

    python tools/make_fixtures_activations.py

Writes tests/fixtures/activations_<case>.safetensors, all float64: the
parameters under their PyTorch state_dict names, `input`, `output`, a
random `r` shaped like the output, `loss = sum(output * r)` and autograd's
gradients of that loss, `grad.input` and `grad.<param>`; the metadata holds
the case's DSL (`dsl`). Every draw comes from one seeded generator per
case, so a rerun writes the same bytes.

Each activation is tested three ways: as a layer (reading the model input,
so the points where its derivative jumps, 0, -3, 3 and 6, are exact
inputs), fused into a Dense and into a Conv2d (rows/filters with zero
weights and a bias at a kink put the pre-activation exactly there), and
fused into the last layer. The kinks follow PyTorch's own subgradient
choices (checked below against the values the Rust unit tests state).

hard_sigmoid: PyTorch's float64 `hardsigmoid_backward` multiplies by 1/6
rounded to float32 (1.6666666716e-1), a relative error of 3e-8 that the
1e-12 comparison would flag. The references use the exact derivative
instead: `HardSigmoidExact` below has PyTorch's forward (asserted equal
bit for bit) and the backward `grad / 6` where -3 < x < 3, else 0 (the same
set PyTorch uses; asserted within 1e-7 relative of PyTorch's).
"""

import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
KINKS = [0.0, -3.0, 3.0, 6.0]


class HardSigmoidExact(torch.autograd.Function):
    """relu6(x + 3) / 6 with the exact derivative (see the module doc)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.hardsigmoid(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.where((x > -3) & (x < 3), g / 6, torch.zeros_like(g))


def hard_sigmoid(x):
    return HardSigmoidExact.apply(x)


def act_fn(name, alpha=None):
    return {
        "relu6": F.relu6,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.01 if alpha is None else alpha),
        "elu": lambda x: F.elu(x, 1.0 if alpha is None else alpha),
        "gelu": F.gelu,
        "silu": F.silu,
        "hard_sigmoid": hard_sigmoid,
        "hard_swish": F.hardswish,
    }[name]


LAYER = {
    "relu6": "Relu6",
    "leaky_relu": "LeakyRelu",
    "elu": "Elu",
    "gelu": "Gelu",
    "silu": "Silu",
    "hard_sigmoid": "HardSigmoid",
    "hard_swish": "HardSwish",
}


def check_hard_sigmoid():
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(10000, generator=g, dtype=torch.float64) * 10 - 5).tolist() + KINKS
    x = torch.tensor(x, dtype=torch.float64)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    ya, yb = F.hardsigmoid(a), hard_sigmoid(b)
    assert torch.equal(ya, yb)
    ya.sum().backward()
    yb.sum().backward()
    assert torch.equal(a.grad == 0, b.grad == 0)
    assert ((a.grad - b.grad).abs() <= 1e-7 * b.grad.abs()).all()


def check_kinks():
    """PyTorch's values at the kinks, as the runtime's unit test states them."""
    want = {
        "relu6": [(0, 0), (6, 0), (3, 1)],
        "leaky_relu": [(0, 0.01)],
        "elu": [(0, 1)],
        "hard_sigmoid": [(-3, 0), (3, 0)],
        "hard_swish": [(-3, 0), (3, 1), (0, 0.5)],
        "gelu": [(0, 0.5)],
        "silu": [(0, 0.5)],
    }
    for name, pts in want.items():
        f = F.hardsigmoid if name == "hard_sigmoid" else act_fn(name)
        for x, d in pts:
            t = torch.tensor([float(x)], dtype=torch.float64, requires_grad=True)
            f(t).sum().backward()
            got = t.grad.item()
            assert abs(got - d) < 1e-7, (name, x, got, d)


def rnd(g, *shape, lo=-1.0, hi=1.0):
    return torch.rand(*shape, generator=g, dtype=torch.float64) * (hi - lo) + lo


def dense_params(g, out, inp, kinks):
    w = rnd(g, out, inp, lo=-1.5, hi=1.5)
    b = rnd(g, out, lo=-1.0, hi=1.0)
    if kinks:
        for i, k in enumerate(KINKS):
            w[i] = 0.0
            b[i] = k
    return w, b


def conv_params(g, out, c, k, kinks):
    w = rnd(g, out, c, k, k, lo=-1.2, hi=1.2)
    b = rnd(g, out, lo=-1.0, hi=1.0)
    if kinks:
        for i, kk in enumerate(KINKS):
            w[i] = 0.0
            b[i] = kk
    return w, b


def vector_input(g, n):
    x = rnd(g, n, lo=-6.0, hi=7.0)
    vals = KINKS + [-0.5, 0.5, -6.5, 7.5]
    x[: len(vals)] = torch.tensor(vals, dtype=torch.float64)
    return x


def case_layer(g, act, alpha=None):
    """input: [12], a: <Act>, fc: Dense(3)"""
    params = {}
    params["fc.weight"], params["fc.bias"] = dense_params(g, 3, 12, False)
    x = vector_input(g, 12)
    f = act_fn(act, alpha)

    def net(p, x):
        return F.linear(f(x), p["fc.weight"], p["fc.bias"])

    opt = "" if alpha is None else f"(alpha = {alpha})"
    dsl = f"input: [12], a: {LAYER[act]}{opt}, fc: Dense(3),"
    return dsl, params, x, net


def case_image_layer(g, act):
    """input: [2, 4, 4], c: Conv2d(3, kernel = 3), a: <Act>, flat: Flatten, fc: Dense(2)"""
    params = {}
    params["c.weight"], params["c.bias"] = conv_params(g, 3, 2, 3, False)
    params["c.weight"] *= 3.0
    params["fc.weight"], params["fc.bias"] = dense_params(g, 2, 12, False)
    x = rnd(g, 2, 4, 4)
    f = act_fn(act)

    def net(p, x):
        z = F.conv2d(x.unsqueeze(0), p["c.weight"], p["c.bias"])[0]
        return F.linear(f(z).flatten(), p["fc.weight"], p["fc.bias"])

    dsl = f"input: [2, 4, 4], c: Conv2d(3, kernel = 3), a: {LAYER[act]}, flat: Flatten, fc: Dense(2),"
    return dsl, params, x, net


def case_dense(g, act):
    """input: [5], fc1: Dense(8, activation = <act>), fc2: Dense(3)"""
    params = {}
    params["fc1.weight"], params["fc1.bias"] = dense_params(g, 8, 5, True)
    params["fc2.weight"], params["fc2.bias"] = dense_params(g, 3, 8, False)
    x = rnd(g, 5, lo=-2.5, hi=2.5)
    f = act_fn(act)

    def net(p, x):
        h = f(F.linear(x, p["fc1.weight"], p["fc1.bias"]))
        return F.linear(h, p["fc2.weight"], p["fc2.bias"])

    dsl = f"input: [5], fc1: Dense(8, activation = {act}), fc2: Dense(3),"
    return dsl, params, x, net


def case_last(g, act):
    """input: [5], fc: Dense(8, activation = <act>)"""
    params = {}
    params["fc.weight"], params["fc.bias"] = dense_params(g, 8, 5, True)
    x = rnd(g, 5, lo=-2.5, hi=2.5)
    f = act_fn(act)

    def net(p, x):
        return f(F.linear(x, p["fc.weight"], p["fc.bias"]))

    dsl = f"input: [5], fc: Dense(8, activation = {act}),"
    return dsl, params, x, net


def case_conv(g, act):
    """input: [2, 5, 5], c: Conv2d(6, kernel = 3, activation = <act>), flat: Flatten, fc: Dense(2)"""
    params = {}
    params["c.weight"], params["c.bias"] = conv_params(g, 6, 2, 3, True)
    params["fc.weight"], params["fc.bias"] = dense_params(g, 2, 54, False)
    x = rnd(g, 2, 5, 5, lo=-2.0, hi=2.0)
    f = act_fn(act)

    def net(p, x):
        z = F.conv2d(x.unsqueeze(0), p["c.weight"], p["c.bias"])[0]
        return F.linear(f(z).flatten(), p["fc.weight"], p["fc.bias"])

    dsl = f"input: [2, 5, 5], c: Conv2d(6, kernel = 3, activation = {act}), flat: Flatten, fc: Dense(2),"
    return dsl, params, x, net


def cases():
    for act in LAYER:
        yield f"layer_{act}", lambda g, a=act: case_layer(g, a)
        yield f"dense_{act}", lambda g, a=act: case_dense(g, a)
        yield f"last_{act}", lambda g, a=act: case_last(g, a)
        yield f"conv_{act}", lambda g, a=act: case_conv(g, a)
        yield f"image_{act}", lambda g, a=act: case_image_layer(g, a)
    yield "layer_leaky_relu_02", lambda g: case_layer(g, "leaky_relu", 0.2)
    yield "layer_elu_05", lambda g: case_layer(g, "elu", 0.5)


def write_safetensors(path, tensors, metadata):
    """Deterministic safetensors (sorted names, sorted metadata), float64."""
    header = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().to(torch.float64)
        data = struct.pack(f"<{t.numel()}d", *t.flatten().tolist())
        header[name] = {
            "dtype": "F64",
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    torch.set_default_dtype(torch.float64)
    check_hard_sigmoid()
    check_kinks()
    os.makedirs(OUT_DIR, exist_ok=True)
    for i, (case, make) in enumerate(cases()):
        g = torch.Generator().manual_seed(1000 + i)
        dsl, params, x, net = make(g)
        p = {k: v.clone().requires_grad_() for k, v in params.items()}
        xg = x.clone().requires_grad_()
        y = net(p, xg)
        r = rnd(g, *y.shape)
        loss = (y * r).sum()
        loss.backward()
        tensors = dict(params)
        tensors["input"] = x
        tensors["output"] = y
        tensors["r"] = r
        tensors["loss"] = loss.reshape(1)
        tensors["grad.input"] = xg.grad
        for k, v in p.items():
            tensors[f"grad.{k}"] = v.grad
        meta = {
            "dsl": dsl,
            "kind": "activations",
            "generator": f"tools/make_fixtures_activations.py, torch {torch.__version__}, seed {1000 + i}",
        }
        path = os.path.join(OUT_DIR, f"activations_{case}.safetensors")
        write_safetensors(path, tensors, meta)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
