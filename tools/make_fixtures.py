#!/usr/bin/env python3
"""PyTorch reference fixtures for tests/forward_fixtures.rs and tests/gradient_fixtures.rs.

For every case below this script builds the network that the case's `model!`
DSL describes out of PyTorch modules, fills its parameters with seeded random
values, draws a seeded random input, runs the forward pass in float64 and
writes tests/fixtures/<case>.safetensors holding (all float64):

    <layer>.<param>   every parameter, under PyTorch state_dict naming and
                      layout with the layer named as in the DSL
                      (`conv1.weight`, `lstm1.weight_ih_l0`, ...)
    input             shape as written in the DSL, no batch dimension
    output            the model's output, no batch dimension

and in the safetensors `__metadata__`: `dsl` (the DSL body below, verbatim),
`type` (the Rust struct name the test gives the model), `kind` ("forward"),
`init` and `generator`.

Beside each forward fixture it writes tests/fixtures/grad_<case>.safetensors
for tests/gradient_fixtures.rs: a random R shaped like the output, and
PyTorch autograd's gradients of L = sum(output * R) with respect to every
parameter (`grad.<state_dict name>`) and the input (`grad.input`), plus L
itself (`loss`), all float64, with metadata kind = "grad" and `forward` = the
case whose weights and input they belong to (they are not repeated).
`--only-grad` rewrites only the gradient files, leaving the forward ones alone.

The DSL text is parsed only to decide which PyTorch modules to build; the
numbers themselves come from PyTorch (nn.Linear, nn.Conv2d, nn.MaxPool2d,
nn.AvgPool2d, nn.Flatten, nn.RNN/LSTM/GRU, torch.softmax, ...). The one
place that is not a stock module is SimpleRnn with `sigmoid` or `linear`
activation, which nn.RNN does not offer: it is a per-step loop in torch over
nn.RNN's own parameters, and that loop is checked against nn.RNN for tanh
and relu every run.

Semantics taken from DESIGN.md (see tools/README.md for the reasoning):
- Dense on a sequence applies per step (nn.Linear over the last dim);
  its softmax is over the units of each step.
- `padding = same` is TensorFlow's: pad_total = max((ceil(in/s)-1)*s + k - in, 0),
  top/left = pad_total // 2, the rest at the bottom/right (F.pad); for stride 1
  and an odd kernel this equals nn.Conv2d(padding="same"), which is used there.
- Softmax (activation or layer) acts over the last dimension of a vector or
  sequence, and over channels at each pixel of an image.
- Pooling floors (ragged edges are dropped), stride defaults to the window.
- Recurrent layers start from zero state; without return_sequences they
  output the last hidden state h_T.

Deterministic: each case seeds torch and numpy from a CRC32 of its name, so
adding or reordering cases leaves the other files byte-identical. CPU only,
runs in a few seconds:

    /tmp/venv/bin/python tools/make_fixtures.py            # write every case
    /tmp/venv/bin/python tools/make_fixtures.py conv_same_even_s2 seed_cnn
    /tmp/venv/bin/python tools/make_fixtures.py --only-grad [case ...]
"""

import ast
import json
import math
import textwrap
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "fixtures"

# Small cases use uniform(-0.5, 0.5) for every parameter (biases too, so a
# bias that is dropped or misplaced shows). The two reference models keep
# PyTorch's default initialisation (uniform ±1/sqrt(fan_in), non-zero biases)
# so that their 512- and 32-wide sums do not saturate the sigmoid.
UNIFORM = "uniform(-0.5, 0.5)"
TORCH_DEFAULT = "pytorch default"


class Case:
    def __init__(self, name, rust_type, dsl, init=UNIFORM):
        self.name = name
        self.rust_type = rust_type
        self.dsl = textwrap.dedent(dsl).strip("\n")
        self.init = init


