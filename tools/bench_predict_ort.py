#!/usr/bin/env python3
"""onnxruntime's side of tools/bench_predict.sh: W1 (ANCHORS.md's textbook
CNN: [1, 10, 10] -> Conv 32 3x3 relu -> MaxPool 2 -> Flatten -> Dense 64
relu -> Dense 1 sigmoid) as an ONNX graph built node for node with
onnx.helper (seeded random weights: speed does not depend on their
values), run on a batch of 256 with intra_op_num_threads 1 and 2
(inter_op 1, sequential execution). Prints samples per second: the median
of 30 timed runs of the whole batch, wall time, after 5 warm-up runs.

    /tmp/venv-ort/bin/python tools/bench_predict_ort.py
"""

import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

BATCH = 256


def w1():
    rng = np.random.default_rng(1)
    init = [
        numpy_helper.from_array(rng.normal(0, 0.3, (32, 1, 3, 3)).astype(np.float32), "conv.w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (32,)).astype(np.float32), "conv.b"),
        numpy_helper.from_array(rng.normal(0, 0.05, (512, 64)).astype(np.float32), "fc1.w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (64,)).astype(np.float32), "fc1.b"),
        numpy_helper.from_array(rng.normal(0, 0.1, (64, 1)).astype(np.float32), "out.w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (1,)).astype(np.float32), "out.b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc1.w", "fc1.b"], ["h"]),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Gemm", ["hr", "out.w", "out.b"], ["o"]),
        helper.make_node("Sigmoid", ["o"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "w1",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main():
    model = w1()
    x = np.random.default_rng(2).uniform(size=(BATCH, 1, 10, 10)).astype(np.float32)
    for threads in (1, 2):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        for _ in range(5):
            s.run(None, {"x": x})
        times = []
        for _ in range(30):
            t = time.perf_counter()
            s.run(None, {"x": x})
            times.append(time.perf_counter() - t)
        med = float(np.median(times))
        print(f"onnxruntime {ort.__version__} w1 batch {BATCH} threads {threads}: "
              f"{med * 1e6:.1f} us, {BATCH / med:,.0f} samples/s")


if __name__ == "__main__":
    main()
