#!/usr/bin/env python3
"""Training throughput of examples/fashion_mnist.rs's network in PyTorch
(issue 11 item 5: "the BatchNorm network's samples/s beside PyTorch's on the
same network"), one thread, eager, batch 32, Adam (fused, PyTorch's best
single-thread mode for W1/W2 in tools/bench_torch.py), model.train() so
BatchNorm uses batch statistics and Dropout(0.2) is active, softmax
cross-entropy on integer labels.

The same architecture as `FashionNet` (18,522 trainable parameters and 320 running statistics, the example's
18,842; checked below):
a stride-2 3x3 stem (16, no bias), BatchNorm, ReLU; a residual
depthwise-separable block at 14x14; a stride-2 depthwise-separable block to
7x7 (16 -> 32); a residual one at 7x7; Flatten, Dropout(0.2), Dense(10).
Keras/staticnet "same" padding with stride 2 on 28 pads one row/column at
the end only (TF's rule), done here with F.pad.

Inputs are seeded uniform [0, 1) images and labels: the speed of a step does
not depend on the values. Reports samples/s of thread CPU time (median of
repeats), like tools/bench_torch.py.

    /tmp/venv-train/bin/python tools/bench_fashion_torch.py [--steps 125] [--repeats 5]
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class FashionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, stride=2, bias=False)
        self.bn0 = nn.BatchNorm2d(16)
        self.dw1 = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.bn1a = nn.BatchNorm2d(16)
        self.pw1 = nn.Conv2d(16, 16, 1, bias=False)
        self.bn1b = nn.BatchNorm2d(16)
        self.dw2 = nn.Conv2d(16, 16, 3, stride=2, groups=16, bias=False)
        self.bn2a = nn.BatchNorm2d(16)
        self.pw2 = nn.Conv2d(16, 32, 1, bias=False)
        self.bn2b = nn.BatchNorm2d(32)
        self.dw3 = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
        self.bn3a = nn.BatchNorm2d(32)
        self.pw3 = nn.Conv2d(32, 32, 1, bias=False)
        self.bn3b = nn.BatchNorm2d(32)
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        r0 = F.relu(self.bn0(self.stem(F.pad(x, (0, 1, 0, 1)))))
        r1a = F.relu(self.bn1a(self.dw1(r0)))
        r1 = F.relu(self.bn1b(self.pw1(r1a)) + r0)
        r2a = F.relu(self.bn2a(self.dw2(F.pad(r1, (0, 1, 0, 1)))))
        r2 = F.relu(self.bn2b(self.pw2(r2a)))
        r3a = F.relu(self.bn3a(self.dw3(r2)))
        r3 = F.relu(self.bn3b(self.pw3(r3a)) + r2)
        return self.out(self.drop(torch.flatten(r3, 1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=125, help="steps of batch 32 per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model = FashionNet()
    n_params = sum(p.numel() for p in model.parameters())
    n_stats = sum(b.numel() for n, b in model.named_buffers() if "running" in n)
    # The example's 18,842 counts BatchNorm's running statistics too.
    assert (n_params, n_params + n_stats) == (18522, 18842), (n_params, n_stats)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(args.steps, 32, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (args.steps, 32), generator=g)

    def epoch():
        for k in range(args.steps):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[k]), y[k])
            loss.backward()
            opt.step()

    epoch()  # warm-up
    rates, walls = [], []
    for _ in range(args.repeats):
        c0, t0 = time.thread_time(), time.perf_counter()
        epoch()
        rates.append(args.steps * 32 / (time.thread_time() - c0))
        walls.append(args.steps * 32 / (time.perf_counter() - t0))
    print(f"PyTorch {torch.__version__}, 1 thread, FashionNet ({n_params} parameters), "
          f"train(), batch 32, fused Adam: median {statistics.median(rates):,.0f} samples/s "
          f"(thread CPU time; repeats {', '.join(f'{r:,.0f}' for r in rates)}); "
          f"wall-time median {statistics.median(walls):,.0f}")


if __name__ == "__main__":
    main()
