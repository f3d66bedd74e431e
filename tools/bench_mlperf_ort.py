#!/usr/bin/env python3
"""onnxruntime's side of tools/bench_mlperf.sh, and the parameter and MAC
counts of the MLPerf Tiny models (BENCHMARKS.md, "MLPerf Tiny models").

For each model in tests/fixtures/mlperf/: the DSL the converter printed
(the .io file's `dsl` metadata, the same lines as tests/mlperf/<model>.rs)
and the converted weights (<model>.safetensors) are built into an ONNX
graph with onnx.helper, node for node (Conv with TensorFlow's `same`
padding made explicit, depthwise as Conv with group = channels,
BatchNormalization, Relu, Add, AveragePool, Flatten, Gemm, Softmax;
Dropout is the identity and left out). Before anything is timed, the
graph's outputs on every golden input must equal the fixture's float64
Keras reference within 1e-5 (scaled as tests/mlperf.rs does), so the
timed network is the same function as staticnet's.

MACs come from ONNX shape inference on that graph: a Conv's output size
times (input channels / group) x kh x kw, a Gemm's in x out; BatchNorm,
pooling, Add and the activations are not counted (they are a few per
output value, not multiply-accumulates over a kernel). Parameters are the
trainable values (weights, biases, BatchNorm's scale and shift); the
BatchNorm running statistics are counted separately.

Timing: onnxruntime single-threaded (intra_op_num_threads = 1,
inter_op_num_threads = 1, sequential execution, all graph optimisations),
batch 1, f32. With one intra-op thread onnxruntime runs the graph on the
calling thread, so the timer is that thread's CPU time
(time.thread_time_ns), the measure staticnet's criterion bench uses; wall
time is printed beside it. Each figure is the median of `--reps` timed
batches of `--inner` runs after a warm-up. The per-call overhead of the
Python binding is measured on an Identity graph of the same input and
printed (it is inside the onnxruntime figures).

    python3 -m venv /tmp/venv-ort
    /tmp/venv-ort/bin/pip install onnxruntime onnx numpy safetensors
    /tmp/venv-ort/bin/python tools/bench_mlperf_ort.py [--json OUT] [model ...]
"""

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "mlperf"
MODELS = ["kws", "vww", "ic", "ad", "sww"]


def parse_line(line):
    """`name: Kind(args)(reads),` -> (name, kind, args str or None, reads
    list or None)."""
    name, rest = line.rstrip(",").split(":", 1)
    rest = rest.strip()
    m = re.match(r"(\w+)", rest)
    kind, rest = m.group(1), rest[m.end():]
    groups = []
    while rest.startswith("("):
        depth = 0
        for i, ch in enumerate(rest):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                groups.append(rest[1:i])
                rest = rest[i + 1:]
                break
    assert not rest.strip(), line
    args = groups[0] if groups else None
    reads = [r.strip() for r in groups[1].split(",")] if len(groups) > 1 else None
    if kind == "Add":
        reads, args = [r.strip() for r in args.split(",")], None
    return name.strip(), kind, args, reads


def options(args):
    """The `key = value` options of an argument list, tuples as tuples;
    positional arguments under their index."""
    out, parts, depth, cur = {}, [], 0, ""
    for ch in args or "":
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    for k, p in enumerate(parts):
        key, _, val = p.partition("=") if "=" in p else (str(k), "", p)
        val = val.strip()
        if val.startswith("("):
            val = tuple(int(v) for v in val.strip("()").split(","))
        out[key.strip()] = val
    return out


