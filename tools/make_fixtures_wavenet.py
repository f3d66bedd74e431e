#!/usr/bin/env python3
"""PyTorch reference fixtures for tests/wavenet.rs: NAM-style WaveNets and a
small causal Conv1d stack with residual Adds.

The WaveNet here is our own small PyTorch module with the structure of
NeuralAmpModeler's (github.com/sdatkinson/neural-amp-modeler,
nam/models/wavenet/_layer_array.py and _wavenet.py; NAM itself is not
installed here and needs pydantic/lightning): per layer array a 1×1
rechannel (no bias), then per layer a dilated conv (bias), an input mixin
(1×1 from the condition = the model's input, no bias), tanh of their sum, a
1×1 back to the channels (bias) and the residual sum; the head input is the
running sum of every layer's post-activation, starting from the previous
array's head output; each array ends in a 1×1 head rechannel; the model's
output is `head_scale · (last head rechannel)`. The configurations are
NAM's published "standard" and "nano" ones (nam/train/core.py,
`_get_wavenet_config`, commit e296039): kernel 3, tanh, not gated,
head_scale 0.02,

    standard: [1 → 16 ch, head 8, no head bias, dilations 1..512]
              [16 → 8 ch, head 1, head bias,    dilations 1..512]
    nano:     [1 → 4 ch, head 2, no head bias,  dilations 1..64]
              [4 → 2 ch, head 1, head bias,     dilations 128, 256, 512, 1..512]

Weights: PyTorch's default Conv1d init from a seed (CRC32 of the case name).
Input: a seeded uniform(-1, 1) signal of 8192 samples (≥ 2× the receptive
field of 4093 of both configurations).

What the DSL computes and this script's reference: every dilated conv pads
causally with zeros ((k − 1)·d before), so the output has the input's length
(that is also what a streaming implementation starting from a zero history
computes). NAM's own forward uses unpadded convs and returns only the last
L − R + 1 samples: this script runs that form too (`causal=False`) and
asserts that it equals the tail of the causal output (1e-12), i.e. from the
receptive field on, the DSL model is NAM's computation.

Name mapping to NAM's state_dict (array a = 0, 1; layer i):
    _layer_arrays.{a}._rechannel.weight        → a{a+1}_in.weight
    _layer_arrays.{a}._layers.{i}._conv.*      → a{a+1}_c{i}.*
    _layer_arrays.{a}._layers.{i}._input_mixer.weight → a{a+1}_m{i}.weight
    _layer_arrays.{a}._layers.{i}._layer1x1.*  → a{a+1}_p{i}.*
    _layer_arrays.{a}._head_rechannel.*        → a{a+1}_head.*
The last array's last `_layer1x1` feeds nothing (NAM discards the last
array's residual output), so the DSL has no line for it (an unused branch
is a compile error) and its tensors are dropped. `head_scale` is folded
into the last head rechannel (weight and bias × 0.02) — exact in real
arithmetic, a rounding difference in floating point; the reference output
below is computed unfolded, as NAM does.

The residual-stack case ("resstack") is a small causal dilated Conv1d stack
with residual and skip Adds, with PyTorch autograd gradients of
`loss = Σ output ⊙ r` (as tests/conv1d.rs' fixtures).

The "gated" case is one NAM layer array with gated=True (tanh · sigmoid of
the two halves of a 2C-channel conv + mixin), written in the DSL with the
halves as separate Conv1d lines and a Multiply; forward and gradients.

Each file tests/fixtures/wavenet/<case>.safetensors holds (float64):
    <layer>.<param>        our names, PyTorch layout
    input, output          [steps, features] (our layout)
    f32.output             PyTorch in float32 from the params and input
                           rounded to float32 (widened to float64)
  and for resstack and gated also r, loss, grad.*, f32.loss, f32.grad.*;
__metadata__: dsl (the model body as in tests/wavenet.rs), type, kind,
generator.

Reruns are byte-identical (sorted keys and metadata, see write_safetensors).

    /tmp/venv-train/bin/python tools/make_fixtures_wavenet.py
"""

