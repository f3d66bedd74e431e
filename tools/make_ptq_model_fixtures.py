#!/usr/bin/env python3
"""TFLite's converter's post-training quantization of two small Keras models,
the reference for staticnet's model-level quantization (`Int8Model::quantize`,
tests/ptq_model.rs).

    /tmp/venv-tf/bin/python tools/make_ptq_model_fixtures.py

Builds Dense(6, relu) -> Dense(3) -> Softmax on 4 inputs (seeded, random
nonzero biases: TFLite drops an all-zero bias), and writes to
tests/fixtures/ptq_model/:

  tflite_mlp_float.safetensors        the float weights in PyTorch naming
                                      (dense.weight [O, I], dense.bias, ...)
  tflite_mlp_calibration.safetensors  `x` [64, 4]: the representative data set
  tflite_mlp_int8.safetensors         the converter's full-int8 model
                                      (inference_input/output_type int8),
                                      converted by tools/tflite_to_safetensors.py

and the same three files `tflite_res_*` for a residual model (Conv2D without
bias + BatchNorm + ReLU, 1x1 Conv2D, Add + ReLU, AveragePooling2D, Dense;
set BatchNorm statistics; calibration images stored [N, C, H, W]).

staticnet quantizes the same float models on the same calibration sets and
compares its int8 files with the converter's (tests/ptq_model.rs).
"""

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import tflite_to_safetensors as conv  # noqa: E402


def convert_and_save(model, calib_nhwc, stem):
    """Full-int8 conversion with `calib_nhwc` as the representative data set,
    written as tests/fixtures/ptq_model/<stem>_int8.safetensors."""

    def representative():
        for x in calib_nhwc:
            yield [x[None]]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    tmp = Path("/tmp") / f"staticnet_{stem}.tflite"
    tmp.write_bytes(c.convert())
    names, tensors, dsl = conv.convert(str(tmp))
    out = ROOT / "tests" / "fixtures" / "ptq_model"
    save_file(tensors, str(out / f"{stem}_int8.safetensors"),
              metadata={"format": "staticnet-int8", "layers": ",".join(names)})
    print("\n".join(dsl))


def residual():
    """Conv2D (no bias) + BatchNorm + ReLU, a 1x1 Conv2D, Add + ReLU,
    AveragePooling2D over the map, Reshape (Flatten), Dense: BatchNorm folded by the
    converter, with set (not initial) statistics."""
    tf.keras.utils.set_random_seed(12)
    rng = np.random.default_rng(12)
    inp = tf.keras.Input((6, 6, 2), batch_size=1)  # static shapes: no SHAPE op
    conv1 = tf.keras.layers.Conv2D(4, 3, padding="same", use_bias=False)
    bn = tf.keras.layers.BatchNormalization(epsilon=0.001)
    r = tf.keras.layers.ReLU()(bn(conv1(inp)))
    conv2 = tf.keras.layers.Conv2D(4, 1, bias_initializer="random_normal")
    x = tf.keras.layers.Add()([conv2(r), r])
    x = tf.keras.layers.ReLU()(x)
    x = tf.keras.layers.AveragePooling2D(6)(x)
    x = tf.keras.layers.Reshape((4,))(x)  # Flatten: a static RESHAPE (no SHAPE op)
    dense = tf.keras.layers.Dense(3, bias_initializer="random_normal")
    model = tf.keras.Model(inp, dense(x))
    gamma = rng.uniform(0.5, 1.5, 4).astype(np.float32)
    beta = rng.normal(0, 0.3, 4).astype(np.float32)
    mean = rng.normal(0, 0.3, 4).astype(np.float32)
    var = rng.uniform(0.3, 1.2, 4).astype(np.float32)
    bn.set_weights([gamma, beta, mean, var])
    calib = rng.uniform(-1.0, 1.0, size=(64, 6, 6, 2)).astype(np.float32)
    convert_and_save(model, calib, "tflite_res")
    (k1,) = conv1.get_weights()
    k2, b2 = conv2.get_weights()
    kd, bd = dense.get_weights()
    floats = {
        "conv2d.weight": np.ascontiguousarray(k1.transpose(3, 2, 0, 1)),
        "batch_normalization.weight": gamma,
        "batch_normalization.bias": beta,
        "batch_normalization.running_mean": mean,
        "batch_normalization.running_var": var,
        "conv2d_1.weight": np.ascontiguousarray(k2.transpose(3, 2, 0, 1)),
        "conv2d_1.bias": b2,
        "dense.weight": np.ascontiguousarray(kd.T),
        "dense.bias": bd,
    }
    out = ROOT / "tests" / "fixtures" / "ptq_model"
    save_file(floats, str(out / "tflite_res_float.safetensors"), metadata={"format": "pt"})
    save_file({"x": np.ascontiguousarray(calib.transpose(0, 3, 1, 2))},
              str(out / "tflite_res_calibration.safetensors"))


def main():
    residual()
    tf.keras.utils.set_random_seed(11)
    model = tf.keras.Sequential(
        [
            tf.keras.Input((4,)),
            tf.keras.layers.Dense(6, activation="relu", bias_initializer="random_normal"),
            tf.keras.layers.Dense(3, bias_initializer="random_normal"),
            tf.keras.layers.Softmax(),
        ]
    )
    calib = np.random.default_rng(11).uniform(-2.0, 2.0, size=(64, 4)).astype(np.float32)

    def representative():
        for x in calib:
            yield [x[None]]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    flat = c.convert()
    out = ROOT / "tests" / "fixtures" / "ptq_model"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path("/tmp") / "staticnet_tflite_mlp.tflite"
    tmp.write_bytes(flat)
    names, tensors, _ = conv.convert(str(tmp))
    save_file(tensors, str(out / "tflite_mlp_int8.safetensors"),
              metadata={"format": "staticnet-int8", "layers": ",".join(names)})
    floats = {}
    for layer, name in zip(model.layers[:2], ["dense", "dense_1"]):
        k, b = layer.get_weights()
        floats[f"{name}.weight"] = np.ascontiguousarray(k.T.astype(np.float32))
        floats[f"{name}.bias"] = b.astype(np.float32)
    save_file(floats, str(out / "tflite_mlp_float.safetensors"), metadata={"format": "pt"})
    save_file({"x": calib}, str(out / "tflite_mlp_calibration.safetensors"))
    print("layers:", names)


if __name__ == "__main__":
    main()
