#!/usr/bin/env python3
"""Reference outputs of the MLPerf Tiny int8 models from TensorFlow Lite's
reference kernels, for tests/int8.rs (issue 13).

    /tmp/venv-tf/bin/python tools/make_int8_fixtures.py [ad kws ic vww]

For each model, `tf.lite.Interpreter` with `OpResolverType.BUILTIN_REF`
(the reference kernels, not XNNPACK or the optimized ones) and
`experimental_preserve_all_tensors=True` runs 101 int8 inputs: the golden
input and 100 random ones, and every operator's output tensor is recorded.
Writes tests/fixtures/int8/<model>_io.safetensors with, in our [C, H, W]
layout (TFLite's NHWC transposed):

  input.golden       int8, the golden input
  <layer>.golden     int8, every layer's output on the golden input
  <layer>.checksum   int64 [101]: sum_i (byte_i + 1) * M^i mod 2^64 over every
                     layer's output bytes (M = 0x100000001B3), for each of
                     the 101 inputs (golden first)
  output             int8 [101, N], the model's output for each input

The same 101 inputs also run through the `tflite-micro` package's
interpreter (what firmware runs; `InterpreterConfig.kPreserveAllTensors`),
in its own virtualenv since it must not go into TensorFlow's:

    python3 -m venv /tmp/venv-tflm && /tmp/venv-tflm/bin/pip install tflite-micro numpy
    TFLM_PYTHON=/tmp/venv-tflm/bin/python /tmp/venv-tf/bin/python tools/make_int8_fixtures.py

and is recorded beside TFLite's: `<layer>.golden_micro`,
`<layer>.checksum_micro`, `output_micro`. (The two interpreters differ in
FULLY_CONNECTED: TFLite's BUILTIN_REF requantizes it with one rounding,
`(acc·m + 2^(30−shift)) >> (31 − shift)`, TFLite Micro with its reference
kernel's two, as every other layer; see tests/int8.rs.)

Layers are named as tools/tflite_to_safetensors.py names them (graph order
by kind). The 100 random inputs are not stored: they are drawn from
SplitMix64 seeded with 13 (one byte per value, the top byte of each draw,
sample after sample in our flat order), which tests/int8.rs regenerates.

Golden inputs (../shared/mlperf-tiny/):
- ad: the first 640-value frame of normal_id_01_00000000_hist_librosa.bin,
  quantized with the model's input scale and zero point (half away from
  zero, clamped);
- kws: kws_input_data.cc's int8 49x10 MFCC, as it is;
- ic: ic_inputs.cc's uint8 32x32x3 image minus 128 (the input's scale is 1
  and its zero point -128: the model takes raw pixels);
- vww: vww_inputs.cc's first 96x96 plane (values in [-1, 1]) as a grey RGB
  image, quantized like ad's.
"""

import math
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "mlperf-tiny"
if not SHARED.exists():
    SHARED = Path("/work/shared/mlperf-tiny")
OUT = ROOT / "tests" / "fixtures" / "int8"
sys.path.insert(0, str(ROOT / "tools"))
from tflite_to_safetensors import Graph, layer_names  # noqa: E402

MODELS = {
    "ad": "ad/ad01_int8.tflite",
    "kws": "kws/kws_ref_model_int8.tflite",
    "ic": "ic/pretrainedResnet_int8.tflite",
    "vww": "vww/vww_96_int8.tflite",
}
RANDOM_INPUTS = 100
SEED = 13
MASK = (1 << 64) - 1


def splitmix64(state):
    """Yields SplitMix64 outputs from `state` (Vigna's reference constants)."""
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def random_inputs(n, size):
    g = splitmix64(SEED)
    vals = np.array([next(g) >> 56 for _ in range(n * size)], dtype=np.uint64)
    return vals.astype(np.uint8).view(np.int8).reshape(n, size)


_POWERS = {}


def checksum(data):
    """sum_i (byte_i + 1) * M^i mod 2^64, M = 0x100000001B3 (FNV's prime):
    position- and value-sensitive, and vectorisable (FNV-1a in a Python
    loop is too slow for VWW's 23 MB of activations)."""
    b = np.ascontiguousarray(data).view(np.uint8).reshape(-1).astype(np.uint64)
    n = b.size
    if n not in _POWERS:
        p = np.empty(n, dtype=np.uint64)
        p[0] = 1
        if n > 1:
            p[1:] = np.cumprod(np.full(n - 1, 0x100000001B3, dtype=np.uint64))
        _POWERS[n] = p
    with np.errstate(over="ignore"):
        return int(np.sum((b + np.uint64(1)) * _POWERS[n], dtype=np.uint64))


def c_array(path):
    text = Path(path).read_text()
    body = text[text.index("= {") + 3:]
    rows = re.findall(r"\{([^{}]*)\}", body)
    return [np.array([float(v) for v in re.findall(r"-?[0-9.]+(?:e-?[0-9]+)?", r)]) for r in rows if r.strip()]


def quantize(x, scale, zp):
    v = np.asarray(x, dtype=np.float64) / scale
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.clip(r + zp, -128, 127).astype(np.int8)


