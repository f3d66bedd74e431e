#!/usr/bin/env python3
"""PyTorch reference fixtures for the per-step losses and metrics of
sequence outputs (tests/sequence_loss.rs).

A per-step classifier outputs `[steps, classes]` per sample; Keras'
`CategoricalCrossentropy` / `SparseCategoricalCrossentropy` with the
default `sum_over_batch_size` reduction and PyTorch's `CrossEntropyLoss`
(reduction "mean") on the flattened steps both take a softmax per step and
average the per-step losses over the steps and the batch. This script
builds each case's network from PyTorch modules (nn.GRU with
batch_first, nn.Linear applied per step), fills its parameters with
seeded uniform(-0.5, 0.5) values, draws a seeded batch of inputs and one
class label per step, and writes tests/fixtures/<case>.safetensors with
(all float64):

    <layer>.<param>   every parameter, PyTorch state_dict naming and layout
    input             [batch, steps, features]
    labels            [batch, steps], the class of every step (as floats)
    loss              [1]: F.cross_entropy(logits.reshape(-1, C),
                      labels.reshape(-1)), reduction "mean"
    accuracy          [1]: mean over batch and steps of argmax == label
                      (Keras' sparse_categorical_accuracy)
    grad.<param>      d loss / d param, by autograd

and `__metadata__`: `dsl`, `type`, `kind` = "seq_loss", `generator`.

Deterministic: each case seeds torch and numpy from the CRC32 of its name,
and the file is written with sorted keys (make_fixtures.write_safetensors).

    /tmp/venv/bin/python tools/make_loss_fixtures.py
"""

import sys
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import OUT_DIR, write_safetensors  # noqa: E402

torch.set_default_dtype(torch.float64)

BATCH = 8
CASES = {
    # The per-step gesture classifier: [10, 4] -> GRU(16) per step -> Dense(3, softmax).
    "loss_gru_seq_softmax": dict(
        rust_type="GruSeqSoftmax",
        steps=10,
        features=4,
        units=16,
        classes=3,
        dsl="""
        input: [10, 4],
        gru: Gru(16, return_sequences = true),
        out: Dense(3, activation = softmax),
""",
    ),
}


def make(name, c):
    seed = zlib.crc32(name.encode())
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gru = nn.GRU(c["features"], c["units"], batch_first=True)
    out = nn.Linear(c["units"], c["classes"])
    with torch.no_grad():
        for m in (gru, out):
            for p in m.parameters():
                p.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, size=tuple(p.shape))))
    x = torch.from_numpy(rng.uniform(-1.0, 1.0, size=(BATCH, c["steps"], c["features"])))
    labels = torch.from_numpy(rng.integers(0, c["classes"], size=(BATCH, c["steps"])))
    hs, _ = gru(x)  # zero initial state, every step's hidden state
    logits = out(hs)  # nn.Linear over the last dim: per step
    loss = F.cross_entropy(logits.reshape(-1, c["classes"]), labels.reshape(-1))
    # The same number by Keras' definition, written out: per-step
    # -log softmax at the label, mean over batch and steps.
    keras = -(torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1))).mean()
    assert torch.allclose(loss, keras, rtol=1e-14, atol=0), (loss, keras)
    accuracy = (logits.argmax(-1) == labels).double().mean()
    params = [(f"gru.{k}", p) for k, p in gru.named_parameters()]
    params += [(f"out.{k}", p) for k, p in out.named_parameters()]
    grads = torch.autograd.grad(loss, [p for _, p in params])
    tensors = {
        "input": x,
        "labels": labels.double(),
        "loss": loss.detach().reshape(1),
        "accuracy": accuracy.reshape(1),
    }
    for (k, p), g in zip(params, grads):
        tensors[k] = p.detach().clone()
        tensors[f"grad.{k}"] = g
    tensors = {k: v.detach().to(torch.float64).contiguous() for k, v in tensors.items()}
    metadata = {
        "dsl": c["dsl"],
        "type": c["rust_type"],
        "kind": "seq_loss",
        "generator": f"tools/make_loss_fixtures.py (torch {torch.__version__.split('+')[0]})",
    }
    return tensors, metadata


def main():
    for name, c in CASES.items():
        tensors, metadata = make(name, c)
        path = OUT_DIR / f"{name}.safetensors"
        write_safetensors(path, tensors, metadata)
        print(f"{path.relative_to(OUT_DIR.parent.parent)}: loss {tensors['loss'].item():.6f}, "
              f"accuracy {tensors['accuracy'].item():.4f}")


if __name__ == "__main__":
    main()
