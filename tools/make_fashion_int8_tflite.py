#!/usr/bin/env python3
"""The Fashion-MNIST network's int8 model, quantized by staticnet, exported
to TensorFlow Lite and run there (issue 13 item 4: "the int8 model exported
back to TFLite's format gives identical outputs in TFLite").

    TFLM_PYTHON=/tmp/venv-tflm-s5/bin/python /tmp/venv-tf/bin/python tools/make_fashion_int8_tflite.py [--self-test]

1. A template: the Keras form of examples/fashion_mnist.rs' FashionNet (its
   int8 DSL: `Dense(10)` then `Softmax`), with random weights and random
   BatchNorm statistics, converted by TFLite's converter to full int8 (int8
   input and output) on random images. Only its operators, options and
   shapes are used.
2. A self-test of the export with a foreign template: template A, read by
   tools/tflite_to_safetensors.py and exported by tools/int8_to_tflite.py
   into template B (other weights, other scales), must give A's outputs,
   every tensor of every layer, in TFLite's reference kernels on 20 random
   inputs.
3. The export of staticnet's post-training quantization,
   tests/fixtures/fashion/fashion_net_int8.safetensors (made by
   `cargo run --release --example fashion_mnist_int8 -- --save ...`), into
   the template: tests/fixtures/fashion/fashion_net_int8.tflite, which
   tools/int8_to_tflite.py has already read back equal to the int8 file.
4. That file run by TFLite (`OpResolverType.BUILTIN_REF`, all tensors kept)
   and, with TFLM_PYTHON, by the `tflite-micro` package's interpreter, on the
   first 100 Fashion-MNIST test images (Debian's dataset-fashion-mnist),
   quantized with the model's input scale and zero point (half away from
   zero, clamped). Writes tests/fixtures/fashion/fashion_net_int8_io.safetensors:

     input           int8 [100, 1, 28, 28]   the int8 inputs
     output          int8 [100, 10]          TFLite's outputs
     output_micro    int8 [100, 10]          TFLite Micro's
     <layer>.first   int8 [4, ...]           every layer's output on the
     <layer>.first_micro                     first 4 images, our [C, H, W]

   where <layer> is the DSL's name of the layer whose int8 operator made it.
   tests/fashion_int8_tflite.rs compares staticnet's int8 forward with these.
"""

import gzip
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import int8_to_tflite as export  # noqa: E402
import make_int8_fixtures as fx  # noqa: E402
import tflite_to_safetensors as conv  # noqa: E402

FIX = ROOT / "tests" / "fixtures" / "fashion"
DATA = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
IMAGES = 100
FIRST = 4


def keras_net(seed):
    """FashionNet in Keras, NHWC; random weights and BatchNorm statistics."""
    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers

    def bn(x):
        b = L.BatchNormalization(epsilon=1e-5)
        y = b(x)
        c = x.shape[-1]
        rng = np.random.default_rng(seed + c)
        b.set_weights(
            [
                rng.uniform(0.5, 1.5, c).astype(np.float32),
                rng.normal(0.0, 0.2, c).astype(np.float32),
                rng.normal(0.0, 0.2, c).astype(np.float32),
                rng.uniform(0.5, 1.5, c).astype(np.float32),
            ]
        )
        return y

    # batch_size=1: a static shape, so Reshape is one RESHAPE (with a
    # dynamic batch Keras 3 writes SHAPE and STRIDED_SLICE operators)
    inp = tf.keras.Input((28, 28, 1), batch_size=1)
    r0 = L.ReLU()(bn(L.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inp)))
    x = L.ReLU()(bn(L.DepthwiseConv2D(3, padding="same", use_bias=False)(r0)))
    x = bn(L.Conv2D(16, 1, use_bias=False)(x))
    r1 = L.ReLU()(L.Add()([x, r0]))
    x = L.ReLU()(bn(L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(r1)))
    r2 = L.ReLU()(bn(L.Conv2D(32, 1, use_bias=False)(x)))
    x = L.ReLU()(bn(L.DepthwiseConv2D(3, padding="same", use_bias=False)(r2)))
    x = bn(L.Conv2D(32, 1, use_bias=False)(x))
    r3 = L.ReLU()(L.Add()([x, r2]))
    x = L.Reshape((7 * 7 * 32,))(r3)
    x = L.Dropout(0.2)(x)
    x = L.Dense(10, bias_initializer="random_normal")(x)
    return tf.keras.Model(inp, L.Softmax()(x))


def template(seed):
    model = keras_net(seed)
    rng = np.random.default_rng(seed)
    calib = rng.uniform(0.0, 1.0, size=(32, 28, 28, 1)).astype(np.float32)

    def representative():
        for x in calib:
            yield [x[None]]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    return c.convert()


def interpreter(path):
    it = tf.lite.Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    it.allocate_tensors()
    return it


