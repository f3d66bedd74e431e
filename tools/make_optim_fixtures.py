#!/usr/bin/env python3
"""PyTorch reference fixtures for the optimizers (runtime/tests/training.rs).

For every case below this script makes three parameter tensors of the
shapes in SHAPES with seeded random values, then runs three steps of the
case's torch.optim optimizer in float64, setting each parameter's `.grad`
by hand before every step to a seeded random gradient. It writes
tests/fixtures/optim_<case>.safetensors holding (all float64, flat):

    p<i>.init       parameter i before the first step
    p<i>.grad<s>    the gradient given at step s (s = 1, 2, 3)
    p<i>.step<s>    parameter i after step s

and in `__metadata__`: `optimizer` (sgd, adam or rmsprop), every
hyperparameter under the name staticnet's config struct gives it (`lr`,
`momentum`, `dampening`, `nesterov`, `weight_decay`, `beta1`, `beta2`,
`eps`, `rho`, `centered`) written with repr() so that it parses back to the
same f64, `steps`, `tensors`, `torch` (the version) and `generator`.

Only element-wise updates are tested, so the tensors' layout does not
matter: the Rust test loads them into a model's parameter tensors as flat
slices.

Deterministic: each case seeds numpy from a CRC32 of its name. Run with
/tmp/venv/bin/python tools/make_optim_fixtures.py from the repository root.
"""

import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

SHAPES = [(3, 4), (3,), (2, 5)]
STEPS = 3

# name -> (optimizer, staticnet hyperparameters). Defaults are Keras' (as
# staticnet's are); they are all passed to torch explicitly.
CASES = {
    "sgd": ("sgd", dict(lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0)),
    "sgd_momentum": ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.1, nesterov=False, weight_decay=0.0)),
    "sgd_nesterov": ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.0, nesterov=True, weight_decay=0.01)),
    "adam": ("adam", dict(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7, weight_decay=0.0)),
    "adam_custom": ("adam", dict(lr=0.03, beta1=0.8, beta2=0.95, eps=1e-5, weight_decay=0.02)),
    "rmsprop": ("rmsprop", dict(lr=0.001, rho=0.9, eps=1e-7, momentum=0.0, centered=False, weight_decay=0.0)),
    "rmsprop_centered_momentum": (
        "rmsprop",
        dict(lr=0.01, rho=0.8, eps=1e-6, momentum=0.5, centered=True, weight_decay=0.03),
    ),
}


def make(kind, hp, params):
    if kind == "sgd":
        return torch.optim.SGD(
            params,
            lr=hp["lr"],
            momentum=hp["momentum"],
            dampening=hp["dampening"],
            nesterov=hp["nesterov"],
            weight_decay=hp["weight_decay"],
            foreach=False,
        )
    if kind == "adam":
        return torch.optim.Adam(
            params,
            lr=hp["lr"],
            betas=(hp["beta1"], hp["beta2"]),
            eps=hp["eps"],
            weight_decay=hp["weight_decay"],
            amsgrad=False,
            foreach=False,
        )
    if kind == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=hp["lr"],
            alpha=hp["rho"],
            eps=hp["eps"],
            momentum=hp["momentum"],
            centered=hp["centered"],
            weight_decay=hp["weight_decay"],
            foreach=False,
        )
    raise ValueError(kind)


def case(name, kind, hp, out_dir):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    params = [torch.tensor(rng.standard_normal(s), dtype=torch.float64, requires_grad=True) for s in SHAPES]
    tensors = {}
    for i, p in enumerate(params):
        tensors[f"p{i}.init"] = p.detach().clone().reshape(-1)
    opt = make(kind, hp, params)
    for s in range(1, STEPS + 1):
        for i, p in enumerate(params):
            g = torch.tensor(rng.standard_normal(p.shape), dtype=torch.float64)
            p.grad = g
            tensors[f"p{i}.grad{s}"] = g.clone().reshape(-1)
        opt.step()
        for i, p in enumerate(params):
            tensors[f"p{i}.step{s}"] = p.detach().clone().reshape(-1)
    meta = {k: repr(v).lower() if isinstance(v, bool) else repr(float(v)) for k, v in hp.items()}
    meta.update(
        optimizer=kind,
        steps=str(STEPS),
        tensors=str(len(SHAPES)),
        torch=torch.__version__,
        generator="tools/make_optim_fixtures.py",
    )
    save_file(tensors, str(out_dir / f"optim_{name}.safetensors"), metadata=meta)


def main():
    torch.set_default_dtype(torch.float64)
    out_dir = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (kind, hp) in CASES.items():
        case(name, kind, hp, out_dir)
        print(f"optim_{name}.safetensors")


if __name__ == "__main__":
    main()
