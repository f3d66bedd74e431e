#!/usr/bin/env python3
"""TFLite's own post-training quantization of a small Keras model, as the
reference for staticnet's calibration arithmetic (runtime/src/quant/calibrate.rs,
tests/ptq.rs).

    /tmp/venv-tf/bin/python tools/make_ptq_fixtures.py   # writes tests/fixtures/ptq/tflite_ptq.safetensors

The model (Conv2D+relu, DepthwiseConv2D+relu6, AveragePooling2D, Flatten,
Dense, Softmax; random biases so that none is dropped) is converted to full
int8 by `tf.lite.TFLiteConverter` with a representative data set of 16
seeded inputs. For every int8 tensor of the converted model the fixture
holds what TFLite chose, and beside it what it was chosen from:

  <t>.scale float32 [n], <t>.zero_point int32 [n]   TFLite's parameters
  <t>.min, <t>.max float32 []                       the tensor's range over the
      calibration set, read from the *float* TFLite model's interpreter
      (every intermediate tensor preserved): what TFLite's calibrator sees
  <t>.float float32 [...]   weights and biases as Keras holds them, channel
                            axis first (TFLite's quantized_dimension moved to 0)
  <t>.q int8 / int32 [...]  TFLite's quantized weights / biases, same layout

with <t> one of input, conv, conv.weight, conv.bias, depthwise,
depthwise.weight, depthwise.bias, pool, flatten, dense, dense.weight,
dense.bias, softmax. The graph's ops are fixed by the script, so the
tensors are found by their op's inputs and outputs, not by name.
"""

import pathlib

import numpy as np
import tensorflow as tf
from safetensors.numpy import save_file

SEED = 7
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ptq" / "tflite_ptq.safetensors"


def model():
    tf.keras.utils.set_random_seed(SEED)
    init = tf.keras.initializers.RandomNormal(stddev=0.3)
    inp = tf.keras.Input((8, 8, 2))
    x = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu", bias_initializer=init)(inp)
    x = tf.keras.layers.DepthwiseConv2D(3, activation="relu6", bias_initializer=init)(x)
    x = tf.keras.layers.AveragePooling2D(2)(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(5, bias_initializer=init)(x)
    out = tf.keras.layers.Softmax()(x)
    return tf.keras.Model(inp, out)


def main():
    m = model()
    calib = np.random.default_rng(3).normal(size=(16, 8, 8, 2)).astype(np.float32)

    def rep():
        for i in range(len(calib)):
            yield [calib[i : i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    q = tf.lite.Interpreter(model_content=conv.convert())
    q.allocate_tensors()
    f = tf.lite.Interpreter(
        model_content=tf.lite.TFLiteConverter.from_keras_model(m).convert(),
        experimental_preserve_all_tensors=True,
    )
    f.allocate_tensors()

    # The float model's ranges, by tensor name (the float and int8 graphs
    # share the activation tensors' names).
    fdet = {d["name"]: d for d in f.get_tensor_details()}
    lo, hi = {}, {}
    for x in calib:
        f.set_tensor(f.get_input_details()[0]["index"], x[None])
        f.invoke()
        for name, d in fdet.items():
            if d["dtype"] != np.float32:
                continue
            v = f.get_tensor(d["index"])
            lo[name] = min(lo.get(name, np.inf), float(v.min()))
            hi[name] = max(hi.get(name, -np.inf), float(v.max()))

    # Keras' weights in TFLite's layouts: CONV_2D [O, KH, KW, I],
    # DEPTHWISE_CONV_2D [1, KH, KW, C], FULLY_CONNECTED [O, I].
    kc, kdw, kfc = (m.get_layer(index=i) for i in (1, 2, 5))
    (ck, cb), (dk, db), (fk, fb) = kc.get_weights(), kdw.get_weights(), kfc.get_weights()
    keras_in_tflite_layout = {
        "conv.weight": ck.transpose(3, 0, 1, 2),
        "conv.bias": cb,
        "depthwise.weight": dk.reshape(dk.shape[0], dk.shape[1], -1)[None],
        "depthwise.bias": db,
        "dense.weight": fk.T,
        "dense.bias": fb,
    }

    det = {d["index"]: d for d in q.get_tensor_details()}
    ops = q._get_ops_details()
    by_kind = {}
    for op in ops:
        by_kind.setdefault(op["op_name"], []).append(op)
    (c,) = by_kind["CONV_2D"]
    (dw,) = by_kind["DEPTHWISE_CONV_2D"]
    (pool,) = by_kind["AVERAGE_POOL_2D"]
    (flat,) = by_kind["RESHAPE"]
    (fc,) = by_kind["FULLY_CONNECTED"]
    (sm,) = by_kind["SOFTMAX"]
    tensors = {
        "input": c["inputs"][0],
        "conv": c["outputs"][0],
        "conv.weight": c["inputs"][1],
        "conv.bias": c["inputs"][2],
        "depthwise": dw["outputs"][0],
        "depthwise.weight": dw["inputs"][1],
        "depthwise.bias": dw["inputs"][2],
        "pool": pool["outputs"][0],
        "flatten": flat["outputs"][0],
        "dense": fc["outputs"][0],
        "dense.weight": fc["inputs"][1],
        "dense.bias": fc["inputs"][2],
        "softmax": sm["outputs"][0],
    }
    fixture = {}
    for key, index in tensors.items():
        d = det[index]
        qp = d["quantization_parameters"]
        fixture[f"{key}.scale"] = np.asarray(qp["scales"], np.float32)
        fixture[f"{key}.zero_point"] = np.asarray(qp["zero_points"], np.int32)
        name = d["name"]
        if key.endswith((".weight", ".bias")):
            axis = qp["quantized_dimension"]
            fixture[f"{key}.q"] = np.ascontiguousarray(np.moveaxis(q.get_tensor(index), axis, 0))
            fixture[f"{key}.float"] = np.ascontiguousarray(
                np.moveaxis(keras_in_tflite_layout[key], axis, 0).astype(np.float32)
            )
        else:
            assert name in lo, name
            fixture[f"{key}.min"] = np.asarray(lo[name], np.float32)
            fixture[f"{key}.max"] = np.asarray(hi[name], np.float32)
    save_file(fixture, str(OUT), metadata={"seed": str(SEED), "tensorflow": tf.__version__})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