import zlib
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "fixtures" / "wavenet"
STEPS = 8192

ALL_DILATIONS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
# (input_size, channels, head_size, head_bias, dilations); kernel 3, tanh.
CONFIGS = {
    "standard": [
        (1, 16, 8, False, ALL_DILATIONS),
        (16, 8, 1, True, ALL_DILATIONS),
    ],
    "nano": [
        (1, 4, 2, False, [1, 2, 4, 8, 16, 32, 64]),
        (4, 2, 1, True, [128, 256, 512] + ALL_DILATIONS),
    ],
}
KERNEL = 3
HEAD_SCALE = 0.02


class Layer(nn.Module):
    """NAM's _Layer without FiLM, gating or bottleneck."""

    def __init__(self, condition, channels, kernel, dilation):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.mixer = nn.Conv1d(condition, channels, 1, bias=False)
        self.layer1x1 = nn.Conv1d(channels, channels, 1)

    def forward(self, x, h, causal):
        zconv = self.conv(F.pad(x, (self.pad, 0)) if causal else x)
        z1 = zconv + self.mixer(h)[:, :, -zconv.shape[2]:]
        post = torch.tanh(z1)
        residual = x[:, :, -post.shape[2]:] + self.layer1x1(post)
        return residual, post


class LayerArray(nn.Module):
    def __init__(self, input_size, channels, head_size, head_bias, dilations):
        super().__init__()
        self.rechannel = nn.Conv1d(input_size, channels, 1, bias=False)
        self.layers = nn.ModuleList(Layer(1, channels, KERNEL, d) for d in dilations)
        self.head_rechannel = nn.Conv1d(channels, head_size, 1, bias=head_bias)

    def forward(self, x, c, head_input, causal):
        x = self.rechannel(x)
        for layer in self.layers:
            x, head_term = layer(x, c, causal)
            n = head_term.shape[2]
            head_input = head_term if head_input is None else head_input[:, :, -n:] + head_term
        return self.head_rechannel(head_input), x