# ---------------------------------------------------------------------------
# The cases. `dsl` is the body of `model! { pub struct <type> { ... } }` in
# tests/forward_fixtures.rs, character for character up to whitespace (the
# test checks this).
# ---------------------------------------------------------------------------
CASES = [
    # --- Dense on a vector, every activation -------------------------------
    Case("dense_default", "DenseDefault", """
        input: [5],
        fc: Dense(4),
    """),
    Case("dense_linear", "DenseLinear", """
        input: [5],
        fc: Dense(4, activation = linear),
    """),
    Case("dense_relu", "DenseRelu", """
        input: [6],
        fc: Dense(5, activation = relu),
    """),
    Case("dense_sigmoid", "DenseSigmoid", """
        input: [6],
        fc: Dense(3, activation = sigmoid),
    """),
    Case("dense_tanh", "DenseTanh", """
        input: [4],
        fc: Dense(5, activation = tanh),
    """),
    Case("dense_softmax", "DenseSoftmax", """
        input: [6],
        fc: Dense(4, activation = softmax),
    """),
    Case("dense_chain", "DenseChain", """
        input: [7],
        fc1: Dense(6, activation = relu),
        fc2: Dense(5, activation = tanh),
        fc3: Dense(3),
    """),
    # --- Dense per step on a sequence --------------------------------------
    Case("dense_seq", "DenseSeq", """
        input: [4, 3],
        fc: Dense(5, activation = tanh),
    """),
    Case("dense_seq_softmax", "DenseSeqSoftmax", """
        input: [3, 5],
        fc: Dense(4, activation = softmax),
    """),
    # --- Conv2d -------------------------------------------------------------
    Case("conv_valid", "ConvValid", """
        input: [1, 6, 7],
        conv: Conv2d(2, kernel = 3),
    """),
    Case("conv_rect_relu", "ConvRectRelu", """
        input: [2, 6, 7],
        conv: Conv2d(3, kernel = (2, 3), padding = valid, activation = relu),
    """),
    Case("conv_stride_2_1", "ConvStride21", """
        input: [2, 7, 6],
        conv: Conv2d(2, kernel = (3, 2), stride = (2, 1), activation = linear),
    """),
    Case("conv_stride2_tanh", "ConvStride2Tanh", """
        input: [3, 7, 8],
        conv: Conv2d(2, kernel = 3, stride = 2, activation = tanh),
    """),
    # same, odd kernel, stride 1: 1 on every side.
    Case("conv_same_odd_s1", "ConvSameOddS1", """
        input: [2, 5, 6],
        conv: Conv2d(3, kernel = 3, padding = same, activation = sigmoid),
    """),
    # same, even kernel, stride 1: rows 1 top / 2 bottom, cols 0 left / 1 right.
    Case("conv_same_even_s1", "ConvSameEvenS1", """
        input: [2, 5, 6],
        conv: Conv2d(2, kernel = (4, 2), padding = same),
    """),
    # same, odd kernel, stride 2: rows 1/1, cols 0/1 -> [2, 4, 4].
    Case("conv_same_odd_s2", "ConvSameOddS2", """
        input: [2, 7, 8],
        conv: Conv2d(3, kernel = 3, stride = 2, padding = same),
    """),
    # same, even kernel, stride 2: rows 1/1, cols 1/2 -> [2, 3, 4].
    Case("conv_same_even_s2", "ConvSameEvenS2", """
        input: [1, 6, 7],
        conv: Conv2d(2, kernel = 4, stride = 2, padding = same, activation = relu),
    """),
    # same, rectangular kernel, stride (2, 1): rows 0/1, cols 0/1 -> [2, 3, 5].
    Case("conv_same_rect_s21", "ConvSameRectS21", """
        input: [2, 6, 5],
        conv: Conv2d(2, kernel = (3, 2), stride = (2, 1), padding = same),
    """),
    # same where TensorFlow's pad_total is negative in one dim and clamps to 0:
    # rows (3-1)*3 + 1 - 8 = -1 -> 0, cols (3-1)*3 + 2 - 8 = 0 -> [2, 3, 3].
    Case("conv_same_clamped", "ConvSameClamped", """
        input: [1, 8, 8],
        conv: Conv2d(2, kernel = (1, 2), stride = 3, padding = same),
    """),
    Case("conv_pad_int", "ConvPadInt", """
        input: [2, 5, 6],
        conv: Conv2d(3, kernel = 3, stride = 2, padding = 1, activation = tanh),
    """),
    Case("conv_pad_pair", "ConvPadPair", """
        input: [1, 4, 5],
        conv: Conv2d(2, kernel = (3, 2), padding = (2, 1)),
    """),
    # softmax over the 4 channels at each pixel.
    Case("conv_softmax", "ConvSoftmax", """
        input: [3, 4, 4],
        conv: Conv2d(4, kernel = 2, activation = softmax),
    """),
    Case("conv_conv", "ConvConv", """
        input: [2, 7, 7],
        conv1: Conv2d(3, kernel = 3, activation = relu),
        conv2: Conv2d(2, kernel = (2, 3), stride = (1, 2), padding = same, activation = sigmoid),
    """),
    # --- MaxPool2d ------------------------------------------------------------
    Case("maxpool_2", "MaxPool2", """
        input: [2, 4, 6],
        pool: MaxPool2d(2),
    """),
    Case("maxpool_ragged", "MaxPoolRagged", """
        input: [2, 5, 7],
        pool: MaxPool2d(2),
    """),
    Case("maxpool_overlap", "MaxPoolOverlap", """
        input: [1, 6, 7],
        pool: MaxPool2d(3, stride = 2),
    """),
    Case("maxpool_gap", "MaxPoolGap", """
        input: [1, 7, 8],
        pool: MaxPool2d(2, stride = 3),
    """),
    Case("maxpool_rect", "MaxPoolRect", """
        input: [2, 5, 7],
        pool: MaxPool2d((2, 3)),
    """),
    Case("maxpool_rect_stride", "MaxPoolRectStride", """
        input: [1, 5, 5],
        pool: MaxPool2d((3, 2), stride = (1, 2)),
    """),
    # --- AvgPool2d ------------------------------------------------------------
    Case("avgpool_2", "AvgPool2", """
        input: [2, 4, 6],
        pool: AvgPool2d(2),
    """),
    Case("avgpool_ragged", "AvgPoolRagged", """
        input: [2, 5, 7],
        pool: AvgPool2d(2),
    """),
    Case("avgpool_overlap", "AvgPoolOverlap", """
        input: [1, 6, 7],
        pool: AvgPool2d(3, stride = 2),
    """),
    Case("avgpool_gap", "AvgPoolGap", """
        input: [1, 7, 8],
        pool: AvgPool2d(2, stride = 3),
    """),
    Case("avgpool_rect", "AvgPoolRect", """
        input: [2, 5, 7],
        pool: AvgPool2d((2, 3)),
    """),
    Case("avgpool_rect_stride", "AvgPoolRectStride", """
        input: [1, 5, 5],
        pool: AvgPool2d((3, 2), stride = (1, 2)),
    """),
    # --- Flatten --------------------------------------------------------------
    # A Dense after Flatten makes the flat order matter (its weights are
    # laid out for PyTorch's order); a conv before it makes the image one the
    # model computed rather than the input.
    Case("flatten_image", "FlattenImage", """
        input: [2, 5, 4],
        conv: Conv2d(3, kernel = (2, 3), activation = relu),
        flat: Flatten,
        fc: Dense(3),
    """),
    Case("flatten_sequence", "FlattenSequence", """
        input: [3, 4],
        flat: Flatten,
        fc: Dense(2, activation = tanh),
    """),
    Case("flatten_after_gru", "FlattenAfterGru", """
        input: [4, 3],
        gru: Gru(3, return_sequences = true),
        flat: Flatten,
        fc: Dense(2),
    """),
    # --- stand-alone activation layers ------------------------------------
    Case("relu_vector", "ReluVector", """
        input: [7],
        act: Relu,
    """),
    Case("sigmoid_vector", "SigmoidVector", """
        input: [7],
        act: Sigmoid,
    """),
    Case("tanh_vector", "TanhVector", """
        input: [7],
        act: Tanh,
    """),
    Case("softmax_vector", "SoftmaxVector", """
        input: [7],
        act: Softmax,
    """),
    Case("relu_sequence", "ReluSequence", """
        input: [3, 4],
        act: Relu,
    """),
    Case("sigmoid_sequence", "SigmoidSequence", """
        input: [3, 4],
        act: Sigmoid,
    """),
    Case("tanh_sequence", "TanhSequence", """
        input: [3, 4],
        act: Tanh,
    """),
    # softmax over the 4 features of each of the 3 steps.
    Case("softmax_sequence", "SoftmaxSequence", """
        input: [3, 4],
        act: Softmax,
    """),
    Case("relu_image", "ReluImage", """
        input: [3, 2, 4],
        act: Relu,
    """),
    Case("sigmoid_image", "SigmoidImage", """
        input: [3, 2, 4],
        act: Sigmoid,
    """),
    Case("tanh_image", "TanhImage", """
        input: [3, 2, 4],
        act: Tanh,
    """),
    # softmax over the 3 channels at each of the 2x4 pixels.
    Case("softmax_image", "SoftmaxImage", """
        input: [3, 2, 4],
        act: Softmax,
    """),
    # A stand-alone activation after a layer that has parameters.
    Case("dense_then_softmax", "DenseThenSoftmax", """
        input: [5],
        fc: Dense(4),
        act: Softmax,
    """),
    Case("conv_then_softmax", "ConvThenSoftmax", """
        input: [2, 4, 5],
        conv: Conv2d(3, kernel = (2, 2)),
        act: Softmax,
    """),
    # --- SimpleRnn ----------------------------------------------------------
    Case("rnn_default", "RnnDefault", """
        input: [5, 3],
        rnn: SimpleRnn(4),
    """),
    Case("rnn_tanh_seq", "RnnTanhSeq", """
        input: [5, 3],
        rnn: SimpleRnn(4, activation = tanh, return_sequences = true),
    """),
    Case("rnn_relu", "RnnRelu", """
        input: [5, 3],
        rnn: SimpleRnn(4, activation = relu),
    """),
    Case("rnn_relu_seq", "RnnReluSeq", """
        input: [5, 3],
        rnn: SimpleRnn(4, activation = relu, return_sequences = true),
    """),
    Case("rnn_sigmoid", "RnnSigmoid", """
        input: [5, 3],
        rnn: SimpleRnn(4, activation = sigmoid, return_sequences = false),
    """),
    Case("rnn_sigmoid_seq", "RnnSigmoidSeq", """
        input: [5, 3],
        rnn: SimpleRnn(4, activation = sigmoid, return_sequences = true),
    """),
    Case("rnn_linear", "RnnLinear", """
        input: [5, 3],
        rnn: SimpleRnn(4, activation = linear),
    """),
    Case("rnn_linear_seq", "RnnLinearSeq", """
        input: [5, 3],
        rnn: SimpleRnn(4, activation = linear, return_sequences = true),
    """),
    # --- Lstm and Gru ---------------------------------------------------------
    Case("lstm_last", "LstmLast", """
        input: [5, 3],
        lstm: Lstm(4),
    """),
    Case("lstm_seq", "LstmSeq", """
        input: [5, 3],
        lstm: Lstm(4, return_sequences = true),
    """),
    Case("gru_last", "GruLast", """
        input: [5, 3],
        gru: Gru(4, return_sequences = false),
    """),
    Case("gru_seq", "GruSeq", """
        input: [5, 3],
        gru: Gru(4, return_sequences = true),
    """),
    # --- stacks of two recurrent layers -------------------------------------
    Case("lstm_lstm", "LstmLstm", """
        input: [6, 3],
        lstm1: Lstm(5, return_sequences = true),
        lstm2: Lstm(3),
    """),
    Case("gru_gru", "GruGru", """
        input: [6, 3],
        gru1: Gru(5, return_sequences = true),
        gru2: Gru(3),
    """),
    Case("rnn_lstm", "RnnLstm", """
        input: [6, 3],
        rnn: SimpleRnn(5, return_sequences = true),
        lstm: Lstm(3),
    """),
    Case("gru_gru_seq", "GruGruSeq", """
        input: [4, 2],
        gru1: Gru(3, return_sequences = true),
        gru2: Gru(4, return_sequences = true),
    """),
    # --- Dense after recurrent layers ------------------------------------
    Case("lstm_seq_dense", "LstmSeqDense", """
        input: [5, 3],
        lstm: Lstm(4, return_sequences = true),
        fc: Dense(3, activation = softmax),
    """),
    Case("rnn_seq_dense", "RnnSeqDense", """
        input: [5, 2],
        rnn: SimpleRnn(3, activation = relu, return_sequences = true),
        fc: Dense(2, activation = sigmoid),
    """),
    Case("gru_dense", "GruDense", """
        input: [5, 3],
        gru: Gru(4),
        fc: Dense(2, activation = relu),
    """),
    # --- the two reference models of DESIGN.md ---------------------------
    Case("seed_cnn", "SeedCnn", """
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(64, activation = relu),
        out: Dense(1, activation = sigmoid),
    """, init=TORCH_DEFAULT),
    Case("forecaster", "Forecaster", """
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head: Dense(1),
    """, init=TORCH_DEFAULT),
]