def golden(name, scale, zp):
    """The golden input in TFLite's layout (without the batch dimension)."""
    if name == "ad":
        x = np.fromfile(SHARED / "ad" / "normal_id_01_00000000_hist_librosa.bin", dtype="<f4")
        return quantize(x[:640], scale, zp)
    if name == "kws":
        (q,) = c_array(SHARED / "kws" / "kws_input_data.cc")
        return q.astype(np.int8).reshape(49, 10, 1)
    if name == "ic":
        (img,) = c_array(SHARED / "ic" / "ic_inputs.cc")
        return (img - 128).astype(np.int8).reshape(32, 32, 3)
    if name == "vww":
        plane = c_array(SHARED / "vww" / "vww_inputs.cc")[0].reshape(96, 96, 1)
        return quantize(np.repeat(plane, 3, axis=2), scale, zp)
    raise KeyError(name)


def to_ours(a):
    """TFLite [1, H, W, C] -> [C, H, W]; [1, N] -> [N]."""
    a = a[0]
    return a.transpose(2, 0, 1) if a.ndim == 3 else a


def to_tflite(flat, shape):
    """Our flat [C, H, W] (or [N]) values -> TFLite's [1, H, W, C]."""
    if len(shape) == 4:
        _, h, w, c = shape
        return flat.reshape(c, h, w).transpose(1, 2, 0)[None]
    return flat.reshape(shape)


def micro_dump(path, inputs_npz, out_npz):
    """In the tflite-micro venv: every tensor after each input (TFLite's layout)."""
    from tflite_micro import runtime

    data = np.load(inputs_npz)
    xs, tensors = data["inputs"], [int(t) for t in data["tensors"]]
    it = runtime.Interpreter.from_file(path, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    res = {str(t): [] for t in tensors}
    for x in xs:
        it.set_input(x, 0)
        it.invoke()
        for t in tensors:
            res[str(t)].append(np.array(it.GetTensor(t, 0)["tensor_data"]))
    np.savez(out_npz, **{k: np.stack(v) for k, v in res.items()})


def run_micro(path, xs_tflite, tensors):
    """The TFLite Micro outputs of `tensors` for each input, or None without TFLM_PYTHON."""
    import os
    import subprocess
    import tempfile

    py = os.environ.get("TFLM_PYTHON")
    if not py:
        print("TFLM_PYTHON not set: TFLite Micro not compared")
        return None
    with tempfile.TemporaryDirectory() as d:
        np.savez(f"{d}/in.npz", inputs=np.stack(xs_tflite), tensors=np.array(tensors))
        subprocess.run([py, __file__, "--micro-dump", str(path), f"{d}/in.npz", f"{d}/out.npz"], check=True)
        out = np.load(f"{d}/out.npz")
        return {int(k): out[k] for k in out.files}


def run(name):
    import tensorflow as tf

    path = SHARED / MODELS[name]
    g = Graph(str(path))
    names = layer_names(g)
    it = tf.lite.Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    it.allocate_tensors()
    (inp,) = it.get_input_details()
    (outp,) = it.get_output_details()
    scale, zp = inp["quantization"]
    shape = [int(d) for d in inp["shape"]]
    gold = golden(name, scale, zp)
    size = int(np.prod(shape))
    xs = [to_ours(gold[None]).reshape(-1)] + list(random_inputs(RANDOM_INPUTS, size))
    op_outputs = [op.outputs[0] for op in g.sg.operators]
    xs_tflite = [to_tflite(np.asarray(x, dtype=np.int8), shape) for x in xs]
    micro = run_micro(path, xs_tflite, op_outputs)
    fixture = {"input.golden": np.ascontiguousarray(to_ours(gold[None]))}
    hashes = {n: [] for n in names}
    outputs = []
    for k, x in enumerate(xs):
        it.set_tensor(inp["index"], xs_tflite[k])
        it.invoke()
        for n, t in zip(names, op_outputs):
            y = np.ascontiguousarray(to_ours(it.get_tensor(t)))
            assert y.dtype == np.int8
            hashes[n].append(checksum(y))
            if k == 0:
                fixture[f"{n}.golden"] = y
        outputs.append(to_ours(it.get_tensor(outp["index"])).reshape(-1))
    for n in names:
        fixture[f"{n}.checksum"] = np.array(hashes[n], dtype=np.uint64).view(np.int64)
    fixture["output"] = np.stack(outputs).astype(np.int8)
    if micro is not None:
        for n, t in zip(names, op_outputs):
            ys = [np.ascontiguousarray(to_ours(y)) for y in micro[t]]
            fixture[f"{n}.golden_micro"] = ys[0]
            fixture[f"{n}.checksum_micro"] = np.array([checksum(y) for y in ys], dtype=np.uint64).view(np.int64)
        last = micro[op_outputs[-1]]
        fixture["output_micro"] = np.stack([to_ours(y).reshape(-1) for y in last]).astype(np.int8)
        for n in names:
            same = int(np.sum(fixture[f"{n}.checksum_micro"] == fixture[f"{n}.checksum"]))
            if same != len(xs):
                print(f"  {name}/{n}: TFLite and TFLite Micro differ on {len(xs) - same} of {len(xs)} inputs")
    from safetensors.numpy import save_file

    OUT.mkdir(parents=True, exist_ok=True)
    dst = OUT / f"{name}_io.safetensors"
    save_file(fixture, str(dst), metadata={"layers": ",".join(names), "seed": str(SEED)})
    print(f"{dst.relative_to(ROOT)}: {len(names)} layers, {len(xs)} inputs, golden output {fixture['output'][0].tolist()[:12]}")


def main():
    if sys.argv[1:2] == ["--micro-dump"]:
        return micro_dump(*sys.argv[2:5])
    for name in sys.argv[1:] or list(MODELS):
        run(name)


if __name__ == "__main__":
    main()
