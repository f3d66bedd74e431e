#!/usr/bin/env python3
"""PyTorch <-> staticnet weight interchange fixtures (tests/interchange.rs).

Three steps, each reproducible (seeded from the CRC32 of the case name):

1. `make` (default): for every case below, build the network its `model!`
   DSL describes from stock PyTorch modules (the builders of
   tools/make_fixtures.py, registered on an nn.Module under the DSL's layer
   names, so `state_dict()` keys are exactly staticnet's tensor names), train
   it briefly (the two reference models) or keep PyTorch's default
   initialisation (one case per layer type), then write

       tests/fixtures/interchange/<case>.safetensors
           model.float().state_dict() saved by `safetensors.torch.save_file`
           (float32, nothing else in the file: the Rust side loads it
           strictly, at run time and with `#[weights = ..]` at compile time)
       tests/fixtures/interchange/<case>.io.safetensors
           `input` [N, ...] (float32 values) and `output` [N, ...]: PyTorch's
           forward in float64 on exactly the float32 weights above, and
           __metadata__ `dsl`, `type` (the Rust side checks its `model!`
           says the same).

   It also writes the small files of the compile-fail cases
   tests/ui/weights-*.rs into tests/ui/weights/.

2. Rust writes weights (PyTorch never saw them):
       STATICNET_WRITE_FIXTURES=1 cargo test --test interchange
   writes tests/fixtures/interchange/rust/<case>.safetensors with
   `Weights::to_safetensors` of `Model::init(seed)` (f32; the forecaster
   also as f64 in <case>.f64.safetensors).

3. `check-rust`: loads every Rust-written file with
   `safetensors.torch.load_file` into the PyTorch model with
   `load_state_dict(strict=True)` (same names, same shapes, nothing extra),
   runs it on the case's inputs and writes
       tests/fixtures/interchange/rust/<file>.torch.safetensors
           `output` (float64) and __metadata__ `weights_crc32` (of the Rust
           file it read) and `torch`.
   tests/interchange.rs checks the CRC (the verdict belongs to the file that
   is committed) and that Rust's forward on the same file gives PyTorch's
   outputs.

    /tmp/venv/bin/python tools/interchange.py            # step 1
    STATICNET_WRITE_FIXTURES=1 cargo test --test interchange
    /tmp/venv/bin/python tools/interchange.py check-rust  # step 3
"""

import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (the DSL parser and module builders)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "interchange"
RUST = OUT / "rust"
UI = ROOT / "tests" / "ui" / "weights"


class Case:
    def __init__(self, name, rust_type, dsl, n, train=None):
        self.name, self.rust_type, self.n, self.train = name, rust_type, n, train
        self.dsl = textwrap.dedent(dsl).strip("\n")


CASES = [
    Case("ix_dense", "IxDense", """
        input: [6],
        fc1: Dense(5, activation = relu),
        fc2: Dense(3, activation = softmax),
    """, n=4),
    Case("ix_conv", "IxConv", """
        input: [2, 7, 6],
        conv1: Conv2d(3, kernel = (3, 2), stride = (2, 1), padding = same, activation = tanh),
        pool: MaxPool2d(2),
        flat: Flatten,
        fc: Dense(4),
    """, n=4),
    Case("ix_rnn", "IxRnn", """
        input: [5, 3],
        rnn: SimpleRnn(4, return_sequences = true),
        fc: Dense(2),
    """, n=4),
    Case("ix_lstm", "IxLstm", """
        input: [6, 3],
        lstm: Lstm(5),
    """, n=4),
    Case("ix_gru", "IxGru", """
        input: [6, 3],
        gru: Gru(4, return_sequences = true),
        flat: Flatten,
        fc: Dense(2, activation = sigmoid),
    """, n=4),
    # The textbook CNN, trained to tell vertical from horizontal bars; the
    # example `from_pytorch` runs it.
    Case("ix_seed_cnn", "IxSeedCnn", """
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(64, activation = relu),
        out: Dense(1, activation = sigmoid),
    """, n=8, train="bars"),
    # The LSTM forecaster, trained briefly to predict the next value of a
    # noisy sum of sines.
    Case("ix_forecaster", "IxForecaster", """
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head: Dense(1),
    """, n=4, train="sines"),
]


class DslNet(nn.Module):
    """The DSL's network from make_fixtures' builders, with each layer's
    module registered under the DSL name (so state_dict keys are
    `conv1.weight`, `lstm1.weight_ih_l0`, ...)."""

    def __init__(self, dsl):
        super().__init__()
        self.input_shape, layers = mf.parse_dsl(dsl)
        x = torch.zeros((1,) + self.input_shape, dtype=torch.float64)
        self.fns = []
        for name, kind, args, opts in layers:
            module, fn = mf.run_layer(kind, args, opts, x)
            if module is not None:
                module.double()
                self.add_module(name, module)
            self.fns.append(fn)
            x = fn(x)

    def forward(self, x):
        for fn in self.fns:
            x = fn(x)
        return x


def bars(rng, n):
    """10x10 images: a vertical (label 1) or horizontal (0) bar, plus noise."""
    x = rng.normal(0.0, 0.15, size=(n, 1, 10, 10))
    y = rng.integers(0, 2, size=n)
    for i in range(n):
        pos, start = rng.integers(1, 9), rng.integers(0, 4)
        length = rng.integers(5, 7)
        if y[i]:
            x[i, 0, start:start + length, pos] += 1.0
        else:
            x[i, 0, pos, start:start + length] += 1.0
    return x, y.astype(np.float64)[:, None]