# ---------------------------------------------------------------------------
# DSL parsing: only enough to pick the PyTorch modules. Options are checked
# against the DSL table so a typo in a case fails here, not silently.
# ---------------------------------------------------------------------------
OPTIONS = {
    "Dense": {"activation"},
    "Conv2d": {"kernel", "stride", "padding", "activation"},
    "MaxPool2d": {"stride"},
    "AvgPool2d": {"stride"},
    "Flatten": set(),
    "SimpleRnn": {"activation", "return_sequences"},
    "Lstm": {"return_sequences"},
    "Gru": {"return_sequences"},
    "Relu": set(),
    "Sigmoid": set(),
    "Tanh": set(),
    "Softmax": set(),
}
ACTIVATIONS = {"linear", "relu", "sigmoid", "tanh", "softmax"}


def value(node):
    """An option value: int, (int, int), or a bare word such as `same`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Tuple) and len(node.elts) == 2:
        return tuple(value(e) for e in node.elts)
    if isinstance(node, ast.Name):
        return node.id
    raise ValueError(f"unsupported option value {ast.dump(node)}")


def parse_dsl(dsl):
    """Returns (input_shape, [(name, kind, positional_args, options)])."""
    input_shape, layers = None, []
    for line in dsl.splitlines():
        line = line.strip()
        if not line:
            continue
        assert line.endswith(","), f"every DSL line ends with a comma: {line!r}"
        name, expr = (s.strip() for s in line[:-1].split(":", 1))
        if name == "input":
            input_shape = tuple(ast.literal_eval(expr))
            continue
        node = ast.parse(expr, mode="eval").body
        if isinstance(node, ast.Name):
            kind, args, opts = node.id, [], {}
        else:
            kind = node.func.id
            args = [value(a) for a in node.args]
            opts = {k.arg: value(k.value) for k in node.keywords}
        unknown = set(opts) - OPTIONS[kind]
        assert not unknown, f"{name}: unknown options {unknown}"
        layers.append((name, kind, args, opts))
    assert input_shape is not None, "missing input"
    return input_shape, layers


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


def activate(x, name, softmax_dim):
    assert name in ACTIVATIONS, name
    if name == "linear":
        return x
    if name == "relu":
        return torch.relu(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    return torch.softmax(x, dim=softmax_dim)


def same_pads(size, k, s):
    """TensorFlow's `same`: (before, after) padding of one spatial dim."""
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------------------
# Building and running the network. `x` always carries a batch dim of 1:
# vector (1, n), sequence (1, steps, features), image (1, C, H, W).
# ---------------------------------------------------------------------------
def simple_rnn(rnn, x, act):
    """Per-step loop over nn.RNN's parameters (h_0 = 0), any activation."""
    w_ih, w_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
    b_ih, b_hh = rnn.bias_ih_l0, rnn.bias_hh_l0
    h = torch.zeros(x.shape[0], w_hh.shape[1], dtype=x.dtype)
    outs = []
    for t in range(x.shape[1]):
        h = activate(x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh, act, -1)
        outs.append(h)
    return torch.stack(outs, dim=1)


