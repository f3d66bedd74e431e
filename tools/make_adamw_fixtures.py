#!/usr/bin/env python3
"""PyTorch reference fixtures for AdamW (runtime/tests/training.rs).

The same cases and file layout as tools/make_optim_fixtures.py (three
seeded parameter tensors, three steps of torch.optim.AdamW in float64
with seeded gradients set by hand; see that script's docstring), written
to tests/fixtures/optim_<case>.safetensors with `optimizer` = "adamw" and
the hyperparameters `lr`, `beta1`, `beta2`, `eps`, `weight_decay` in
`__metadata__`. The Rust runner `optimizers_match_pytorch` reads every
optim_* fixture.

Deterministic: each case seeds numpy from a CRC32 of its name, and the
file is written with sorted keys, so a rerun gives the same bytes.

    /tmp/venv/bin/python tools/make_adamw_fixtures.py
"""

import sys
import zlib
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import write_safetensors  # noqa: E402  (sorted keys: byte-identical reruns)

SHAPES = [(3, 4), (3,), (2, 5)]
STEPS = 3

CASES = {
    # Keras' AdamW defaults.
    "adamw": dict(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7, weight_decay=0.004),
    # A large decay, so that the decoupled term dominates the difference
    # from Adam's L2 form.
    "adamw_custom": dict(lr=0.05, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.3),
}


def case(name, hp, out_dir):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    params = [torch.tensor(rng.standard_normal(s), dtype=torch.float64, requires_grad=True) for s in SHAPES]
    tensors = {f"p{i}.init": p.detach().clone().reshape(-1) for i, p in enumerate(params)}
    opt = torch.optim.AdamW(
        params,
        lr=hp["lr"],
        betas=(hp["beta1"], hp["beta2"]),
        eps=hp["eps"],
        weight_decay=hp["weight_decay"],
        amsgrad=False,
        foreach=False,
    )
    for s in range(1, STEPS + 1):
        for i, p in enumerate(params):
            g = torch.tensor(rng.standard_normal(p.shape), dtype=torch.float64)
            p.grad = g
            tensors[f"p{i}.grad{s}"] = g.clone().reshape(-1)
        opt.step()
        for i, p in enumerate(params):
            tensors[f"p{i}.step{s}"] = p.detach().clone().reshape(-1)
    meta = {k: repr(float(v)) for k, v in hp.items()}
    meta.update(
        optimizer="adamw",
        steps=str(STEPS),
        tensors=str(len(SHAPES)),
        torch=torch.__version__.split("+")[0],
        generator="tools/make_adamw_fixtures.py",
    )
    write_safetensors(out_dir / f"optim_{name}.safetensors", tensors, meta)


def main():
    torch.set_default_dtype(torch.float64)
    out_dir = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    for name, hp in CASES.items():
        case(name, hp, out_dir)
        print(f"optim_{name}.safetensors")


if __name__ == "__main__":
    main()