def same_pads(n, k, s):
    """TensorFlow's `same`: total max((ceil(n/s) - 1) s + k - n, 0), the
    extra one at the end."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def build(case):
    """(onnx model, golden inputs [n, ...] float32, float64 reference,
    {params, buffers, macs})."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper, shape_inference
    from safetensors import safe_open
    from safetensors.numpy import load_file

    w = load_file(str(FIX / f"{case}.safetensors"))
    io = load_file(str(FIX / f"{case}.io.safetensors"))
    with safe_open(str(FIX / f"{case}.io.safetensors"), "np") as f:
        dsl = f.metadata()["dsl"].split("\n")
    first = dsl[0]
    assert first.startswith("input:"), first
    in_shape = [int(v) for v in first.split("[")[1].split("]")[0].split(",")]
    nodes, inits, shapes = [], [], {"input": in_shape}
    used = set()

    def init(key):
        used.add(key)
        inits.append(numpy_helper.from_array(w[key].astype(np.float32), key))
        return key

    def act(out, a):
        if a in (None, "linear"):
            return out
        op = {"relu": "Relu", "softmax": "Softmax", "sigmoid": "Sigmoid", "tanh": "Tanh"}[a]
        kw = {"axis": -1} if op == "Softmax" else {}
        nodes.append(helper.make_node(op, [out], [out + "_act"], **kw))
        return out + "_act"

    prev = "input"
    outs = {"input": "input"}
    for line in dsl[1:]:
        name, kind, args, reads = parse_line(line)
        opts = options(args)
        src = [outs[r] for r in reads] if reads else [outs[prev]]
        if kind in ("Conv2d", "DepthwiseConv2d"):
            weight = w[f"{name}.weight"]
            kh, kw_ = weight.shape[2:]
            sh, sw = opts.get("stride", (1, 1))
            c, h, ww = shapes[reads[0] if reads else prev]
            if opts.get("padding") == "same":
                (t, b), (l, r) = same_pads(h, kh, sh), same_pads(ww, kw_, sw)
            else:
                assert opts.get("padding", "valid") == "valid", line
                t = b = l = r = 0
            ins = src + [init(f"{name}.weight")]
            if opts.get("bias") != "false":
                ins.append(init(f"{name}.bias"))
            group = c if kind == "DepthwiseConv2d" else 1
            nodes.append(helper.make_node("Conv", ins, [name], kernel_shape=[kh, kw_],
                                          strides=[sh, sw], pads=[t, l, b, r], group=group))
            oh, ow = (h + t + b - kh) // sh + 1, (ww + l + r - kw_) // sw + 1
            shapes[name] = [weight.shape[0], oh, ow]
            outs[name] = act(name, opts.get("activation"))
        elif kind == "BatchNorm":
            ins = src + [init(f"{name}.{k}") for k in ("weight", "bias", "running_mean", "running_var")]
            nodes.append(helper.make_node("BatchNormalization", ins, [name],
                                          epsilon=float(opts["eps"])))
            shapes[name] = shapes[reads[0] if reads else prev]
            outs[name] = name
        elif kind in ("Relu", "Softmax"):
            nodes.append(helper.make_node(kind, src, [name], **({"axis": -1} if kind == "Softmax" else {})))
            shapes[name] = shapes[reads[0] if reads else prev]
            outs[name] = name
        elif kind == "Dropout":
            shapes[name], outs[name] = shapes[prev], outs[prev]
        elif kind == "Add":
            nodes.append(helper.make_node("Add", src, [name]))
            shapes[name] = shapes[reads[0]]
            outs[name] = name
        elif kind == "AvgPool2d":
            ph, pw = opts["0"]
            sh, sw = opts.get("stride", (ph, pw))
            nodes.append(helper.make_node("AveragePool", src, [name], kernel_shape=[ph, pw],
                                          strides=[sh, sw]))
            c, h, ww = shapes[prev]
            shapes[name] = [c, (h - ph) // sh + 1, (ww - pw) // sw + 1]
            outs[name] = name
        elif kind == "Flatten":
            nodes.append(helper.make_node("Flatten", src, [name], axis=1))
            shapes[name] = [int(np.prod(shapes[prev]))]
            outs[name] = name
        elif kind == "Dense":
            ins = src + [init(f"{name}.weight")]
            if opts.get("bias") != "false":
                ins.append(init(f"{name}.bias"))
            nodes.append(helper.make_node("Gemm", ins, [name], transB=1))
            shapes[name] = [int(opts["0"])]
            outs[name] = act(name, opts.get("activation"))
        else:
            sys.exit(f"{case}: {kind} not supported here")
        prev = name
    assert used == set(w), f"{case}: unused tensors {set(w) - used}"
    graph = helper.make_graph(
        nodes, case,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1] + in_shape)],
        [helper.make_tensor_value_info(outs[prev], TensorProto.FLOAT, [1] + shapes[prev])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(inferred.graph.value_info) + list(inferred.graph.output)
            + list(inferred.graph.input)}
    inits_shape = {i.name: list(i.dims) for i in inferred.graph.initializer}
    macs = 0
    for n in inferred.graph.node:
        if n.op_type == "Conv":
            oc, icg, kh, kw_ = inits_shape[n.input[1]]
            macs += int(np.prod(dims[n.output[0]])) * icg * kh * kw_
        elif n.op_type == "Gemm":
            o, i = inits_shape[n.input[1]]
            macs += o * i
    buffers = sum(v.size for k, v in w.items() if k.endswith(("running_mean", "running_var")))
    counts = {"params": sum(v.size for v in w.values()) - buffers, "buffers": buffers, "macs": macs}
    return model, io["input"].astype(np.float32), io["output64"], counts