def run_layer(kind, args, opts, x):
    """Builds the PyTorch module(s) of one layer; returns (module or None, fn)."""
    rank = x.dim() - 1
    if kind == "Dense":
        assert rank in (1, 2), "Dense takes a vector or a sequence"
        (units,) = args
        lin = nn.Linear(x.shape[-1], units)
        act = opts.get("activation", "linear")
        # nn.Linear maps the last dim, i.e. per step on a sequence.
        return lin, lambda x: activate(lin(x), act, -1)
    if kind == "Conv2d":
        assert rank == 3
        (filters,) = args
        kh, kw = pair(opts["kernel"])
        sh, sw = pair(opts.get("stride", 1))
        padding = opts.get("padding", "valid")
        act = opts.get("activation", "linear")
        if padding == "same" and (sh, sw) == (1, 1) and kh % 2 == 1 and kw % 2 == 1:
            conv = nn.Conv2d(x.shape[1], filters, (kh, kw), padding="same")
            pre = lambda x: x
        elif padding == "same":
            top, bottom = same_pads(x.shape[2], kh, sh)
            left, right = same_pads(x.shape[3], kw, sw)
            conv = nn.Conv2d(x.shape[1], filters, (kh, kw), stride=(sh, sw))
            pre = lambda x: F.pad(x, (left, right, top, bottom))
        else:
            pads = (0, 0) if padding == "valid" else pair(padding)
            conv = nn.Conv2d(x.shape[1], filters, (kh, kw), stride=(sh, sw), padding=pads)
            pre = lambda x: x
        return conv, lambda x: activate(conv(pre(x)), act, 1)  # softmax over channels
    if kind in ("MaxPool2d", "AvgPool2d"):
        assert rank == 3
        (size,) = args
        k = pair(size)
        s = pair(opts.get("stride", size))
        cls = nn.MaxPool2d if kind == "MaxPool2d" else nn.AvgPool2d
        pool = cls(k, stride=s)  # no padding, floor mode: ragged edges dropped
        return None, pool
    if kind == "Flatten":
        assert rank in (2, 3)
        return None, nn.Flatten()
    if kind in ("Relu", "Sigmoid", "Tanh", "Softmax"):
        act = kind.lower()
        dim = 1 if rank == 3 else -1  # channels of an image, else last dim
        return None, lambda x: activate(x, act, dim)
    if kind in ("SimpleRnn", "Lstm", "Gru"):
        assert rank == 2, "recurrent layers take a sequence"
        (units,) = args
        seqs = opts.get("return_sequences", "false")
        assert seqs in ("true", "false")
        features = x.shape[-1]
        if kind == "SimpleRnn":
            act = opts.get("activation", "tanh")
            if act in ("tanh", "relu"):
                mod = nn.RNN(features, units, nonlinearity=act, batch_first=True)
            else:
                mod = nn.RNN(features, units, batch_first=True)  # parameters only
        else:
            mod = (nn.LSTM if kind == "Lstm" else nn.GRU)(features, units, batch_first=True)

        def forward(x):
            if kind == "SimpleRnn":
                ys = simple_rnn(mod, x, act)
                if act in ("tanh", "relu"):
                    ref, _ = mod(x)
                    assert torch.allclose(ys, ref, rtol=0, atol=1e-14), "loop != nn.RNN"
            else:
                ys, _ = mod(x)  # zero initial state
            return ys if seqs == "true" else ys[:, -1]

        return mod, forward
    raise ValueError(f"unknown layer {kind}")