class WaveNet(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.arrays = nn.ModuleList(LayerArray(*a) for a in config)

    def forward(self, x, causal):  # x: [1, 1, L]
        y, head_input = x, None
        for array in self.arrays:
            head_input, y = array(y, x, head_input, causal)
        return HEAD_SCALE * head_input

    def receptive_field(self):
        return 1 + sum((KERNEL - 1) * l.conv.dilation[0] for a in self.arrays for l in a.layers)


def wavenet_dsl(config, steps):
    """The model body in our DSL (one line per layer, as tests/wavenet.rs)."""
    lines = [f"input: [{steps}, 1],"]
    prev_residual = "input"
    head_prev = None
    for n, (_, ch, head, head_bias, dils) in enumerate(config, start=1):
        last_array = n == len(config)
        a = f"a{n}"
        lines.append(f"{a}_in: Conv1d({ch}, kernel = 1, bias = false)({prev_residual}),")
        x = f"{a}_in"
        zs = []
        for i, d in enumerate(dils):
            last = last_array and i == len(dils) - 1
            lines.append(f"{a}_c{i}: Conv1d({ch}, kernel = {KERNEL}, dilation = {d}, padding = causal)({x}),")
            lines.append(f"{a}_m{i}: Conv1d({ch}, kernel = 1, bias = false)(input),")
            lines.append(f"{a}_z{i}: Add({a}_c{i}, {a}_m{i}, activation = tanh),")
            zs.append(f"{a}_z{i}")
            if not last:
                lines.append(f"{a}_p{i}: Conv1d({ch}, kernel = 1),")
                lines.append(f"{a}_r{i}: Add({x}, {a}_p{i}),")
                x = f"{a}_r{i}"
        terms = ([head_prev] if head_prev else []) + zs
        lines.append(f"{a}_sum: Add({', '.join(terms)}),")
        bias = "" if head_bias else ", bias = false"
        lines.append(f"{a}_head: Conv1d({head}, kernel = 1{bias}),")
        head_prev = f"{a}_head"
        prev_residual = x
    return "\n".join(lines)


def wavenet_params(net):
    """Our names for NAM's tensors (see the module doc); head_scale folded."""
    out = {}
    n_arrays = len(net.arrays)
    for a, array in enumerate(net.arrays, start=1):
        out[f"a{a}_in.weight"] = array.rechannel.weight
        for i, l in enumerate(array.layers):
            out[f"a{a}_c{i}.weight"] = l.conv.weight
            out[f"a{a}_c{i}.bias"] = l.conv.bias
            out[f"a{a}_m{i}.weight"] = l.mixer.weight
            if not (a == n_arrays and i == len(array.layers) - 1):
                out[f"a{a}_p{i}.weight"] = l.layer1x1.weight
                out[f"a{a}_p{i}.bias"] = l.layer1x1.bias
        hr = array.head_rechannel
        scale = HEAD_SCALE if a == n_arrays else 1.0
        out[f"a{a}_head.weight"] = hr.weight * scale
        if hr.bias is not None:
            out[f"a{a}_head.bias"] = hr.bias * scale
    return {k: v.detach().to(torch.float64).numpy().copy() for k, v in out.items()}


def nam_file(net, config):
    """The network as a NAM model file (.nam, version 0.5.0, the format of
    NeuralAmpModelerCore's example_models/wavenet_a1_standard.nam): its
    config and NAM's flat weight order (per array: rechannel; per layer:
    conv weight and bias, input mixer, 1×1 weight and bias; head
    rechannel weight (and bias); head_scale last), each tensor flattened
    row-major as NAM's export does. For the same-run comparison with
    NeuralAmpModelerCore in BENCHMARKS.md; not a fixture."""
    layers = [{
        "input_size": i, "condition_size": 1, "head_size": h, "channels": c,
        "kernel_size": KERNEL, "dilations": d, "activation": "Tanh",
        "gated": False, "head_bias": hb,
    } for i, c, h, hb, d in config]
    w = []
    for array in net.arrays:
        w += array.rechannel.weight.flatten().tolist()
        for l in array.layers:
            for t in [l.conv.weight, l.conv.bias, l.mixer.weight, l.layer1x1.weight, l.layer1x1.bias]:
                w += t.flatten().tolist()
        w += array.head_rechannel.weight.flatten().tolist()
        if array.head_rechannel.bias is not None:
            w += array.head_rechannel.bias.flatten().tolist()
    w.append(HEAD_SCALE)
    return {"version": "0.5.0", "architecture": "WaveNet", "sample_rate": 48000,
            "config": {"layers": layers, "head": None, "head_scale": HEAD_SCALE},
            "weights": w}


def np64(t):
    return t.detach().to(torch.float64).numpy().copy()


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


def save(case, tensors, meta):
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{case}.safetensors"
    meta = dict(meta, generator="tools/make_fixtures_wavenet.py")
    write_safetensors(path, tensors, meta)
    print(f"wrote {path.relative_to(ROOT)} ({len(tensors)} tensors)")


def make_wavenet(case, rust_type):
    config = CONFIGS[case]
    torch.manual_seed(zlib.crc32(case.encode()))
    net = WaveNet(config).double()
    x = torch.rand(STEPS, dtype=torch.float64) * 2 - 1
    rf = net.receptive_field()
    assert STEPS >= 2 * rf, (STEPS, rf)
    with torch.no_grad():
        y = net(x.view(1, 1, -1), causal=True).view(-1)
        y_nam = net(x.view(1, 1, -1), causal=False).view(-1)
        assert y_nam.shape[0] == STEPS - rf + 1
        diff = (y[rf - 1:] - y_nam).abs().max().item()
        assert diff < 1e-12, f"{case}: causal tail differs from NAM's valid form by {diff}"
        net32 = WaveNet(config)
        net32.load_state_dict({k: v.float() for k, v in net.state_dict().items()})
        y32 = net32(x.float().view(1, 1, -1), causal=True).view(-1)
    tensors = wavenet_params(net)
    tensors["input"] = np64(x.view(STEPS, 1))
    tensors["output"] = np64(y.view(STEPS, 1))
    tensors["f32.output"] = np64(y32.view(STEPS, 1))
    n_params = sum(v.size for k, v in tensors.items() if "." in k and not k.startswith("f32."))
    if NAM_DIR:
        import json
        NAM_DIR.mkdir(parents=True, exist_ok=True)
        path = NAM_DIR / f"{case}.nam"
        with torch.no_grad():
            path.write_text(json.dumps(nam_file(net, config)))
        np64(x).astype("<f8").tofile(NAM_DIR / f"{case}_input.f64")
        np64(y).astype("<f8").tofile(NAM_DIR / f"{case}_output.f64")
        print(f"wrote {path}")
    print(f"{case}: receptive field {rf}, {n_params} parameters, NAM-form tail diff {diff:.1e}")
    save(case, tensors, {
        "dsl": wavenet_dsl(config, STEPS), "type": rust_type, "kind": "wavenet",
        "receptive_field": str(rf),
    })


# The small residual stack: DSL body and its PyTorch form.
RES_STEPS, RES_F = 40, 2
RES_DSL = f"""
input: [{RES_STEPS}, {RES_F}],
c0: Conv1d(4, kernel = 2, padding = causal, activation = tanh),
c1: Conv1d(4, kernel = 3, dilation = 2, padding = causal, activation = tanh),
r1: Add(c0, c1),
c2: Conv1d(4, kernel = 2, dilation = 4, padding = causal, activation = relu),
r2: Add(r1, c2, activation = tanh),
c3: Conv1d(4, kernel = 3, dilation = 3, padding = causal, bias = false),
skip: Add(c0, r2, c3),
mix: Conv1d(3, kernel = 1, activation = sigmoid)(skip),
out: Multiply(mix, mix),
"""


class ResStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv1d(RES_F, 4, 2)
        self.c1 = nn.Conv1d(4, 4, 3, dilation=2)
        self.c2 = nn.Conv1d(4, 4, 2, dilation=4)
        self.c3 = nn.Conv1d(4, 4, 3, dilation=3, bias=False)
        self.mix = nn.Conv1d(4, 3, 1)

    @staticmethod
    def causal(conv, x):
        return conv(F.pad(x, ((conv.kernel_size[0] - 1) * conv.dilation[0], 0)))

    def forward(self, x):  # [T, F] → [T, 3]
        x = x.T.unsqueeze(0)
        c0 = torch.tanh(self.causal(self.c0, x))
        c1 = torch.tanh(self.causal(self.c1, c0))
        r1 = c0 + c1
        c2 = torch.relu(self.causal(self.c2, r1))
        r2 = torch.tanh(r1 + c2)
        c3 = self.causal(self.c3, r2)
        skip = c0 + r2 + c3
        mix = torch.sigmoid(self.mix(skip))
        return (mix * mix).squeeze(0).T


def make_resstack():
    case = "resstack"
    torch.manual_seed(zlib.crc32(case.encode()))
    net = ResStack().double()
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-0.7, 0.7)
    x = torch.rand(RES_STEPS, RES_F, dtype=torch.float64) * 2 - 1
    r = torch.rand(RES_STEPS, 3, dtype=torch.float64) * 2 - 1
    tensors = {k: np64(v) for k, v in net.state_dict().items()}
    tensors["input"], tensors["r"] = np64(x), np64(r)
    for prefix, dtype in [("", torch.float64), ("f32.", torch.float32)]:
        m = ResStack().to(dtype)
        m.load_state_dict({k: v.to(dtype) for k, v in net.state_dict().items()})
        xi = x.to(dtype).clone().requires_grad_(True)
        y = m(xi)
        loss = (y * r.to(dtype)).sum()
        names = [k for k, _ in m.named_parameters()]
        grads = torch.autograd.grad(loss, [xi] + [p for _, p in m.named_parameters()])
        tensors[f"{prefix}output"] = np64(y)
        tensors[f"{prefix}loss"] = np64(loss.reshape(1))
        tensors[f"{prefix}grad.input"] = np64(grads[0])
        for k, g in zip(names, grads[1:]):
            tensors[f"{prefix}grad.{k}"] = np64(g)
    save(case, tensors, {"dsl": RES_DSL.strip(), "type": "ResStack", "kind": "resstack"})


