#!/usr/bin/env python3
"""The MLPerf Tiny reference models as their authors trained them, converted
for staticnet, with Keras' outputs on the golden inputs (tests/mlperf.rs).

For each model: the authors' Keras file in ../shared/mlperf-tiny/ is
converted by tools/keras_to_safetensors.py (PyTorch state_dict names and
layouts, BatchNorm's running statistics included) to
tests/fixtures/mlperf/<model>.safetensors (F32), and Keras runs the golden
inputs (`model(x, training=False)`: BatchNorm with its stored statistics,
Dropout off) to tests/fixtures/mlperf/<model>.io.safetensors: `input` in
staticnet's layout (images [channels, height, width]) and Keras' `output`,
both F64, with the DSL the converter printed in the metadata; and
`output64`, the same Keras network computing in float64 (the f64 model's
reference: Keras' float32 output is itself off by up to 2e-4 on two of the
autoencoder's frames, where a pre-activation sits near a ReLU's kink).

Golden inputs:
- ad: normal_id_01_00000000_hist_librosa.bin, 40 frames of 640 float32
  log-mel features (the file holds nothing else: 102400 bytes).
- ic: ic_inputs.cc, one uint8 32x32x3 image, divided by 255 (the float
  model's input range).
- vww: vww_inputs.cc's two 96x96 planes, each as a grey 96x96x3 image
  (the file has one plane per image, the model three channels).
- sww: none ships; two seeded uniform(-1, 1) inputs 30x1x40.

    python3 -m venv /tmp/venv-tf
    /tmp/venv-tf/bin/pip install tensorflow-cpu h5py numpy safetensors
    /tmp/venv-tf/bin/python tools/make_mlperf_fixtures.py [ad ...]
"""

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # reproducible sums
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "mlperf-tiny"
OUT = ROOT / "tests" / "fixtures" / "mlperf"
sys.path.insert(0, str(ROOT / "tools"))
from keras_to_safetensors import convert, load, write  # noqa: E402


def c_array(path):
    """The numbers of the first `{ .. }` initialiser in a C file, per inner
    `{ .. }` (one golden input each)."""
    import re

    text = Path(path).read_text()
    body = text[text.index("= {") + 3:]
    rows = re.findall(r"\{([^{}]*)\}", body)
    return [np.array([float(v) for v in re.findall(r"-?[0-9.]+(?:e-?[0-9]+)?", r)])
            for r in rows if r.strip()]


def ic_inputs():
    # One uint8 CIFAR-10 image, HWC; the float model takes [0, 1] values.
    (img,) = c_array(SHARED / "ic" / "ic_inputs.cc")
    return (img / 255.0).reshape(1, 32, 32, 3)


def vww_inputs():
    # vww_inputs.cc holds two 96x96 single-plane images (9216 values each,
    # scaled to [-1, 1]) while the model takes 96x96x3: each is used as a
    # grey RGB image (the plane in all three channels).
    planes = np.stack(c_array(SHARED / "vww" / "vww_inputs.cc")).reshape(-1, 96, 96, 1)
    return np.repeat(planes, 3, axis=3)


def sww_inputs():
    # No golden input ships with the streaming wake word model: two seeded
    # inputs in its features' range, 30 steps x 1 x 40 filterbank values.
    rng = np.random.default_rng(1234)
    return rng.uniform(-1.0, 1.0, size=(2, 30, 1, 40))


def ad_inputs():
    x = np.fromfile(SHARED / "ad" / "normal_id_01_00000000_hist_librosa.bin", dtype="<f4")
    return x.reshape(-1, 640)


def in_float64(keras, model):
    """The same network with every layer computing in float64 (its config
    with dtype float64, the same weights): the reference the f64 model is
    held to, free of Keras' own float32 rounding."""

    def f64(c):
        if isinstance(c, dict):
            return {k: ("float64" if k == "dtype" else f64(v)) for k, v in c.items()}
        if isinstance(c, list):
            return [f64(v) for v in c]
        return c

    cls = type(model)
    shim = {type(l).__name__: type(l) for l in model.layers}
    with keras.utils.custom_object_scope(shim):
        m64 = cls.from_config(f64(model.get_config()))
    m64.set_weights([w.astype("float64") for w in model.get_weights()])
    return m64


MODELS = {
    # name: (Keras file, Rust struct, golden inputs in Keras' layout)
    "ad": ("ad/ad01.h5", "AnomalyAutoencoder", ad_inputs),
    "ic": ("ic/pretrainedResnet.h5", "ResNet8", ic_inputs),
    "vww": ("vww/vww_96.h5", "MobileNetVww", vww_inputs),
    "sww": ("sww/str_ww_ref_model.h5", "StreamingWakeWord", sww_inputs),
}


def main(names):
    import keras
    import tensorflow as tf

    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or MODELS:
        path, struct, inputs = MODELS[name]
        model = load(SHARED / path)
        tensors, dsl = convert(model)
        x = inputs().astype(np.float32)
        y = np.asarray(model(x, training=False), dtype=np.float64)
        y64 = np.asarray(in_float64(keras, model)(x.astype(np.float64), training=False))
        ours = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x  # HWC -> CHW
        write(OUT / f"{name}.safetensors", tensors, {"format": "pt"}, "F32")
        meta = {
            "dsl": "\n".join(dsl),
            "type": struct,
            "source": f"mlperf-tiny/{path}",
            "generator": f"tools/make_mlperf_fixtures.py (tensorflow {tf.__version__}, "
                         f"keras {keras.__version__})",
        }
        write(OUT / f"{name}.io.safetensors",
              {"input": ours.astype(np.float64), "output": y, "output64": y64}, meta, "F64")
        params = sum(int(np.prod(v.shape)) for v in tensors.values())
        gap = np.max(np.abs(y - y64) / np.maximum(np.abs(y64), 1.0), axis=tuple(range(1, y.ndim)))
        print(f"{name}: {len(tensors)} tensors, {params} values, {x.shape[0]} inputs, "
              f"output {y.shape}; Keras float32 vs float64, worst scaled difference per "
              f"input: {np.array2string(gap, precision=1)}")
        print("model! {\n    pub struct " + struct + " {\n        "
              + "\n        ".join(dsl) + "\n    }\n}")


if __name__ == "__main__":
    main(sys.argv[1:])
