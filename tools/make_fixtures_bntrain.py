#!/usr/bin/env python3
"""PyTorch reference fixtures for layer-major mini-batch training in `train()`
mode: tests/fixtures/bntrain/<case>.safetensors, compared by tests/bntrain.rs.

Each case builds the network of the `model!` of the same name in
tests/bntrain.rs from stock PyTorch modules in float64, seeded, with random
γ, β and running statistics (num_batches_tracked = 7), puts it in `train()`
and runs one batch of N samples through it. A file holds:

- the `state_dict` *before* the step (parameters and buffers;
  `num_batches_tracked` as I64);
- `input` [N, ...] and `output` [N, ...] (staticnet's layout per sample:
  a sequence is [steps, features], so the Conv1d and BatchNorm1d cases
  transpose to PyTorch's [N, channels, steps] inside `forward`);
- `r`, shaped like the output, and autograd's gradients of
  `loss = Σ output ⊙ r` (summed over the batch) with respect to the input
  (`grad.input`) and every trainable parameter (`grad.<name>`);
- `after.<bn>.running_mean`, `after.<bn>.running_var` and
  `after.<bn>.num_batches_tracked`: the buffers after the forward (PyTorch
  updates them during a `train()` forward);
- for the Dropout case, `mask.<name>` [N, ...]: the mask PyTorch's own
  `F.dropout` drew (0 or 1/(1 − p) per value, read off by dropping out a
  tensor of ones with the generator state the forward then uses), which
  the runner injects into its tapes (`DropoutMode::Replay`).

Run: /tmp/venv-train/bin/python tools/make_fixtures_bntrain.py
"""

import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

OUT_DIR = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bntrain"
torch.set_default_dtype(torch.float64)


def stats(bn, gen):
    """Random γ, β and running statistics, 7 batches tracked."""
    c = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.rand(c, generator=gen) * 1.5 + 0.25)
        bn.bias.copy_(torch.randn(c, generator=gen) * 0.5)
        bn.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
        bn.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
        bn.num_batches_tracked.fill_(7)


class DenseBn(nn.Module):
    """input [5]; fc1: Dense(6); bn: BatchNorm(momentum = 0.2); act: Tanh; out: Dense(3)"""

    n = 10
    shape = (5,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 6)
        self.bn = nn.BatchNorm1d(6, momentum=0.2)
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        return self.out(torch.tanh(self.bn(self.fc1(x))))


class ConvBn(nn.Module):
    """input [2, 5, 5]; conv: Conv2d(3, kernel = 3); bn: BatchNorm(eps = 1e-3); relu: Relu;
    flat: Flatten; out: Dense(2)"""

    n = 4
    shape = (2, 5, 5)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3, eps=1e-3)
        self.out = nn.Linear(27, 2)

    def forward(self, x):
        return self.out(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


class DwBn(nn.Module):
    """input [3, 6, 6]; dw: DepthwiseConv2d(kernel = 3, depth_multiplier = 2, padding = same);
    bn: BatchNorm; r: Relu6; gap: GlobalAvgPool; out: Dense(2)"""

    n = 4
    shape = (3, 6, 6)

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(3, 6, 3, padding=1, groups=3)
        self.bn = nn.BatchNorm2d(6)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        return self.out(F.relu6(self.bn(self.dw(x))).mean(dim=(2, 3)))


class C1Bn(nn.Module):
    """input [8, 3]; c: Conv1d(4, kernel = 3, padding = same); bn: BatchNorm; r: Relu;
    gap: GlobalAvgPool; out: Dense(2)"""

    n = 5
    shape = (8, 3)

    def __init__(self):
        super().__init__()
        self.c = nn.Conv1d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm1d(4)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        # [N, steps, features] -> PyTorch's [N, channels, steps].
        h = torch.relu(self.bn(self.c(x.transpose(1, 2))))
        return self.out(h.mean(dim=2))


class SeqBn(nn.Module):
    """input [6, 3]; lstm: Lstm(4, return_sequences = true); bn: BatchNorm(momentum = 0.05);
    head: Dense(2)"""

    n = 4
    shape = (6, 3)

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.bn = nn.BatchNorm1d(4, momentum=0.05)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h, _ = self.lstm(x)
        # BatchNorm1d normalises dim 1 of [N, C, L]: per feature over N·steps.
        h = self.bn(h.transpose(1, 2)).transpose(1, 2)
        return self.head(h)


class ResBn(nn.Module):
    """input [2, 6, 6]; c1: Conv2d(3, kernel = 3, padding = same); b1: BatchNorm; r1: Relu;
    c2: Conv2d(3, kernel = 3, padding = same); b2: BatchNorm; sc: Conv2d(3, kernel = 1)(input);
    sbn: BatchNorm; s: Add(b2, sbn, activation = relu); gap: GlobalAvgPool; out: Dense(2)"""

    n = 4
    shape = (2, 6, 6)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 3, 3, padding=1)
        self.b1 = nn.BatchNorm2d(3)
        self.c2 = nn.Conv2d(3, 3, 3, padding=1)
        self.b2 = nn.BatchNorm2d(3)
        self.sc = nn.Conv2d(2, 3, 1)
        self.sbn = nn.BatchNorm2d(3)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        h = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        s = torch.relu(h + self.sbn(self.sc(x)))
        return self.out(s.mean(dim=(2, 3)))


class DropNet(nn.Module):
    """input [6]; fc1: Dense(8, activation = relu); drop: Dropout(0.4); bn: BatchNorm;
    out: Dense(3)"""

    n = 6
    shape = (6,)
    p = 0.4

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.bn = nn.BatchNorm1d(8)
        self.out = nn.Linear(8, 3)
        self.mask = None

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        # PyTorch's own dropout; its mask is read off on ones with the same
        # generator state, so the two multiply by the same mask.
        state = torch.get_rng_state()
        self.mask = F.dropout(torch.ones_like(h), self.p, training=True)
        torch.set_rng_state(state)
        d = F.dropout(h, self.p, training=True)
        assert torch.equal(d, h * self.mask)
        return self.out(self.bn(d))


def make(cls, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    m = cls()
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            stats(mod, gen)
    before = {k: v.detach().clone() for k, v in m.state_dict().items()}
    m.train()
    x = torch.randn((cls.n, *cls.shape), generator=gen).requires_grad_(True)
    y = m(x)
    r = torch.randn(y.shape, generator=gen)
    (y * r).sum().backward()
    t = dict(before)
    t["input"] = x.detach()
    t["output"] = y.detach()
    t["r"] = r
    t["grad.input"] = x.grad
    for name, p in m.named_parameters():
        t[f"grad.{name}"] = p.grad
    for name, mod in m.named_modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            t[f"after.{name}.running_mean"] = mod.running_mean.detach().clone()
            t[f"after.{name}.running_var"] = mod.running_var.detach().clone()
            t[f"after.{name}.num_batches_tracked"] = mod.num_batches_tracked.clone()
    if getattr(m, "mask", None) is not None:
        t["mask.drop"] = m.mask
    return {k: v.contiguous() for k, v in t.items()}


CASES = {
    "dense": (DenseBn, 1),
    "conv": (ConvBn, 2),
    "depthwise": (DwBn, 3),
    "conv1d": (C1Bn, 4),
    "seq": (SeqBn, 5),
    "residual": (ResBn, 6),
    "dropout": (DropNet, 7),
}


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for case, (cls, seed) in CASES.items():
        save_file(make(cls, seed), str(OUT_DIR / f"{case}.safetensors"))
        print(case)


if __name__ == "__main__":
    main()
