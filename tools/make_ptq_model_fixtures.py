#!/usr/bin/env python3
"""TFLite's converter's post-training quantization of a small Keras model,
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

staticnet quantizes the same float model on the same calibration set and
compares its int8 file with the third one.
"""

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import tflite_to_safetensors as conv  # noqa: E402


def main():
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