def sines(rng, n):
    """[32, 8] windows of 8 noisy sines; target: feature 0 one step later."""
    t = np.arange(33)[None, :, None] + rng.uniform(0, 100, size=(n, 1, 1))
    freq = np.linspace(0.05, 0.4, 8)[None, None, :]
    s = np.sin(t * freq) + rng.normal(0, 0.05, size=(n, 33, 8))
    return s[:, :32], s[:, 32, :1]


def train(net, kind, rng):
    data = bars if kind == "bars" else sines
    x, y = (torch.from_numpy(a) for a in data(rng, 256))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    steps = 60 if kind == "bars" else 40
    for _ in range(steps):
        opt.zero_grad()
        p = net(x)
        if kind == "bars":
            loss = nn.functional.binary_cross_entropy(p, y)
        else:
            loss = nn.functional.mse_loss(p, y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        p = net(x)
        if kind == "bars":
            acc = ((p > 0.5) == (y > 0.5)).double().mean().item()
            return f"bce {loss.item():.4f}, train accuracy {acc:.3f}"
        return f"mse {loss.item():.5f}"


def make_case(case):
    seed = zlib.crc32(case.name.encode())
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = DslNet(case.dsl)
    note = "pytorch default init"
    if case.train:
        note = train(net, case.train, rng)
    # float32 weights, as a user would save them ...
    state = {k: v.float().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(OUT / f"{case.name}.safetensors"))
    # ... and the reference computed on exactly those weights in float64.
    # (Loaded into `net` itself: its forward closures hold its modules, so a
    # deep copy would still run the unrounded weights.)
    net.load_state_dict({k: v.double() for k, v in state.items()})
    ref = net
    if case.train == "bars":
        x, labels = bars(rng, case.n)
    elif case.train == "sines":
        x, labels = sines(rng, case.n)
    else:
        x, labels = rng.uniform(-1, 1, size=(case.n,) + net.input_shape), None
    x = torch.from_numpy(x).float().double()  # float32 values
    with torch.no_grad():
        y = ref(x)
    io = {"input": x, "output": y}
    if labels is not None:
        io["label"] = torch.from_numpy(np.asarray(labels, dtype=np.float64))
    meta = {
        "dsl": case.dsl,
        "type": case.rust_type,
        "kind": "interchange",
        "training": note,
        "generator": f"tools/interchange.py (torch {torch.__version__.split('+')[0]})",
    }
    mf.write_safetensors(OUT / f"{case.name}.io.safetensors", io, meta)
    size = (OUT / f"{case.name}.safetensors").stat().st_size
    print(f"{case.name:15} {size:8} bytes  {note}")


def check_rust():
    files = sorted(p for p in RUST.glob("*.safetensors") if not p.name.endswith(".torch.safetensors"))
    if not files:
        sys.exit("no Rust-written files: run STATICNET_WRITE_FIXTURES=1 cargo test --test interchange")
    cases = {c.name: c for c in CASES}
    for path in files:
        case = cases[path.name.split(".")[0]]
        raw = path.read_bytes()
        state = load_file(str(path))
        dtypes = {str(t.dtype) for t in state.values()}
        net = DslNet(case.dsl)
        if dtypes == {"torch.float32"}:
            net.float()
        # strict: the same names and shapes, nothing missing, nothing extra
        net.load_state_dict(state, strict=True)
        net.double()  # exact for float32 weights; reference in float64
        io = load_file(str(OUT / f"{case.name}.io.safetensors"))
        with torch.no_grad():
            y = net(io["input"].double())
        meta = {
            "weights_crc32": str(zlib.crc32(raw)),
            "weights_dtypes": ",".join(sorted(dtypes)),
            "generator": f"tools/interchange.py check-rust (torch {torch.__version__.split('+')[0]})",
        }
        out = path.with_name(path.name.replace(".safetensors", ".torch.safetensors"))
        mf.write_safetensors(out, {"output": y}, meta)
        print(f"{path.name:32} loaded strictly into torch ({meta['weights_dtypes']}), outputs written")


def ui_files():
    """Small files for tests/ui/weights-*.rs (model: input [3], fc: Dense(2))."""
    UI.mkdir(parents=True, exist_ok=True)
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 10
    b = torch.tensor([0.5, -0.5])
    save_file({"fc.weight": w, "fc.bias": b}, str(UI / "dense.safetensors"))
    save_file({"fc.weight": w, "fc.bias": b, "input": torch.zeros(3)},
              str(UI / "dense_extra.safetensors"))
    save_file({"fc.weight": w, "fc.bias": b.to(torch.int64)}, str(UI / "dense_int.safetensors"))
    raw = (UI / "dense.safetensors").read_bytes()
    (UI / "truncated.safetensors").write_bytes(raw[: len(raw) - 5])


def main(argv):
    OUT.mkdir(parents=True, exist_ok=True)
    RUST.mkdir(parents=True, exist_ok=True)
    if argv == ["check-rust"]:
        check_rust()
        return
    if argv:
        sys.exit("usage: interchange.py [check-rust]")
    for case in CASES:
        make_case(case)
    ui_files()


if __name__ == "__main__":
    main(sys.argv[1:])
