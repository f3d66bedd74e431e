#!/usr/bin/env python3
"""onnxruntime's and PyTorch's side of tools/bench_peers.sh: the workloads
of benches/step.rs and benches/forward.rs, batch 1, f32, one thread:

  lstm_step      [8] -> LSTM(32) one step with the state carried, -> Dense(1)
  lstm_sequence  [32, 8] -> LSTM(32) -> Dense(1) on the last state (W2)
  gru_step       [8] -> GRU(32) one step, -> Dense(1)
  w1_forward     W1, the textbook CNN ([1, 10, 10] -> Conv 32 3x3 relu ->
                 MaxPool 2 -> Flatten -> Dense 64 relu -> Dense 1 sigmoid)

Seeded random weights (speed does not depend on them). Prints one line
per workload, "<workload>_ns <median ns per call>": the median over 25
rounds of the mean of a timed loop of calls (process CPU time, single
thread), after a warm-up.

    /tmp/venv-ort/bin/python tools/peers/ort_torch_bench.py ort      # onnxruntime, onnx, numpy
    /tmp/venv-train/bin/python tools/peers/ort_torch_bench.py torch  # torch, numpy

onnxruntime: one intra-op and one inter-op thread, sequential execution,
all graph optimisations; a step is an ONNX LSTM/GRU node over one time
step with the previous state as its initial_h/initial_c inputs, the
state copied back from the outputs each call, as a streaming caller
would. PyTorch: torch.set_num_threads(1), inference_mode, eager modules
(nn.LSTM/nn.GRU called with the carried state).
"""

import sys
import time

import numpy as np

H, F, S = 32, 8, 32


def timed(call, inner):
    for _ in range(inner):
        call()
    rounds = []
    for _ in range(25):
        t = time.process_time_ns()
        for _ in range(inner):
            call()
        rounds.append((time.process_time_ns() - t) / inner)
    return float(np.median(rounds))


def ort_models():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)

    def arr(shape, name, s=0.2):
        return numpy_helper.from_array(rng.normal(0, s, shape).astype(np.float32), name)

    def recurrent(kind, steps):
        gates = 4 if kind == "LSTM" else 3
        init = [arr((1, gates * H, F), "W"), arr((1, gates * H, H), "R"),
                arr((1, 2 * gates * H), "B"), arr((H, 1), "head.w"), arr((1,), "head.b")]
        ins = ["x", "W", "R", "B", "", "h0"] + (["c0"] if kind == "LSTM" else [])
        outs = ["y", "hn"] + (["cn"] if kind == "LSTM" else [])
        extra = {"linear_before_reset": 1} if kind == "GRU" else {}
        nodes = [
            helper.make_node(kind, ins, outs, hidden_size=H, **extra),
            helper.make_node("Reshape", ["hn", "shape"], ["h2"]),
            helper.make_node("Gemm", ["h2", "head.w", "head.b"], ["out"]),
        ]
        init.append(numpy_helper.from_array(np.array([1, H], np.int64), "shape"))
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, 1, F]),
                  helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 1, H])]
        outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1]),
                   helper.make_tensor_value_info("hn", TensorProto.FLOAT, [1, 1, H])]
        if kind == "LSTM":
            inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, [1, 1, H]))
            outputs.append(helper.make_tensor_value_info("cn", TensorProto.FLOAT, [1, 1, H]))
        g = helper.make_graph(nodes, kind.lower(), inputs, outputs, init)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(m)
        return m.SerializeToString()

    def w1():
        init = [arr((32, 1, 3, 3), "conv.w", 0.3), arr((32,), "conv.b"), arr((512, 64), "fc1.w", 0.05),
                arr((64,), "fc1.b"), arr((64, 1), "out.w"), arr((1,), "out.b")]
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
        g = helper.make_graph(nodes, "w1",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 10, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])], init)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(m)
        return m.SerializeToString()

    return recurrent, w1


def run_ort():
    import onnxruntime as ort

    recurrent, w1 = ort_models()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = lambda m: ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    for kind in ("LSTM", "GRU"):
        s = sess(recurrent(kind, 1))
        feed = {"x": rng.normal(size=(1, 1, F)).astype(np.float32),
                "h0": np.zeros((1, 1, H), np.float32)}
        if kind == "LSTM":
            feed["c0"] = np.zeros((1, 1, H), np.float32)

        def step():
            out = s.run(None, feed)
            feed["h0"] = out[1]
            if kind == "LSTM":
                feed["c0"] = out[2]

        print(f"{kind.lower()}_step_ns {timed(step, 2000):.1f}")
    s = sess(recurrent("LSTM", S))
    feed = {"x": rng.normal(size=(S, 1, F)).astype(np.float32),
            "h0": np.zeros((1, 1, H), np.float32), "c0": np.zeros((1, 1, H), np.float32)}
    print(f"lstm_sequence_ns {timed(lambda: s.run(None, feed), 500):.1f}")
    s = sess(w1())
    feed = {"x": rng.uniform(size=(1, 1, 10, 10)).astype(np.float32)}
    print(f"w1_forward_ns {timed(lambda: s.run(None, feed), 2000):.1f}")
    print(f"# onnxruntime {ort.__version__}")


def run_torch():
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(1)
    nn = torch.nn
    lstm, gru, head = nn.LSTM(F, H), nn.GRU(F, H), nn.Linear(H, 1)
    w1 = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                       nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())
    with torch.inference_mode():
        x1 = torch.randn(1, 1, F)
        state = [(torch.zeros(1, 1, H), torch.zeros(1, 1, H))]

        def lstm_step():
            y, st = lstm(x1, state[0])
            state[0] = st
            head(y[0])

        print(f"lstm_step_ns {timed(lstm_step, 2000):.1f}")
        hg = [torch.zeros(1, 1, H)]

        def gru_step():
            y, h = gru(x1, hg[0])
            hg[0] = h
            head(y[0])

        print(f"gru_step_ns {timed(gru_step, 2000):.1f}")
        xs = torch.randn(S, 1, F)
        print(f"lstm_sequence_ns {timed(lambda: head(lstm(xs)[0][-1]), 500):.1f}")
        xi = torch.rand(1, 1, 10, 10)
        print(f"w1_forward_ns {timed(lambda: w1(xi), 2000):.1f}")
    print(f"# torch {torch.__version__}")


if __name__ == "__main__":
    {"ort": run_ort, "torch": run_torch}[sys.argv[1]]()
