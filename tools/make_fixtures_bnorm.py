#!/usr/bin/env python3
"""PyTorch reference fixtures for BatchNorm (eval mode), Dropout, Reshape and
Permute: tests/fixtures/bnorm/bnorm_<case>.safetensors, compared by tests/bnorm.rs.

Each case builds the network of the `model!` of the same name in
tests/bnorm.rs from stock PyTorch modules in float64, seeded, in `eval()`
(BatchNorm uses its running statistics, Dropout is the identity), with
non-trivial running statistics (random mean, variance in [0.5, 1.5),
num_batches_tracked = 7) and random γ and β. A file holds:

- the `state_dict` (parameters and buffers; `num_batches_tracked` as I64);
- `input` (one sample, no batch axis) and `output`;
- `r`, shaped like the output, and autograd's gradients of
  `loss = Σ output ⊙ r` with respect to the input (`grad.input`) and every
  trainable parameter (`grad.<name>`).

`bnorm/bnorm_dense_no_count.safetensors` is the dense case's `state_dict` without
`num_batches_tracked` (a file from before PyTorch 0.4.1, or a Keras
conversion): loading it must work.

Run: /tmp/venv-train/bin/python tools/make_fixtures_bnorm.py
"""

import json
import pathlib

import numpy as np
import torch
from torch import nn

# A subdirectory: the shared runners scan tests/fixtures/ itself and read
# every file there as an all-F64 fixture (these have I64 counts).
OUT_DIR = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bnorm"
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


class ConvBn(nn.Module):
    """input [2, 5, 5]; conv: Conv2d(3, kernel = 3); bn: BatchNorm(eps = 1e-3); relu: Relu"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3, eps=1e-3)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class DenseBn(nn.Module):
    """input [4]; fc1: Dense(5); bn: BatchNorm(momentum = 0.01); act: Tanh; out: Dense(2)"""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.bn = nn.BatchNorm1d(5, momentum=0.01)
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        return self.out(torch.tanh(self.bn(self.fc1(x))))


class SeqBn(nn.Module):
    """input [6, 3]; lstm: Lstm(4, return_sequences = true); bn: BatchNorm; head: Dense(2)"""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.bn = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h, _ = self.lstm(x)  # [N, T, F]
        # BatchNorm1d normalises dim 1: features go there and back.
        h = self.bn(h.transpose(1, 2)).transpose(1, 2)
        return self.head(h)


class DropNet(nn.Module):
    """input [4]; fc1: Dense(5, activation = relu); drop: Dropout(0.5); out: Dense(3)"""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(5, 3)

    def forward(self, x):
        return self.out(self.drop(torch.relu(self.fc1(x))))


class Crnn(nn.Module):
    """input [2, 4, 6]; conv: Conv2d(3, kernel = 3, padding = same); bn: BatchNorm;
    relu: Relu; perm: Permute([2, 0, 1]); rs: Reshape([6, 12]); gru: Gru(5); out: Dense(2)"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.gru = nn.GRU(12, 5, batch_first=True)
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))  # [N, 3, 4, 6] = [N, c, h, w]
        y = y.permute(0, 3, 1, 2)  # [N, w, c, h]: Permute([2, 0, 1]) per sample
        y = y.reshape(y.shape[0], 6, 12)  # [N, steps, features]
        h, _ = self.gru(y)
        return self.out(h[:, -1])


CASES = [
    ("conv", ConvBn, [2, 5, 5]),
    ("dense", DenseBn, [4]),
    ("seq", SeqBn, [6, 3]),
    ("dropout", DropNet, [4]),
    ("crnn", Crnn, [2, 4, 6]),
]


def write_safetensors(path, tensors, metadata):
    """A safetensors file whose bytes depend only on its contents (sorted
    keys); F64 tensors, I64 for integer ones."""
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype == torch.int64:
            data, dtype = t.numpy().astype("<i8").tobytes(), "I64"
        else:
            data, dtype = t.numpy().astype("<f8").tobytes(), "F64"
        header[name] = {
            "dtype": dtype,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.write(b"".join(blobs))
    from safetensors.torch import load_file

    back = load_file(str(path))
    assert back.keys() == tensors.keys()
    for name, t in tensors.items():
        assert torch.equal(back[name], t), name


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for i, (name, cls, shape) in enumerate(CASES):
        torch.manual_seed(100 + i)
        gen = torch.Generator().manual_seed(200 + i)
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
            "kind": "bnorm",
            "dsl": cls.__doc__,
            "generator": "tools/make_fixtures_bnorm.py",
            "state_dict": ",".join(state_dict_names),
        }
        write_safetensors(OUT_DIR / f"bnorm_{name}.safetensors", tensors, meta)
        if name == "dense":
            sd = {k: v.detach().clone() for k, v in net.state_dict().items()}
            del sd["bn.num_batches_tracked"]
            write_safetensors(
                OUT_DIR / "bnorm_dense_no_count.safetensors",
                sd,
                {"kind": "bnorm", "generator": "tools/make_fixtures_bnorm.py"},
            )
        print(f"bnorm_{name}: output {list(y.shape[1:])}")


if __name__ == "__main__":
    main()
