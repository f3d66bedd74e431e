#!/usr/bin/env python3
"""A tiny full-int8 TensorFlow Lite model for the int8 form's docs and
compile-fail cases (tests/ui/int8-*.rs, src/dsl.md's "int8 models").

    /tmp/venv-tf/bin/python tools/make_int8_tiny.py

Builds, with fixed seeds, the Keras model

    input [8] -> Dense(4, relu) -> Dense(3) -> Softmax

(in the DSL: `input: [8]`, `dense: Dense(4, activation = relu)`, `dense_1:
Dense(3)`, `softmax: Softmax`; Keras 3 writes a Flatten as SHAPE and
STRIDED_SLICE operators, which the import does not read, so the tiny model
has no image), converts
it to full int8 with TFLite's converter (a seeded representative data set of
64 inputs), converts that with tools/tflite_to_safetensors.py to
tests/fixtures/int8/tiny.safetensors, and prints the TFLite interpreter's
(BUILTIN_REF) int8 output for the input `x[i] = 16 i - 64` (i = 0..7),
which the doctest asserts, and TFLite Micro's if `TFLM_PYTHON` names a
virtualenv's python with the `tflite-micro` package (as for
tools/make_int8_fixtures.py):

    TFLM_PYTHON=/tmp/venv-tflm/bin/python /tmp/venv-tf/bin/python tools/make_int8_tiny.py
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import tflite_to_safetensors as conv  # noqa: E402


def main():
    tf.keras.utils.set_random_seed(6)
    model = tf.keras.Sequential(
        [
            tf.keras.Input((8,)),
            # Nonzero biases: TFLite drops a bias that is all zeros (Keras'
            # default), which the import (and TFLite Micro's kernels) read.
            tf.keras.layers.Dense(4, activation="relu", bias_initializer="random_normal"),
            tf.keras.layers.Dense(3, bias_initializer="random_normal"),
            tf.keras.layers.Softmax(),
        ]
    )
    rng = np.random.default_rng(6)
    calib = rng.uniform(-1.0, 1.0, size=(64, 8)).astype(np.float32)

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
    out_dir = ROOT / "tests" / "fixtures" / "int8"
    tfl = out_dir / "tiny.tflite"
    tfl.write_bytes(flat)
    names, tensors, dsl = conv.convert(str(tfl))
    from safetensors.numpy import save_file

    save_file(
        tensors,
        str(out_dir / "tiny.safetensors"),
        metadata={"format": "staticnet-int8", "layers": ",".join(names)},
    )
    print("\n".join(dsl))
    interp = tf.lite.Interpreter(
        model_content=flat,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
    )
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    x = (16 * np.arange(8) - 64).astype(np.int8).reshape(1, 8)
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    y = interp.get_tensor(interp.get_output_details()[0]["index"])
    print("input scale, zero point:", inp["quantization"])
    print("output (TFLite, BUILTIN_REF):", y.ravel().tolist())
    py = os.environ.get("TFLM_PYTHON")
    if py:
        code = (
            "import numpy as np; from tflite_micro import runtime; "
            f"it = runtime.Interpreter.from_file({str(tfl)!r}); "
            "it.set_input((16 * np.arange(8) - 64).astype(np.int8).reshape(1, 8), 0); "
            "it.invoke(); print(it.get_output(0).ravel().tolist())"
        )
        micro = subprocess.run([py, "-c", code], check=True, capture_output=True, text=True)
        print("output (TFLite Micro):", micro.stdout.strip())


if __name__ == "__main__":
    main()
