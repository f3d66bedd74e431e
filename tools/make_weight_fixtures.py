#!/usr/bin/env python3
"""Keras references for fit's sample and class weights (tests/fit_weights.rs).

Each case is one epoch of Keras 3 `model.fit` in float64 on one batch
(batch_size = N, shuffle=False) with SGD(learning_rate=1.0): the epoch's
reported loss is the weighted loss of the initial weights, and
(before - after) is its gradient. Keras' reduction is
`sum_over_batch_size`: sum(w_i * l_i) / N, not divided by sum(w_i); a
class_weight becomes the sample weight of each sample's class.

Cases (a Dense layer on 4 inputs, no activation, the losses from logits):
  sparse_sw    3 classes, SparseCategoricalCrossentropy(from_logits=True), sample_weight
  sparse_cw    the same with class_weight {0: 1.0, 1: 2.5, 2: 0.5}
  bce_sw       1 output, BinaryCrossentropy(from_logits=True), sample_weight
  bce_cw       the same with class_weight {0: 0.25, 1: 4.0}
  mse_sw       2 outputs, MeanSquaredError, sample_weight

Written to tests/fixtures/fit/weights_<case>.safetensors: x [N, 4], y
(labels as float, or targets), w (the sample weights Keras used: given, or
class_weight[class]), fc.weight / fc.bias (PyTorch layout [out, in]),
grad.fc.weight / grad.fc.bias, loss (shape [1]); the class weights as
`class_weight` in `__metadata__` ("" for none).

Deterministic: numpy seeded per case, keras.utils.set_random_seed(0),
sorted keys.

    /tmp/venv-tf/bin/python tools/make_weight_fixtures.py
"""

import json
import os
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "fit"
N = 7


def write_safetensors(path, tensors, metadata):
    """make_fixtures.write_safetensors without torch: sorted keys, F64."""
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f8")
        data = a.tobytes()
        header[name] = {"dtype": "F64", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.write(b"".join(blobs))


def case(name, outputs, loss, kind, class_weight=None):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    keras.utils.set_random_seed(0)
    x = rng.normal(size=(N, 4))
    if kind == "sparse":
        y = np.array([0, 1, 2, 1, 1, 0, 2], dtype=np.int64)
        y_store = y.astype(np.float64)
    elif kind == "binary":
        y = np.array([[1.0], [0.0], [1.0], [1.0], [0.0], [0.0], [1.0]])
        y_store = y
    else:
        y = rng.normal(size=(N, outputs))
        y_store = y
    kernel = rng.normal(size=(4, outputs)) * 0.5
    bias = rng.normal(size=(outputs,)) * 0.1
    sw = None if class_weight else np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.25, 1.5])
    if class_weight:
        cls = y if kind == "sparse" else np.round(y[:, 0]).astype(np.int64)
        w_used = np.array([class_weight[int(c)] for c in cls])
    else:
        w_used = sw

    inp = keras.Input(shape=(4,), dtype="float64")
    dense = keras.layers.Dense(outputs, dtype="float64", name="fc")
    model = keras.Model(inp, dense(inp))
    dense.set_weights([kernel, bias])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=loss)
    h = model.fit(x, y, batch_size=N, epochs=1, shuffle=False, verbose=0,
                  sample_weight=sw, class_weight=class_weight)
    k1, b1 = dense.get_weights()
    tensors = {
        "x": x, "y": y_store, "w": w_used,
        "fc.weight": kernel.T, "fc.bias": bias,
        "grad.fc.weight": (kernel - k1).T, "grad.fc.bias": bias - b1,
        "loss": np.array([h.history["loss"][0]]),
    }
    meta = {"class_weight": json.dumps(class_weight) if class_weight else ""}
    write_safetensors(OUT / f"weights_{name}.safetensors", tensors, meta)
    print(name, h.history["loss"][0])


def main():
    keras.config.set_floatx("float64")
    OUT.mkdir(parents=True, exist_ok=True)
    sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    case("sparse_sw", 3, sce, "sparse")
    case("sparse_cw", 3, sce, "sparse", {0: 1.0, 1: 2.5, 2: 0.5})
    case("bce_sw", 1, bce, "binary")
    case("bce_cw", 1, bce, "binary", {0: 0.25, 1: 4.0})
    case("mse_sw", 2, keras.losses.MeanSquaredError(), "regression")


if __name__ == "__main__":
    main()