# A gated layer array (NAM's `gated=True`: the conv and the input mixin have
# 2C outputs, post = tanh(first C) · sigmoid(last C)), written in the DSL by
# splitting each 2C-filter Conv1d into its two C-filter halves (rows :C and
# C: of the weight), each summed with its mixin half through its own
# activation, and a Multiply. Forward and gradients, 64 steps.
GATED_STEPS, GATED_C, GATED_DILATIONS = 64, 3, [1, 2, 4]


def gated_dsl():
    c = GATED_C
    lines = [f"input: [{GATED_STEPS}, 1],", f"g_in: Conv1d({c}, kernel = 1, bias = false),"]
    x, zs = "g_in", []
    for i, d in enumerate(GATED_DILATIONS):
        last = i == len(GATED_DILATIONS) - 1
        lines += [
            f"g_ct{i}: Conv1d({c}, kernel = {KERNEL}, dilation = {d}, padding = causal)({x}),",
            f"g_cs{i}: Conv1d({c}, kernel = {KERNEL}, dilation = {d}, padding = causal)({x}),",
            f"g_mt{i}: Conv1d({c}, kernel = 1, bias = false)(input),",
            f"g_ms{i}: Conv1d({c}, kernel = 1, bias = false)(input),",
            f"g_zt{i}: Add(g_ct{i}, g_mt{i}, activation = tanh),",
            f"g_zs{i}: Add(g_cs{i}, g_ms{i}, activation = sigmoid),",
            f"g_z{i}: Multiply(g_zt{i}, g_zs{i}),",
        ]
        zs.append(f"g_z{i}")
        if not last:
            lines += [f"g_p{i}: Conv1d({c}, kernel = 1),", f"g_r{i}: Add({x}, g_p{i}),"]
            x = f"g_r{i}"
    lines += [f"g_sum: Add({', '.join(zs)}),", "g_head: Conv1d(1, kernel = 1),"]
    return "\n".join(lines)