def build_case(case):
    """The forward fixture of `case`: (tensors, metadata, net), where `net`
    lists the (layer name, module or None, function) that made the output,
    for `grad_case` to run again with autograd on."""
    seed = zlib.crc32(case.name.encode())
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    input_shape, layers = parse_dsl(case.dsl)
    x = torch.from_numpy(rng.uniform(-1.0, 1.0, size=input_shape)).unsqueeze(0)
    tensors = {"input": x[0].clone()}
    net = []
    with torch.no_grad():
        for name, kind, args, opts in layers:
            module, fn = run_layer(kind, args, opts, x)
            if module is not None:
                module.double()
                if case.init == UNIFORM:
                    for p in module.parameters():
                        p.uniform_(-0.5, 0.5)
                for key, t in module.state_dict().items():
                    tensors[f"{name}.{key}"] = t.detach().clone()
            net.append((name, module, fn))
            x = fn(x)
    tensors["output"] = x[0].clone()
    tensors = {k: v.to(torch.float64).contiguous() for k, v in tensors.items()}
    metadata = {
        "dsl": case.dsl,
        "kind": "forward",
        "type": case.rust_type,
        "init": case.init,
        "generator": f"tools/make_fixtures.py (torch {torch.__version__.split('+')[0]})",
    }
    return tensors, metadata, net


