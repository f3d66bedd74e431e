#!/usr/bin/env python3
"""PyTorch references for fit's ReduceLrOnPlateau and Checkpoint (tests/fit_callbacks.rs).

plateau.safetensors: for each case, a fixed sequence of monitored values
`<case>.values` replayed through torch.optim.lr_scheduler.ReduceLROnPlateau
(one `scheduler.step(value)` per epoch, on an SGD optimizer whose lr starts
at `lr0`) and the learning rate after each step `<case>.lr`. The case's
hyperparameters are in `__metadata__` as `<case>.<name>` (mode, factor,
patience, threshold, threshold_mode, cooldown, min_lr, eps, lr0), which
the Rust test reads, so they are written down once.

checkpoint_state_dict.safetensors: the state_dict of the torch module the
test's `Ckpt` model corresponds to (Conv2d(1, 2, 3) -> Flatten ->
Linear(32, 3)), in float64: the checkpoint `fit` writes must have exactly
its keys, shapes and dtype, which is what load_state_dict(strict=True)
checks. `python tools/make_plateau_fixtures.py --check FILE` loads a
checkpoint written by staticnet into that module with strict=True.

Deterministic: no randomness in the sequences, torch.manual_seed(0) for
the module, sorted keys (make_fixtures.write_safetensors).

    /tmp/venv-train/bin/python tools/make_plateau_fixtures.py
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import write_safetensors  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "fit"

# Values chosen to exercise every rule: a plateau longer than patience,
# improvements smaller than the relative/absolute threshold, a cooldown,
# the min_lr floor and the eps guard, and mode="max".
SEQ_MIN = [1.0, 0.9, 0.9, 0.9, 0.9, 0.89995, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8,
           0.7999, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
SEQ_MAX = [0.1, 0.2, 0.2, 0.2, 0.25, 0.2500001, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3,
           0.3, 0.3, 0.31, 0.31, 0.31, 0.31]

BASE = dict(mode="min", factor=0.1, patience=10, threshold=1e-4,
            threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8, lr0=0.1)

CASES = {
    "defaults": (dict(), SEQ_MIN),
    "patience2": (dict(patience=2, factor=0.5), SEQ_MIN),
    "cooldown": (dict(patience=1, factor=0.5, cooldown=2), SEQ_MIN),
    "abs": (dict(patience=1, factor=0.5, threshold=0.05, threshold_mode="abs"), SEQ_MIN),
    "min_lr": (dict(patience=0, factor=0.5, min_lr=0.02), SEQ_MIN),
    "eps": (dict(patience=0, factor=0.9, eps=0.005, lr0=0.05), SEQ_MIN),
    "max": (dict(mode="max", patience=1, factor=0.5), SEQ_MAX),
    "max_abs_cooldown": (dict(mode="max", patience=0, factor=0.3, threshold=0.02,
                              threshold_mode="abs", cooldown=1), SEQ_MAX),
}


def replay(hp, values):
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=hp["lr0"])
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode=hp["mode"], factor=hp["factor"], patience=hp["patience"],
        threshold=hp["threshold"], threshold_mode=hp["threshold_mode"],
        cooldown=hp["cooldown"], min_lr=hp["min_lr"], eps=hp["eps"])
    lrs = []
    for v in values:
        sched.step(v)
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


class Ckpt(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 2, 3)
        self.flat = torch.nn.Flatten()
        self.fc = torch.nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.flat(torch.relu(self.conv1(x))))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        from safetensors.torch import load_file
        m = Ckpt().double()
        m.load_state_dict(load_file(sys.argv[2]), strict=True)
        print("load_state_dict(strict=True): ok")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    tensors, meta = {}, {}
    for name, (over, values) in CASES.items():
        hp = dict(BASE, **over)
        tensors[f"{name}.values"] = torch.tensor(values, dtype=torch.float64)
        tensors[f"{name}.lr"] = torch.tensor(replay(hp, values), dtype=torch.float64)
        for k, v in hp.items():
            meta[f"{name}.{k}"] = repr(v) if not isinstance(v, str) else v
    write_safetensors(OUT / "plateau.safetensors", tensors, meta)
    torch.manual_seed(0)
    sd = {k: v.detach().double() for k, v in Ckpt().state_dict().items()}
    write_safetensors(OUT / "checkpoint_state_dict.safetensors", sd, {})


if __name__ == "__main__":
    main()