class GatedLayer(nn.Module):
    """NAM's gated _Layer: 2C-output conv and mixin, tanh · sigmoid."""

    def __init__(self, c, d):
        super().__init__()
        self.c, self.pad = c, (KERNEL - 1) * d
        self.conv = nn.Conv1d(c, 2 * c, KERNEL, dilation=d)
        self.mixer = nn.Conv1d(1, 2 * c, 1, bias=False)
        self.layer1x1 = nn.Conv1d(c, c, 1)

    def forward(self, x, h):
        z1 = self.conv(F.pad(x, (self.pad, 0))) + self.mixer(h)
        post = torch.tanh(z1[:, :self.c]) * torch.sigmoid(z1[:, self.c:])
        return x + self.layer1x1(post), post


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.rechannel = nn.Conv1d(1, GATED_C, 1, bias=False)
        self.layers = nn.ModuleList(GatedLayer(GATED_C, d) for d in GATED_DILATIONS)
        self.head = nn.Conv1d(GATED_C, 1, 1)

    def forward(self, x):  # [T, 1] → [T, 1]
        h = x.T.unsqueeze(0)
        x, head = self.rechannel(h), None
        for layer in self.layers:
            x, post = layer(x, h)
            head = post if head is None else head + post
        return self.head(head).squeeze(0).T

    def ours(self):
        """Our names: each 2C tensor split into its tanh and sigmoid halves;
        the last layer's 1×1 (unused, as in NAM) dropped."""
        c, out = GATED_C, {"g_in.weight": self.rechannel.weight}
        for i, l in enumerate(self.layers):
            for half, sl in [("t", slice(0, c)), ("s", slice(c, 2 * c))]:
                out[f"g_c{half}{i}.weight"] = l.conv.weight[sl]
                out[f"g_c{half}{i}.bias"] = l.conv.bias[sl]
                out[f"g_m{half}{i}.weight"] = l.mixer.weight[sl]
            if i < len(self.layers) - 1:
                out[f"g_p{i}.weight"], out[f"g_p{i}.bias"] = l.layer1x1.weight, l.layer1x1.bias
        out["g_head.weight"], out["g_head.bias"] = self.head.weight, self.head.bias
        return out