def run_all(path, xs):
    """Every operator output of the TFLite reference kernels, per input."""
    g = conv.Graph(str(path))
    it = interpreter(path)
    (inp,) = it.get_input_details()
    outs = [op.outputs[0] for op in g.sg.operators]
    res = []
    for x in xs:
        it.set_tensor(inp["index"], x)
        it.invoke()
        res.append([it.get_tensor(t).copy() for t in outs])
    return res


def self_test(d):
    a, b = Path(d) / "a.tflite", Path(d) / "b.tflite"
    a.write_bytes(template(1))
    b.write_bytes(template(2))
    names, tensors, _ = conv.convert(str(a))
    from safetensors.numpy import save_file

    save_file(tensors, f"{d}/a.safetensors", metadata={"layers": ",".join(names)})
    e = export.Exporter(f"{d}/a.safetensors", b)
    pairs = e.run()
    e.write(f"{d}/b_from_a.tflite")
    export.verify(f"{d}/a.safetensors", f"{d}/b_from_a.tflite", pairs, e.g)
    rng = np.random.default_rng(3)
    xs = [rng.integers(-128, 128, size=(1, 28, 28, 1), dtype=np.int64).astype(np.int8) for _ in range(20)]
    ra, rb = run_all(a, xs), run_all(f"{d}/b_from_a.tflite", xs)
    rorig = run_all(b, xs)
    same = all(np.array_equal(u, v) for ya, yb in zip(ra, rb) for u, v in zip(ya, yb))
    differs = any(not np.array_equal(u, v) for ya, yo in zip(ra, rorig) for u, v in zip(ya[-1:], yo[-1:]))
    assert same, "template B with A's quantization exported into it does not give A's outputs"
    assert differs, "templates A and B give the same outputs: the self-test cannot fail"
    print(f"self-test: A's int8 model exported into template B gives A's {len(ra[0])} tensors on {len(xs)} inputs")


def idx_images(n):
    with gzip.open(DATA / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    return np.frombuffer(raw, dtype=np.uint8, offset=16)[: n * 784].reshape(n, 28, 28).astype(np.float32) / 255.0


def main():
    with tempfile.TemporaryDirectory() as d:
        self_test(d)
        if sys.argv[1:] == ["--self-test"]:
            return
        tpl = Path(d) / "template.tflite"
        tpl.write_bytes(template(7))
        src = Path(os.environ.get("FASHION_INT8", FIX / "fashion_net_int8.safetensors"))
        dst = FIX / "fashion_net_int8.tflite"
        e = export.Exporter(src, tpl)
        pairs = e.run()
        e.write(dst)
        n = export.verify(src, dst, pairs, e.g)
        print(f"{dst.relative_to(ROOT)}: read back, {n} tensors equal the int8 file's")

    ours, _ = export.read_int8(src)
    s, z = float(ours["input.scale"]), int(ours["input.zero_point"])
    imgs = idx_images(IMAGES)
    xs = [fx.quantize(im, s, z).reshape(1, 28, 28, 1) for im in imgs]
    g = conv.Graph(str(dst))
    outs = [op.outputs[0] for op in g.sg.operators]
    named = [(k, name) for k, name in pairs if name is not None]
    ref = run_all(dst, xs)
    fixture = {
        "input": np.stack([x[0].transpose(2, 0, 1) for x in xs]).astype(np.int8),
        "output": np.stack([r[-1].reshape(-1) for r in ref]).astype(np.int8),
    }
    def ours(k, y):
        """Operator k's output in our layout: [C, H, W] maps, and a RESHAPE
        of an [H, W, C] map flattened in our (c, h, w) order."""
        op = g.sg.operators[k]
        src = g.shape(op.inputs[0])
        if g.kind(op) == "RESHAPE" and len(src) == 4:
            return np.ascontiguousarray(y.reshape(src).transpose(0, 3, 1, 2).reshape(-1))
        return np.ascontiguousarray(fx.to_ours(y))

    for k, name in named:
        fixture[f"{name}.first"] = np.stack([ours(k, r[k]) for r in ref[:FIRST]])
    micro = fx.run_micro(dst, xs, outs)
    if micro is not None:
        fixture["output_micro"] = np.stack([y.reshape(-1) for y in micro[outs[-1]]]).astype(np.int8)
        for k, name in named:
            fixture[f"{name}.first_micro"] = np.stack([ours(k, y) for y in micro[outs[k]][:FIRST]])
        diff = int(np.sum(fixture["output_micro"] != fixture["output"]))
        print(f"TFLite Micro vs TFLite: {diff} differing output values of {fixture['output'].size}")
    from safetensors.numpy import save_file

    io = FIX / "fashion_net_int8_io.safetensors"
    save_file(fixture, str(io), metadata={"layers": ",".join(n for _, n in named), "images": str(IMAGES)})
    labels = np.argmax(fixture["output"], axis=1)
    print(f"{io.relative_to(ROOT)}: {IMAGES} images, {len(named)} layers; TFLite's classes of the first 10: {labels[:10].tolist()}")


if __name__ == "__main__":
    main()
