#!/usr/bin/env python3
"""PyTorch fixture for the Cortex-M hand-written kernels (runtime/src/kernels/thumb.rs).

The textbook CNN of tests/thumb exercises only the `relu` form of the Conv2d
kernel and Dense with 64 outputs. This network also takes the others: a
Conv2d with two input channels and no activation (the kernel's identity
epilogue, its channel loop), a Conv2d with `tanh` (an epilogue the kernel
leaves to the portable code: applied to each finished output row) over 8
input channels, and a Dense with 16 outputs and `tanh`:

    input: [2, 10, 14]
    conv1: Conv2d(8, kernel = 3)                      -> [8, 8, 12]
    pool1: MaxPool2d(2)                               -> [8, 4, 6]
    conv2: Conv2d(4, kernel = 3, activation = tanh)   -> [4, 2, 4]
    flat:  Flatten                                    -> [32]
    fc:    Dense(16, activation = tanh)               -> [16]

Writes tests/fixtures/thumb_kernels.safetensors, all float64: every
parameter under PyTorch's state_dict names (`conv1.weight`, ...), `input`
(no batch dimension) and `output` ([16]), computed by torch.nn modules in
float64. Seeded (torch.manual_seed(12)): the file is reproducible.

    /tmp/venv-train/bin/python tools/make_fixtures_thumb_kernels.py
"""

import pathlib

import torch
from safetensors.torch import save_file

torch.manual_seed(12)
torch.set_default_dtype(torch.float64)

net = torch.nn.ModuleDict(
    {
        "conv1": torch.nn.Conv2d(2, 8, 3),
        "conv2": torch.nn.Conv2d(8, 4, 3),
        "fc": torch.nn.Linear(32, 16),
    }
)
x = torch.randn(2, 10, 14)
with torch.no_grad():
    h = net["conv1"](x.unsqueeze(0))
    h = torch.nn.functional.max_pool2d(h, 2)
    h = torch.tanh(net["conv2"](h))
    h = torch.flatten(h, 1)
    y = torch.tanh(net["fc"](h))[0]

tensors = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
tensors["input"] = x.contiguous()
tensors["output"] = y.contiguous()
out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "thumb_kernels.safetensors"
save_file(tensors, str(out), metadata={"generator": "tools/make_fixtures_thumb_kernels.py", "seed": "12"})
print(f"wrote {out}: output {y.tolist()}")
