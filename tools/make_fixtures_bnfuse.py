#!/usr/bin/env python3
"""PyTorch reference fixtures for the inference fusion of BatchNorm (and the
activation after it) into the preceding convolution or Dense:
tests/fixtures/bnfuse/bnfuse_<case>.safetensors, compared by tests/bnfuse.rs.

One case per kernel path the fused forward runs through (Conv2d's padded /
strided loop and its stride-1 `valid` loop with a filter count that is not
a multiple of its block, the grouped/dilated/bias-free Conv2d, depthwise
with an asymmetric `same` padding, dilated causal Conv1d, Dense with and
without a bias on a vector and on a sequence, a streaming model), with the
element-wise activations after BatchNorm that fuse, and a graph where only
part of a chain may fuse. Every network is stock PyTorch modules in float64,
seeded, in `eval()` (BatchNorm uses its running statistics, made
non-trivial: random mean, variance in [0.5, 1.5), random γ and β). The file
layout is tools/make_fixtures_bnorm.py's (whose helpers this imports): the
`state_dict`, `input`, `output`, `r`, and autograd's gradients of
`loss = Σ output ⊙ r` for the input (`grad.input`) and every parameter.

Run: /tmp/venv-train/bin/python tools/make_fixtures_bnfuse.py
"""

import pathlib

import torch
import torch.nn.functional as F
from torch import nn

from make_fixtures_bnorm import stats, write_safetensors

OUT_DIR = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bnfuse"
torch.set_default_dtype(torch.float64)


class ConvStrided(nn.Module):
    """input [3, 9, 9]; conv: Conv2d(4, kernel = 3, stride = 2, padding = same);
    bn: BatchNorm(eps = 1e-3); relu: Relu"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)  # TF same: 1 and 1
        self.bn = nn.BatchNorm2d(4, eps=1e-3)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class ConvValid(nn.Module):
    """input [2, 7, 6]; conv: Conv2d(6, kernel = 3); bn: BatchNorm; act: Relu6"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3)
        self.bn = nn.BatchNorm2d(6)

    def forward(self, x):
        return F.relu6(self.bn(self.conv(x)))


class ConvGrouped(nn.Module):
    """input [4, 6, 6]; conv: Conv2d(6, kernel = 3, padding = same, dilation = 2,
    groups = 2, bias = false); bn: BatchNorm; act: LeakyRelu(alpha = 0.1)"""

    def __init__(self):
        super().__init__()
        # span 5: TF same pads 2 and 2.
        self.conv = nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=False)
        self.bn = nn.BatchNorm2d(6)

    def forward(self, x):
        return F.leaky_relu(self.bn(self.conv(x)), 0.1)


class Depthwise(nn.Module):
    """input [3, 8, 8]; dw: DepthwiseConv2d(kernel = 3, stride = 2, padding = same,
    depth_multiplier = 2); bn: BatchNorm(eps = 1e-3); relu: Relu"""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(3, 6, 3, stride=2, groups=3)
        self.bn = nn.BatchNorm2d(6, eps=1e-3)

    def forward(self, x):
        # TF same for 8, k 3, s 2: 1 extra row and column, after.
        return torch.relu(self.bn(self.dw(F.pad(x, (0, 1, 0, 1)))))


class Conv1dCausal(nn.Module):
    """input [10, 3]; conv: Conv1d(5, kernel = 3, dilation = 2, padding = causal);
    bn: BatchNorm; act: Silu"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 5, 3, dilation=2)
        self.bn = nn.BatchNorm1d(5)

    def forward(self, x):
        h = F.pad(x.transpose(1, 2), (4, 0))  # [N, F, T], (k − 1)·d before
        return F.silu(self.bn(self.conv(h))).transpose(1, 2)


class DenseNoBias(nn.Module):
    """input [6]; fc: Dense(7, bias = false); bn: BatchNorm(momentum = 0.01);
    act: Gelu; out: Dense(2)"""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 7, bias=False)
        self.bn = nn.BatchNorm1d(7, momentum=0.01)
        self.out = nn.Linear(7, 2)

    def forward(self, x):
        return self.out(F.gelu(self.bn(self.fc(x))))


class DenseSeq(nn.Module):
    """input [4, 3]; fc: Dense(5); bn: BatchNorm; head: Dense(2)"""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 5)
        self.bn = nn.BatchNorm1d(5)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        h = self.bn(self.fc(x).transpose(1, 2)).transpose(1, 2)
        return self.head(h)


class Graph(nn.Module):
    """input [2, 5, 5]; c1: Conv2d(3, kernel = 3, padding = same); bn1: BatchNorm;
    r1: Relu; c2: Conv2d(3, kernel = 1, activation = relu)(input); bn2: BatchNorm;
    add: Add(r1, bn1, bn2)"""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 3, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(3)
        self.c2 = nn.Conv2d(2, 3, 1)
        self.bn2 = nn.BatchNorm2d(3)

    def forward(self, x):
        b1 = self.bn1(self.c1(x))
        return torch.relu(b1) + b1 + self.bn2(torch.relu(self.c2(x)))


class Stream(nn.Module):
    """input [5, 3]; lstm: Lstm(4, return_sequences = true); fc: Dense(6);
    bn: BatchNorm; relu: Relu; out: Dense(2)"""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.fc = nn.Linear(4, 6)
        self.bn = nn.BatchNorm1d(6)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        h, _ = self.lstm(x)
        h = torch.relu(self.bn(self.fc(h).transpose(1, 2)).transpose(1, 2))
        return self.out(h)


CASES = [
    ("conv_strided", ConvStrided, [3, 9, 9]),
    ("conv_valid", ConvValid, [2, 7, 6]),
    ("conv_grouped", ConvGrouped, [4, 6, 6]),
    ("depthwise", Depthwise, [3, 8, 8]),
    ("conv1d", Conv1dCausal, [10, 3]),
    ("dense_no_bias", DenseNoBias, [6]),
    ("dense_seq", DenseSeq, [4, 3]),
    ("graph", Graph, [2, 5, 5]),
    ("stream", Stream, [5, 3]),
]


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for i, (name, cls, shape) in enumerate(CASES):
        torch.manual_seed(300 + i)
        gen = torch.Generator().manual_seed(400 + i)
        net = cls()
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                stats(m, gen)
        net.eval()
        x = torch.randn([1] + shape, generator=gen).requires_grad_(True)
        y = net(x)
        r = torch.randn(y.shape, generator=gen)
        (y * r).sum().backward()
        tensors = {k: v.detach().clone() for k, v in net.state_dict().items()}
        state_dict_names = sorted(tensors)
        tensors["input"] = x.detach()[0].clone()
        tensors["output"] = y.detach()[0].clone()
        tensors["r"] = r[0].clone()
        tensors["grad.input"] = x.grad[0].clone()
        for k, p in net.named_parameters():
            tensors[f"grad.{k}"] = p.grad.detach().clone()
        meta = {
            "kind": "bnfuse",
            "dsl": " ".join(cls.__doc__.split()),
            "generator": "tools/make_fixtures_bnfuse.py",
            "state_dict": ",".join(state_dict_names),
        }
        write_safetensors(OUT_DIR / f"bnfuse_{name}.safetensors", tensors, meta)
        print(f"bnfuse_{name}: output {list(y.shape[1:])}")


if __name__ == "__main__":
    main()
