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
- kws: kws_input_data.cc's one int8 49x10 MFCC input, dequantized with the
  int8 model's input scale and zero point (x = 0.5847029 (q - 83)), and one
  seeded int8 input drawn from the golden input's value range, the same way.

KWS (DS-CNN) has no float Keras file: its weights are the int8 .tflite's
(kws_ref_model_int8.tflite), dequantized per output channel (w = s (q - z),
int32 biases b = s q), read by kws_model() below. The TFLite converter
folded each BatchNormalization into the convolution before it and fused the
ReLU, and Dropout is gone: kws_model() rebuilds that graph (keras_model.py's
ds_cnn without BatchNormalization and Dropout, Conv2D/DepthwiseConv2D with
activation="relu") in Keras, sets the dequantized weights, and from there
it is converted and run like the others (so the reference is Keras', not
staticnet's). The int8 interpreter's own (dequantized) outputs on the same
inputs are recorded in the metadata (`tflite_int8_output`) as a sanity note
only: they are quantized, not a reference.

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


KWS = SHARED / "kws"


def _tflite(path):
    import tensorflow as tf

    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    return it


def _dequant(it, index):
    """Tensor `index` of the interpreter in float64: s (q - z), per channel
    along its quantized dimension when it has several scales."""
    t = it.get_tensor_details()[index]
    assert t["index"] == index
    q = it.get_tensor(index).astype(np.float64)
    p = t["quantization_parameters"]
    s, z, d = p["scales"].astype(np.float64), p["zero_points"].astype(np.float64), p["quantized_dimension"]
    if len(s) == 1:
        return s[0] * (q - z[0])
    shape = [1] * q.ndim
    shape[d] = len(s)
    return s.reshape(shape) * (q - z.reshape(shape))


def kws_model():
    """keras_model.py's ds_cnn as the int8 .tflite holds it (BatchNorm
    folded into the convolutions, ReLU fused, no Dropout), in Keras, with
    the .tflite's dequantized weights. The op list is checked against the
    graph rebuilt here: CONV_2D, then DEPTHWISE_CONV_2D + CONV_2D four
    times, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX. Strides and
    padding are keras_model.py's (the interpreter does not expose op
    options); the tensor shapes checked below (49x10 -> 25x5 by a 10x4
    kernel at stride 2 needs `same`) and the int8 model's outputs agreeing
    with this one (see the metadata) confirm them."""
    import keras

    it = _tflite(KWS / "kws_ref_model_int8.tflite")
    ops = [op for op in it._get_ops_details() if op["op_name"] != "DELEGATE"]
    kinds = [op["op_name"] for op in ops]
    assert kinds == (["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 4
                     + ["AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]), kinds
    shapes = {t["index"]: tuple(t["shape"]) for t in it.get_tensor_details()}
    assert shapes[ops[0]["inputs"][0]] == (1, 49, 10, 1)
    assert all(shapes[op["outputs"][0]] == (1, 25, 5, 64) for op in ops[:9])
    L = keras.layers
    x = inp = keras.Input((49, 10, 1), name="input_1")
    layers, weights = [], []
    conv = depthwise = 0
    for op in ops:
        kind = op["op_name"]
        weighted = kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
        w = _dequant(it, op["inputs"][1]) if weighted else None
        if kind == "CONV_2D":
            # tflite [out, kh, kw, in] -> Keras [kh, kw, in, out]
            kh, kw = w.shape[1:3]
            stride = 2 if conv == 0 else 1
            name = "conv2d" if conv == 0 else f"conv2d_{conv}"
            layer = L.Conv2D(w.shape[0], (kh, kw), strides=stride, padding="same",
                             activation="relu", name=name)
            weights.append((layer, [w.transpose(1, 2, 3, 0), _dequant(it, op["inputs"][2])]))
            conv += 1
        elif kind == "DEPTHWISE_CONV_2D":
            # tflite [1, kh, kw, c] -> Keras [kh, kw, c, 1]
            kh, kw = w.shape[1:3]
            name = "depthwise_conv2d" if depthwise == 0 else f"depthwise_conv2d_{depthwise}"
            layer = L.DepthwiseConv2D((kh, kw), padding="same", activation="relu", name=name)
            weights.append((layer, [w.transpose(1, 2, 3, 0), _dequant(it, op["inputs"][2])]))
            depthwise += 1
        elif kind == "AVERAGE_POOL_2D":
            layer = L.AveragePooling2D((25, 5), name="average_pooling2d")
        elif kind == "RESHAPE":
            layer = L.Flatten(name="flatten")
        elif kind == "FULLY_CONNECTED":
            # tflite [out, in] -> Keras [in, out]
            layer = L.Dense(w.shape[0], activation="softmax", name="dense")
            weights.append((layer, [w.T, _dequant(it, op["inputs"][2])]))
        else:  # SOFTMAX: the Dense's activation
            continue
        x = layer(x)
        layers.append(layer)
    model = keras.Model(inp, x, name="KwsDsCnn")
    for layer, ws in weights:
        layer.set_weights([v.astype(np.float32) for v in ws])
    return model


def kws_inputs():
    """The golden int8 input and one seeded int8 input in its range, both
    dequantized with the int8 model's input scale and zero point."""
    (q,) = c_array(KWS / "kws_input_data.cc")
    assert q.size == 49 * 10, q.size
    rng = np.random.default_rng(4321)
    q2 = rng.integers(int(q.min()), int(q.max()) + 1, size=q.size)
    it = _tflite(KWS / "kws_ref_model_int8.tflite")
    (d,) = it.get_input_details()
    s, z = d["quantization"]
    qs = np.stack([q, q2]).reshape(2, 49, 10, 1)
    return s * (qs - z)


def kws_int8_outputs(x):
    """The int8 interpreter on `x` (quantized back with its input scale and
    zero point: exactly the golden int8 values), its outputs dequantized."""
    it = _tflite(KWS / "kws_ref_model_int8.tflite")
    (i,), (o,) = it.get_input_details(), it.get_output_details()
    (si, zi), (so, zo) = i["quantization"], o["quantization"]
    out = []
    for xk in x:
        q = np.clip(np.round(xk / si + zi), -128, 127).astype(np.int8)
        it.set_tensor(i["index"], q[None])
        it.invoke()
        out.append(so * (it.get_tensor(o["index"])[0].astype(np.float64) - zo))
    return np.stack(out)


MODELS = {
    # name: (Keras file, Rust struct, golden inputs in Keras' layout)
    "ad": ("ad/ad01.h5", "AnomalyAutoencoder", ad_inputs),
    "ic": ("ic/pretrainedResnet.h5", "ResNet8", ic_inputs),
    "vww": ("vww/vww_96.h5", "MobileNetVww", vww_inputs),
    "sww": ("sww/str_ww_ref_model.h5", "StreamingWakeWord", sww_inputs),
    # no Keras file: kws_model() rebuilds it from the int8 .tflite
    "kws": ("kws/kws_ref_model_int8.tflite", "KwsDsCnn", kws_inputs),
}


def main(names):
    import keras
    import tensorflow as tf

    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or MODELS:
        path, struct, inputs = MODELS[name]
        model = kws_model() if name == "kws" else load(SHARED / path)
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
        tensors_io = {"input": ours.astype(np.float64), "output": y, "output64": y64}
        if name == "kws":
            # The softmax saturates (the winning class at 0.9999): the
            # logits, Keras' float64 flatten output times the Dense's
            # weights in numpy, are held to 1e-5 as well.
            m64 = in_float64(keras, model)
            flat = keras.Model(m64.inputs, m64.get_layer("flatten").output)
            kernel, bias = m64.get_layer("dense").get_weights()
            flat64 = np.asarray(flat(x.astype(np.float64), training=False), dtype=np.float64)
            tensors_io["logits64"] = flat64 @ kernel.astype(np.float64) + bias
            y8 = kws_int8_outputs(x.astype(np.float64))
            meta["source"] += " (weights dequantized, BatchNorm folded by the converter)"
            meta["tflite_int8_output"] = np.array2string(y8, precision=4, separator=",")
            print(f"kws: int8 tflite (dequantized) vs float64 Keras, worst absolute "
                  f"difference per input: {np.max(np.abs(y8 - y64), axis=1)}; argmax "
                  f"{y8.argmax(1)} vs {y64.argmax(1)}")
        write(OUT / f"{name}.io.safetensors", tensors_io, meta, "F64")
        params = sum(int(np.prod(v.shape)) for v in tensors.values())
        gap = np.max(np.abs(y - y64) / np.maximum(np.abs(y64), 1.0), axis=tuple(range(1, y.ndim)))
        print(f"{name}: {len(tensors)} tensors, {params} values, {x.shape[0]} inputs, "
              f"output {y.shape}; Keras float32 vs float64, worst scaled difference per "
              f"input: {np.array2string(gap, precision=1)}")
        print("model! {\n    pub struct " + struct + " {\n        "
              + "\n        ".join(dsl) + "\n    }\n}")


if __name__ == "__main__":
    main(sys.argv[1:])
