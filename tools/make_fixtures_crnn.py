#!/usr/bin/env python3
"""PyTorch reference fixture for tests/crnn.rs: the CRNN of examples/crnn.rs
(a convolutional front-end on a spectrogram into a two-layer GRU).

The network, as the DSL writes it (input [1, 16, 20]: one channel, 16
frequency bins, 20 time frames):

    conv1: Conv2d(8, kernel = 3, padding = same)       [8, 16, 20]
    bn1:   BatchNorm                                    (eval: running statistics)
    relu1: Relu
    pool1: MaxPool2d((2, 1))                            [8, 8, 20]  (frequency only)
    conv2: Conv2d(8, kernel = 3, padding = same, activation = relu)
    pool2: MaxPool2d((2, 1))                            [8, 4, 20]
    perm:  Permute([2, 0, 1])                           [20, 8, 4]  (time first)
    seq:   Reshape([20, 32])                            20 steps of 8·4 features
    gru1:  Gru(16, return_sequences = true)
    gru2:  Gru(16)
    out:   Dense(3, activation = softmax)

PyTorch: nn.Conv2d, nn.BatchNorm2d in eval() with seeded running mean and
variance (and γ, β), nn.MaxPool2d((2, 1)), x.permute(0, 3, 1, 2) (per
sample: axes [2, 0, 1]), reshape to [N, 20, 32], nn.GRU(batch_first) twice
(the second on the first's whole output sequence, its last state to the
head), nn.Linear and softmax. Every parameter uniform(-0.5, 0.5), running
variance uniform(0.5, 1.5), input uniform(0, 1) (a spectrogram's
magnitudes), r uniform(-1, 1), all from seed CRC32("crnn").

tests/fixtures/crnn/crnn.safetensors holds the state_dict (F64; without
the I64 num_batches_tracked, which is optional on load), input, output, r, loss = Σ output ⊙ r, grad.input and
grad.<param> for every trainable parameter, and the same computed by
PyTorch in float32 (from the float64 values rounded) under `f32.`.

Reruns are byte-identical (sorted keys and metadata, see write_safetensors).

    /tmp/venv-train/bin/python tools/make_fixtures_crnn.py
"""

import zlib
from pathlib import Path

import torch
import torch.nn as nn
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "crnn" / "crnn.safetensors"
SHAPE = (1, 16, 20)


class Crnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.MaxPool2d((2, 1))
        self.gru1 = nn.GRU(32, 16, batch_first=True)
        self.gru2 = nn.GRU(16, 16, batch_first=True)
        self.out = nn.Linear(16, 3)

    def forward(self, x):  # [N, 1, 16, 20]
        y = self.pool(torch.relu(self.bn1(self.conv1(x))))
        y = self.pool(torch.relu(self.conv2(y)))  # [N, 8, 4, 20]
        y = y.permute(0, 3, 1, 2)  # [N, 20, 8, 4]
        y = y.reshape(y.shape[0], 20, 32)
        h, _ = self.gru1(y)
        h, _ = self.gru2(h)
        return torch.softmax(self.out(h[:, -1]), dim=-1)


def write_safetensors(path, tensors, metadata):
    """A safetensors file whose bytes depend only on its contents: sorted
    keys and metadata (safetensors' own writer orders the metadata
    differently from run to run); little-endian F64 tensors."""
    import json
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(np.shape(tensors[name])),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.write(b"".join(blobs))


def main():
    torch.manual_seed(zlib.crc32(b"crnn"))
    net = Crnn().double()
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-0.5, 0.5)
        net.bn1.running_mean.uniform_(-0.5, 0.5)
        net.bn1.running_var.uniform_(0.5, 1.5)
        net.bn1.num_batches_tracked.fill_(3)
    x = torch.rand(*SHAPE, dtype=torch.float64)
    r = torch.rand(3, dtype=torch.float64) * 2 - 1
    # num_batches_tracked (I64) is optional on load; tests/common reads F64 only.
    out = {k: v.clone() for k, v in net.state_dict().items() if v.is_floating_point()}
    out["input"], out["r"] = x, r
    for prefix, dtype in [("", torch.float64), ("f32.", torch.float32)]:
        m = Crnn().to(dtype)
        m.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v)
                           for k, v in net.state_dict().items()})
        m.eval()
        xi = x.to(dtype).clone().unsqueeze(0).requires_grad_(True)
        y = m(xi)[0]
        loss = (y * r.to(dtype)).sum()
        names = [k for k, _ in m.named_parameters()]
        grads = torch.autograd.grad(loss, [xi] + [p for _, p in m.named_parameters()])
        out[f"{prefix}output"] = y.detach().double()
        out[f"{prefix}loss"] = loss.detach().double().reshape(1)
        out[f"{prefix}grad.input"] = grads[0][0].double()
        for k, g in zip(names, grads[1:]):
            out[f"{prefix}grad.{k}"] = g.double()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    out = {k: v.detach().numpy() for k, v in out.items()}
    write_safetensors(OUT, out, {"generator": "tools/make_fixtures_crnn.py", "kind": "crnn"})
    print(f"wrote {OUT.relative_to(ROOT)} ({len(out)} tensors); output {out['output'].tolist()}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