def grad_case(case, forward, net):
    """The gradient fixture of `case`, from its forward fixture's tensors and
    the network that made them.

    Draws R ~ uniform(-1, 1) shaped like the output (from its own seed, the
    CRC32 of `grad:<case>`, so the forward fixture's draws are untouched),
    runs the same modules forward again with autograd on, and takes the
    gradient of L = sum(output * R) with respect to every parameter and the
    input. Returns (tensors, metadata) for `grad_<case>.safetensors`:

        r                   R, shaped like the output
        loss                [1]: L, so the Rust side can tell that the
                            forward fixture it loads is the one these
                            gradients belong to
        grad.<param>        dL/d<param>, state_dict name and layout
        grad.input          dL/dinput, shaped like the input
    """
    rng = np.random.default_rng(zlib.crc32(f"grad:{case.name}".encode()))
    out = forward["output"]
    r = torch.from_numpy(rng.uniform(-1.0, 1.0, size=tuple(out.shape)))
    x0 = forward["input"].clone().unsqueeze(0).requires_grad_(True)
    params = []
    for name, module, _ in net:
        if module is not None:
            for key, p in module.named_parameters():
                assert torch.equal(p.detach(), forward[f"{name}.{key}"]), key
                params.append((f"{name}.{key}", p))
    x = x0
    for _, _, fn in net:
        x = fn(x)
    y = x[0]
    # The autograd forward must be the forward fixture's output; it is in
    # practice bit for bit, the tolerance only guards against a kernel
    # choosing another summation order with grad mode on.
    assert torch.allclose(y.detach(), out, rtol=1e-14, atol=1e-14), case.name
    loss = (y * r).sum()
    grads = torch.autograd.grad(loss, [x0] + [p for _, p in params])
    tensors = {"r": r, "loss": loss.detach().reshape(1), "grad.input": grads[0][0]}
    for (key, _), g in zip(params, grads[1:]):
        tensors[f"grad.{key}"] = g
    tensors = {k: v.detach().to(torch.float64).contiguous() for k, v in tensors.items()}
    for key in forward:
        if key not in ("input", "output"):
            assert f"grad.{key}" in tensors, f"{case.name}: no gradient for {key}"
            assert tensors[f"grad.{key}"].shape == forward[key].shape, key
    metadata = {
        "dsl": case.dsl,
        "kind": "grad",
        "forward": case.name,
        "type": case.rust_type,
        "init": case.init,
        "loss": "sum(output * r)",
        "generator": f"tools/make_fixtures.py (torch {torch.__version__.split('+')[0]})",
    }
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes a safetensors file whose bytes depend only on its contents.

    safetensors' own writer emits `__metadata__` in hash-map order, which
    changes from run to run; this writes the same format (8-byte little-endian
    header length, JSON header padded with spaces to a multiple of 8, then the
    raw little-endian data) with sorted keys, and reads it back with the
    safetensors library to check it.
    """
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        data = tensors[name].numpy().astype("<f8", copy=False).tobytes()
        header[name] = {
            "dtype": "F64",
            "shape": list(tensors[name].shape),
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
    back = load_file(str(path))
    assert back.keys() == tensors.keys()
    for name, t in tensors.items():
        assert np.array_equal(back[name], t.numpy()), name


def main(argv):
    only_grad = "--only-grad" in argv
    argv = [a for a in argv if a != "--only-grad"]
    names = {c.name for c in CASES}
    assert len(names) == len(CASES), "duplicate case name"
    assert len({c.rust_type for c in CASES}) == len(CASES), "duplicate type name"
    wanted = set(argv) or names
    unknown = wanted - names
    if unknown:
        sys.exit(f"unknown cases: {sorted(unknown)}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    total = grad_total = 0
    for case in CASES:
        if case.name not in wanted:
            continue
        tensors, metadata, net = build_case(case)
        path = OUT_DIR / f"{case.name}.safetensors"
        if not only_grad:
            write_safetensors(path, tensors, metadata)
        size = path.stat().st_size
        total += size
        grads, grad_meta = grad_case(case, tensors, net)
        grad_path = OUT_DIR / f"grad_{case.name}.safetensors"
        write_safetensors(grad_path, grads, grad_meta)
        grad_size = grad_path.stat().st_size
        grad_total += grad_size
        shape = list(tensors["output"].shape)
        print(f"{case.name:22} output {str(shape):12} {size:8} bytes, grad {grad_size:8} bytes")
    written = "grad fixtures" if only_grad else "fixtures"
    print(f"{len(wanted)} cases, forward {total} bytes, grad {grad_total} bytes ({written} written)")


if __name__ == "__main__":
    main(sys.argv[1:])