def make_gated():
    case = "gated"
    torch.manual_seed(zlib.crc32(case.encode()))
    net = Gated().double()
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-0.7, 0.7)
    x = torch.rand(GATED_STEPS, 1, dtype=torch.float64) * 2 - 1
    r = torch.rand(GATED_STEPS, 1, dtype=torch.float64) * 2 - 1
    tensors = {k: np64(v) for k, v in net.ours().items()}
    tensors["input"], tensors["r"] = np64(x), np64(r)
    for prefix, dtype in [("", torch.float64), ("f32.", torch.float32)]:
        m = Gated().to(dtype)
        m.load_state_dict({k: v.to(dtype) for k, v in net.state_dict().items()})
        xi = x.to(dtype).clone().requires_grad_(True)
        y = m(xi)
        loss = (y * r.to(dtype)).sum()
        ours = m.ours()
        grads = torch.autograd.grad(loss, [xi] + list(m.parameters()), allow_unused=True)
        # Gradients of the split tensors: autograd's of the whole, split
        # the same way (through the same `ours` mapping on the gradients).
        for p, g in zip(m.parameters(), grads[1:]):
            p.grad = g
        tensors[f"{prefix}output"] = np64(y)
        tensors[f"{prefix}loss"] = np64(loss.reshape(1))
        tensors[f"{prefix}grad.input"] = np64(grads[0])
        grad_map = {}
        for i, l in enumerate(m.layers):
            c = GATED_C
            for half, sl in [("t", slice(0, c)), ("s", slice(c, 2 * c))]:
                grad_map[f"g_c{half}{i}.weight"] = l.conv.weight.grad[sl]
                grad_map[f"g_c{half}{i}.bias"] = l.conv.bias.grad[sl]
                grad_map[f"g_m{half}{i}.weight"] = l.mixer.weight.grad[sl]
            if i < len(m.layers) - 1:
                grad_map[f"g_p{i}.weight"] = l.layer1x1.weight.grad
                grad_map[f"g_p{i}.bias"] = l.layer1x1.bias.grad
        grad_map["g_in.weight"] = m.rechannel.weight.grad
        grad_map["g_head.weight"], grad_map["g_head.bias"] = m.head.weight.grad, m.head.bias.grad
        assert set(grad_map) == set(ours)
        for k, g in grad_map.items():
            tensors[f"{prefix}grad.{k}"] = np64(g)
    save(case, tensors, {"dsl": gated_dsl(), "type": "NamGated", "kind": "wavenet"})


# `--nam DIR` also writes DIR/<case>.nam (NAM model files of the same
# weights, for NeuralAmpModelerCore) and the raw f64 input and output.
NAM_DIR = None

if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--nam":
        NAM_DIR = Path(sys.argv[2])
    torch.set_num_threads(1)
    make_wavenet("nano", "NamNano")
    make_wavenet("standard", "NamStandard")
    make_resstack()
    make_gated()
    print(gated_dsl())
    print(wavenet_dsl(CONFIGS["nano"], STEPS))
