#!/usr/bin/env python3
"""PyTorch reference fixtures for tests/graphs.rs: residual graphs and the
merge layers (Add, Multiply, Concatenate), with nodes read by several layers.

For each case below this script builds the graph by hand out of PyTorch
modules (the DSL of each case is in tests/graphs.rs and in the fixture's
metadata), fills every parameter with seeded uniform values in [-0.5, 0.5),
draws a seeded input, runs the forward in float64 and writes

    tests/fixtures/graphs/graph_<case>.safetensors      every parameter (state_dict
                                                  naming), `input`, `output`
    tests/fixtures/graphs/grad_graph_<case>.safetensors  a random `r` shaped like the
                                                  output, `loss` = sum(output * r),
                                                  and autograd's `grad.<name>`
                                                  for every parameter and
                                                  `grad.input`

Shapes are as the DSL writes them (no batch dimension): a sequence is
[steps, features], an image [channels, height, width]. Conventions (DESIGN.md):
Dense on a sequence is per step; Concatenate joins images along channels and
sequences along features; `padding = same` with an odd kernel and stride 1 is
symmetric. Deterministic (each case seeds torch from a CRC32 of its name):

    /tmp/venv-train/bin/python tools/make_fixtures_graphs.py
"""

import os
import zlib

import torch
from torch import nn
from safetensors.torch import save_file

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "graphs")


class Dense(nn.Linear):
    """nn.Linear (per step on a sequence [t, f])."""


def case_residual_dense():
    m = nn.ModuleDict(
        {
            "h": nn.Linear(6, 5),
            "x2": nn.Linear(5, 5),
            "skip": nn.Linear(6, 5),
            "out": nn.Linear(5, 3),
        }
    )

    def forward(x):
        h = torch.tanh(m["h"](x))
        x2 = m["x2"](h)
        s = h + x2 + m["skip"](x)  # Add(h, x2, skip): h is read by x2 and s
        r = torch.relu(s)
        return m["out"](r)

    return m, forward, (6,)


def case_resnet_block():
    m = nn.ModuleDict(
        {
            "c1": nn.Conv2d(2, 3, 3, padding=1),
            "c2": nn.Conv2d(3, 3, 3, padding=1),
            "sc": nn.Conv2d(2, 3, 1),
            "out": nn.Linear(27, 2),
        }
    )

    def forward(x):
        c1 = torch.relu(m["c1"](x))
        c2 = m["c2"](c1)
        s = torch.relu(c2 + m["sc"](x))
        p = nn.functional.max_pool2d(s, 2)
        return m["out"](p.flatten())

    return m, forward, (2, 6, 6)


def case_gated_sequence():
    m = nn.ModuleDict(
        {
            "l1": nn.LSTM(3, 4),
            "d1": nn.Linear(3, 4),
            "g": nn.GRU(7, 3),
            "out": nn.Linear(3, 2),
        }
    )

    def forward(x):  # x: [t, f]
        l1, _ = m["l1"](x)
        d1 = torch.sigmoid(m["d1"](x))
        mul = l1 * d1
        cat = torch.cat([mul, x], dim=1)  # features: mul's, then the input's
        g, _ = m["g"](cat)
        return torch.softmax(m["out"](g[-1]), dim=0)

    return m, forward, (4, 3)


def case_concat_images():
    m = nn.ModuleDict(
        {
            "a": nn.Conv2d(1, 2, 1),
            "b": nn.Conv2d(1, 3, 1),
            "out": nn.Linear(6 * 4 * 4, 1),
        }
    )

    def forward(x):
        c = torch.cat([m["a"](x), m["b"](x), x], dim=0)  # channels
        s = torch.tanh(c + c)  # Add(c, c, activation = tanh)
        return torch.sigmoid(m["out"](s.flatten()))

    return m, forward, (1, 4, 4)


def case_streaming_residual():
    m = nn.ModuleDict(
        {
            "l": nn.LSTM(3, 4),
            "d": nn.Linear(3, 4),
            "g": nn.GRU(4, 2),
        }
    )

    def forward(x):
        l, _ = m["l"](x)
        s = l + m["d"](x)
        g, _ = m["g"](s)
        return g[-1]

    return m, forward, (5, 3)


CASES = {
    "residual_dense": case_residual_dense,
    "resnet_block": case_resnet_block,
    "gated_sequence": case_gated_sequence,
    "concat_images": case_concat_images,
    "streaming_residual": case_streaming_residual,
}


def main():
    for name, build in CASES.items():
        torch.manual_seed(zlib.crc32(name.encode()))
        m, forward, shape = build()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.rand_like(p) - 0.5)
        x = (torch.rand(shape) * 2 - 1).requires_grad_(True)
        y = forward(x)
        r = torch.rand_like(y) * 2 - 1
        loss = (y * r).sum()
        loss.backward()
        params = {k: v.detach().clone() for k, v in m.state_dict().items()}
        grads = {f"grad.{k}": p.grad.detach().clone() for k, p in m.named_parameters()}
        fwd = dict(params, input=x.detach().clone(), output=y.detach().clone())
        meta = {"kind": "forward", "generator": "tools/make_fixtures_graphs.py", "case": name}
        save_file(fwd, os.path.join(OUT, f"graph_{name}.safetensors"), metadata=meta)
        grad = dict(grads, r=r, loss=loss.detach().reshape(()))
        grad["grad.input"] = x.grad.detach().clone()
        meta = dict(meta, kind="grad")
        save_file(grad, os.path.join(OUT, f"grad_graph_{name}.safetensors"), metadata=meta)
        print(f"graph_{name}: output {list(y.shape)}, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