def identity(shape):
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["input"], ["out"])], "id",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1] + shape)],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1] + shape)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def session(model):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def timed(sess, x, reps, inner):
    """Median per-run thread CPU time, wall time and process CPU time (all
    threads: equal to the thread's when onnxruntime spawns no worker), in
    microseconds."""
    feed = {"input": x}
    for _ in range(max(inner, 10)):
        sess.run(None, feed)
    cpu, wall, proc = [], [], []
    for _ in range(reps):
        c0, w0, p0 = time.thread_time_ns(), time.perf_counter_ns(), time.process_time_ns()
        for _ in range(inner):
            sess.run(None, feed)
        cpu.append((time.thread_time_ns() - c0) / inner / 1e3)
        wall.append((time.perf_counter_ns() - w0) / inner / 1e3)
        proc.append((time.process_time_ns() - p0) / inner / 1e3)
    return statistics.median(cpu), statistics.median(wall), statistics.median(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=MODELS)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--counts-only", action="store_true", help="parameters and MACs, no timing")
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--budget-ms", type=float, default=150.0,
                    help="wall time of one timed batch (sets --inner per model)")
    a = ap.parse_args()
    import onnxruntime as ort

    out = {"onnxruntime": ort.__version__}
    for case in a.models:
        model, xs, y64, counts = build(case)
        sess = session(model)
        worst = 0.0
        # Keras' float32 on the autoencoder's frames 3, 17, 30 is off by up
        # to 2.3e-4 (a pre-activation at a ReLU's kink; tests/mlperf.rs):
        # those frames are held to 5e-4, every other input to 1e-5.
        ill = {"ad": {3, 17, 30}}.get(case, set())
        for k, (x, ref) in enumerate(zip(xs, y64)):
            y = sess.run(None, {"input": x[None]})[0][0].astype(np.float64).reshape(-1)
            gap = float(np.max(np.abs(y - ref.reshape(-1)) / np.maximum(np.abs(ref.reshape(-1)), 1.0)))
            tol = 5e-4 if k in ill else 1e-5
            assert gap <= tol, f"{case} input {k}: onnxruntime {gap:.2e} from Keras float64 > {tol}"
            worst = max(worst, gap) if k not in ill else worst
        rec = dict(counts, worst_vs_keras=worst)
        if not a.counts_only:
            x = xs[0][None]
            t0 = time.perf_counter()
            sess.run(None, {"input": x})
            one = time.perf_counter() - t0
            inner = max(1, int(a.budget_ms / 1e3 / max(one, 1e-6)))
            rec["ort_cpu_us"], rec["ort_wall_us"], rec["ort_process_cpu_us"] = timed(
                sess, x, a.reps, inner)
            rec["ort_call_overhead_us"] = timed(session(identity(list(x.shape[1:]))), x, a.reps,
                                                1000)[0]
            rec["inner"] = inner
        out[case] = rec
        print(json.dumps({case: rec}), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
