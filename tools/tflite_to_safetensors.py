#!/usr/bin/env python3
"""Convert a full-int8 TensorFlow Lite model to staticnet's int8 safetensors.

    /tmp/venv-tf/bin/python tools/tflite_to_safetensors.py MODEL.tflite OUT.safetensors

Reads the flatbuffer with the schema bindings that ship with TensorFlow
(`tensorflow.lite.python.schema_py_generated`, the `flatbuffers` package),
so every operator's options (strides, padding, fused activation, pool
window, softmax beta) and every tensor's quantization come from the file
itself. Prints the model in the DSL and writes, per layer:

  <name>.weight          int8   PyTorch layout (see below)
  <name>.bias            int32  [O]
  <name>.multiplier      int32  [O]   Q0.31 significand per output channel
  <name>.shift           int32  [O]   TFLite's exponent (positive: left)
  <name>.input_zero_point, <name>.output_zero_point   int32 []
  <name>.activation_min, <name>.activation_max        int32 []
  <name>.input_scale, <name>.output_scale             float32 [] (reference only)
  <name>.kernel, <name>.stride, <name>.pad            int32 [2] (convs, pools;
                                                      pad = top, left)
  Add:     <name>.input{1,2}_zero_point, .input{1,2}_multiplier,
           .input{1,2}_shift, .output_multiplier, .output_shift, .left_shift
  Softmax: <name>.input_multiplier, .input_left_shift, .diff_min
  input.scale (float32 []), input.zero_point (int32 []): the model input's.

Layer names. TFLite's graph has no layer names of ours (its tensor names are
whatever the converter left: "functional_1/activation_3/Relu;...BiasAdd"),
so layers are named in graph order by kind, as Keras numbers its layers:
conv2d, conv2d_1, ... (CONV_2D), depthwise_conv2d, ... (DEPTHWISE_CONV_2D),
dense, ... (FULLY_CONNECTED), add, ... (ADD), average_pooling2d, ...
(AVERAGE_POOL_2D), max_pooling2d, ... (MAX_POOL_2D), flatten, ... (RESHAPE),
softmax, ... (SOFTMAX). For the MLPerf Tiny models, whose .tflite keeps the
Keras graph's order, these are the Keras names (and those of the float DSL
in tests/mlperf/), with BatchNorm folded and ReLU fused as TFLite did.

Layouts (TFLite's NHWC to our [C, H, W], PyTorch's):
  CONV_2D filter [O, KH, KW, I]              -> [O, I, KH, KW]
  DEPTHWISE_CONV_2D filter [1, KH, KW, C*M]  -> [C*M, 1, KH, KW]
  FULLY_CONNECTED [O, I] stays, except after a RESHAPE of an [H, W, C] map
  with H*W > 1, whose columns are permuted from (h, w, c) to (c, h, w).
  Activations [1, H, W, C] -> [C, H, W] (tools/make_int8_fixtures.py).

Multipliers and shifts are recomputed from the scales exactly as TFLite
computes them at prepare time (PopulateConvolutionQuantizationParams,
CalculateOpDataFullyConnected, CalculateOpDataAdd, CalculateSoftmaxParams,
QuantizeMultiplier, CalculateActivationRangeQuantized); the bit-exact tests
(tests/int8.rs) against TFLite's own outputs check that they are.
"""

import math
import sys

import numpy as np

# --- TFLite's prepare-time arithmetic ------------------------------------


def quantize_multiplier(real):
    """TFLite's QuantizeMultiplier (double rounding): (significand, shift)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    x = q * (1 << 31)  # exact: a power-of-two scaling
    q_fixed = int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)  # TfLiteRound
    assert abs(q_fixed) <= (1 << 31)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def quantize_multiplier_smaller_than_one_exp(real):
    assert 0.0 < real < 1.0, real
    m, shift = quantize_multiplier(real)
    assert shift <= 0
    return m, shift


def quantize_multiplier_greater_than_one(real):
    assert real > 1.0, real
    m, shift = quantize_multiplier(real)
    assert shift >= 0
    return m, shift


def f32(x):
    return np.float32(x)


def activation_range(act, scale, zp):
    """CalculateActivationRangeQuantized for int8 (float32 arithmetic)."""

    def quantize(f):
        # TFLite's Quantize: TfLiteRound (std::round, half away from zero;
        # not numpy's half-to-even) of f / scale divided in float32
        v = float(f32(f) / f32(scale))
        return zp + int(math.copysign(math.floor(abs(v) + 0.5), v))

    lo, hi = -128, 127
    if act == "RELU":
        return max(lo, quantize(0.0)), hi
    if act == "RELU6":
        return max(lo, quantize(0.0)), min(hi, quantize(6.0))
    if act == "RELU_N1_TO_1":
        return max(lo, quantize(-1.0)), min(hi, quantize(1.0))
    assert act == "NONE", act
    return lo, hi


def tf_padding(padding, in_size, filter_size, stride, dilation=1):
    """(output size, padding before) as TFLite's ComputePaddingHeightWidth."""
    eff = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
    else:
        out = (in_size - eff + stride) // stride
    total = (out - 1) * stride + eff - in_size
    return out, (total // 2 if total > 0 else 0)


# --- reading the flatbuffer ----------------------------------------------


def load(path):
    from tensorflow.lite.python import schema_py_generated as schema

    buf = open(path, "rb").read()
    model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    return schema, model


def names_of(enum_cls):
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_")}


class Graph:
    def __init__(self, path):
        schema, model = load(path)
        self.schema = schema
        self.model = model
        self.sg = model.subgraphs[0]
        self.op_names = names_of(schema.BuiltinOperator)
        self.act_names = names_of(schema.ActivationFunctionType)
        self.pad_names = names_of(schema.Padding)
        self.producer = {}
        for i, op in enumerate(self.sg.operators):
            for t in op.outputs:
                self.producer[t] = i

    def kind(self, op):
        code = self.model.operatorCodes[op.opcodeIndex]
        c = max(code.builtinCode, code.deprecatedBuiltinCode)
        return self.op_names[c]

    def tensor(self, i):
        return self.sg.tensors[i]

    def shape(self, i):
        return [int(d) for d in self.tensor(i).shape]

    def data(self, i, dtype):
        t = self.tensor(i)
        raw = self.model.buffers[t.buffer].data
        assert raw is not None, f"tensor {i} has no constant data"
        return np.frombuffer(bytes(bytearray(raw)), dtype=dtype).reshape(self.shape(i))

    def quant(self, i):
        q = self.tensor(i).quantization
        scales = np.asarray(q.scale, dtype=np.float32)
        zps = np.asarray(q.zeroPoint, dtype=np.int64)
        return scales, zps, int(q.quantizedDimension)

    def act_quant(self, i):
        s, z, _ = self.quant(i)
        assert len(s) == 1 and len(z) == 1, f"tensor {i}: activations must be per tensor"
        assert self.tensor(i).type == self.schema.TensorType.INT8, f"tensor {i} is not int8"
        return float(s[0]), int(z[0])


KIND_NAMES = {
    "CONV_2D": "conv2d",
    "DEPTHWISE_CONV_2D": "depthwise_conv2d",
    "FULLY_CONNECTED": "dense",
    "ADD": "add",
    "AVERAGE_POOL_2D": "average_pooling2d",
    "MAX_POOL_2D": "max_pooling2d",
    "RESHAPE": "flatten",
    "SOFTMAX": "softmax",
}


def layer_names(g):
    """Graph-order names per kind, Keras style (conv2d, conv2d_1, ...)."""
    counts, names = {}, []
    for op in g.sg.operators:
        kind = g.kind(op)
        if kind not in KIND_NAMES:
            raise SystemExit(f"operator {kind} is not supported by staticnet's int8 import")
        base = KIND_NAMES[kind]
        n = counts.get(base, 0)
        counts[base] = n + 1
        names.append(base if n == 0 else f"{base}_{n}")
    return names


def chw(shape):
    """[1, H, W, C] -> (C, H, W); [1, N] -> (N,)."""
    if len(shape) == 4:
        assert shape[0] == 1
        return (shape[3], shape[1], shape[2])
    assert len(shape) == 2 and shape[0] == 1, shape
    return (shape[1],)


def convert(path):
    g = Graph(path)
    names = layer_names(g)
    # what each tensor is called in the DSL: the model input, or a layer
    tensor_layer = {g.sg.inputs[0]: "input"}
    for name, op in zip(names, g.sg.operators):
        tensor_layer[op.outputs[0]] = name
    out = {}
    dsl = []

    in_t = g.sg.inputs[0]
    s_in, z_in = g.act_quant(in_t)
    out["input.scale"] = np.array(s_in, dtype=np.float32)
    out["input.zero_point"] = np.array(z_in, dtype=np.int32)
    dsl.append(f"input: {list(chw(g.shape(in_t)))},")
    prev_out = in_t

    def scalar(name, v, dtype=np.int32):
        out[name] = np.array(v, dtype=dtype)

    def reads(op_input):
        # the DSL's read list: nothing for the line above, else the names
        return "" if op_input == prev_out else f"({tensor_layer[op_input]})"

    for name, op in zip(names, g.sg.operators):
        kind = g.kind(op)
        opts = op.builtinOptions
        x, y = op.inputs[0], op.outputs[0]
        s_x, z_x = g.act_quant(x)
        s_y, z_y = g.act_quant(y)
        act = g.act_names[opts.fusedActivationFunction] if hasattr(opts, "fusedActivationFunction") else "NONE"
        lo, hi = activation_range(act, s_y, z_y)
        if kind != "ADD":
            scalar(f"{name}.input_zero_point", z_x)
        scalar(f"{name}.output_zero_point", z_y)
        scalar(f"{name}.activation_min", lo)
        scalar(f"{name}.activation_max", hi)
        scalar(f"{name}.output_scale", s_y, np.float32)
        dsl_act = {"NONE": "linear", "RELU": "relu", "RELU6": "relu6"}.get(act)
        assert dsl_act is not None, f"{name}: fused {act} is not supported"

        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            scalar(f"{name}.input_scale", s_x, np.float32)
            w = g.data(op.inputs[1], np.int8)
            s_w, z_w, qdim = g.quant(op.inputs[1])
            assert np.all(z_w == 0), f"{name}: weight zero points must be 0"
            _, h, wd = chw(g.shape(x))
            if kind == "CONV_2D":
                o = w.shape[0]
                assert qdim == 0 or len(s_w) == 1
                weight = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
                kh, kw = w.shape[1], w.shape[2]
            else:
                o = w.shape[3]
                assert qdim == 3 or len(s_w) == 1
                weight = w[0].transpose(2, 0, 1)[:, None, :, :]  # [1,KH,KW,O] -> [O,1,KH,KW]
                kh, kw = w.shape[1], w.shape[2]
            assert opts.dilationHFactor == 1 and opts.dilationWFactor == 1, f"{name}: dilation"
            pad = g.pad_names[opts.padding]
            oh, pt = tf_padding(pad, h, kh, opts.strideH)
            ow, pl = tf_padding(pad, wd, kw, opts.strideW)
            assert (o, oh, ow) == chw(g.shape(y)), (name, o, oh, ow, g.shape(y))
            mult, shift = [], []
            for c in range(o):
                sc = s_w[c] if len(s_w) > 1 else s_w[0]
                # PopulateConvolutionQuantizationParams: double(s_in) * double(s_w) / double(s_out)
                m, sh = quantize_multiplier(float(np.float32(s_x)) * float(sc) / float(np.float32(s_y)))
                mult.append(m)
                shift.append(sh)
            out[f"{name}.weight"] = np.ascontiguousarray(weight)
            out[f"{name}.bias"] = g.data(op.inputs[2], np.int32).copy()
            out[f"{name}.multiplier"] = np.array(mult, dtype=np.int32)
            out[f"{name}.shift"] = np.array(shift, dtype=np.int32)
            out[f"{name}.kernel"] = np.array([kh, kw], dtype=np.int32)
            out[f"{name}.stride"] = np.array([opts.strideH, opts.strideW], dtype=np.int32)
            out[f"{name}.pad"] = np.array([pt, pl], dtype=np.int32)
            padding = "same" if pad == "SAME" else "valid"
            if kind == "CONV_2D":
                dsl.append(
                    f"{name}: Conv2d({o}, kernel = ({kh}, {kw}), stride = ({opts.strideH}, {opts.strideW}), "
                    f"padding = {padding}, activation = {dsl_act}){reads(x)},"
                )
            else:
                assert opts.depthMultiplier == o // chw(g.shape(x))[0]
                dm = "" if opts.depthMultiplier == 1 else f", depth_multiplier = {opts.depthMultiplier}"
                dsl.append(
                    f"{name}: DepthwiseConv2d(kernel = ({kh}, {kw}), stride = ({opts.strideH}, {opts.strideW}), "
                    f"padding = {padding}{dm}, activation = {dsl_act}){reads(x)},"
                )
        elif kind == "FULLY_CONNECTED":
            scalar(f"{name}.input_scale", s_x, np.float32)
            w = g.data(op.inputs[1], np.int8)
            s_w, z_w, _ = g.quant(op.inputs[1])
            assert np.all(z_w == 0), f"{name}: weight zero points must be 0"
            o = w.shape[0]
            src = g.producer.get(x)
            if src is not None and g.kind(g.sg.operators[src]) == "RESHAPE":
                sshape = g.shape(g.sg.operators[src].inputs[0])
                if len(sshape) == 4 and sshape[1] * sshape[2] > 1:
                    _, hh, ww, cc = sshape  # columns (h, w, c) -> ours (c, h, w)
                    w = w.reshape(o, hh, ww, cc).transpose(0, 3, 1, 2).reshape(o, -1)
            if len(s_w) > 1:
                # per channel: as convolutions, double products
                ms = [quantize_multiplier(float(np.float32(s_x)) * float(s) / float(np.float32(s_y))) for s in s_w]
            else:
                # per tensor: the product of the scales in double, as for
                # convolutions. (TFLite's GetQuantizedConvolutionMultipler,
                # as of tflite-micro 90b983c, multiplies them in float32
                # first; but the tflite-micro package's interpreter
                # (0.dev20261023) gives what the double product gives and not
                # what the float32 one does: AD's dense_9, random input 76,
                # output 492 tells them apart. Desktop TFLite's single
                # rounding agrees with both on all 101 inputs.)
                real = float(np.float32(s_x)) * float(np.float32(s_w[0])) / float(np.float32(s_y))
                ms = [quantize_multiplier(real)] * o
            out[f"{name}.weight"] = np.ascontiguousarray(w)
            out[f"{name}.bias"] = g.data(op.inputs[2], np.int32).copy()
            out[f"{name}.multiplier"] = np.array([m for m, _ in ms], dtype=np.int32)
            out[f"{name}.shift"] = np.array([s for _, s in ms], dtype=np.int32)
            dsl.append(f"{name}: Dense({o}, activation = {dsl_act}){reads(x)},")
        elif kind == "ADD":
            x2 = op.inputs[1]
            s_x2, z_x2 = g.act_quant(x2)
            assert g.shape(x) == g.shape(x2), f"{name}: broadcasting Add is not supported"
            left_shift = 20
            twice_max = 2.0 * float(max(np.float32(s_x), np.float32(s_x2)))
            m1 = quantize_multiplier_smaller_than_one_exp(float(np.float32(s_x)) / twice_max)
            m2 = quantize_multiplier_smaller_than_one_exp(float(np.float32(s_x2)) / twice_max)
            mo = quantize_multiplier_smaller_than_one_exp(twice_max / ((1 << left_shift) * float(np.float32(s_y))))
            scalar(f"{name}.input1_zero_point", z_x)
            scalar(f"{name}.input2_zero_point", z_x2)
            scalar(f"{name}.left_shift", left_shift)
            for k, (m, sh) in (("input1", m1), ("input2", m2), ("output", mo)):
                scalar(f"{name}.{k}_multiplier", m)
                scalar(f"{name}.{k}_shift", sh)
            dsl.append(f"{name}: Add({tensor_layer[x]}, {tensor_layer[x2]}, activation = {dsl_act}),")
        elif kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            assert (s_x, z_x) == (s_y, z_y), f"{name}: a pool must keep its quantization"
            c, h, wd = chw(g.shape(x))
            kh, kw = opts.filterHeight, opts.filterWidth
            pad = g.pad_names[opts.padding]
            oh, pt = tf_padding(pad, h, kh, opts.strideH)
            ow, pl = tf_padding(pad, wd, kw, opts.strideW)
            assert (c, oh, ow) == chw(g.shape(y)), (name, g.shape(y))
            out[f"{name}.kernel"] = np.array([kh, kw], dtype=np.int32)
            out[f"{name}.stride"] = np.array([opts.strideH, opts.strideW], dtype=np.int32)
            out[f"{name}.pad"] = np.array([pt, pl], dtype=np.int32)
            layer = "AvgPool2d" if kind == "AVERAGE_POOL_2D" else "MaxPool2d"
            assert pad == "VALID" or (pt, pl) == (0, 0), f"{name}: padded pools are not in the DSL"
            dsl.append(f"{name}: {layer}(({kh}, {kw}), stride = ({opts.strideH}, {opts.strideW})){reads(x)},")
        elif kind == "RESHAPE":
            assert (s_x, z_x) == (s_y, z_y), f"{name}: a reshape must keep its quantization"
            assert len(g.shape(y)) == 2, f"{name}: only Flatten-like reshapes are supported"
            dsl.append(f"{name}: Flatten{'' if x == prev_out else '()' + reads(x)},")
        elif kind == "SOFTMAX":
            assert (s_y, z_y) == (1.0 / 256, -128), f"{name}: int8 softmax outputs 1/256, -128"
            beta = float(np.float32(opts.beta))
            real = min(beta * float(np.float32(s_x)) * (1 << (31 - 5)), (1 << 31) - 1.0)
            m, sh = quantize_multiplier_greater_than_one(real)
            radius = math.floor(1.0 * ((1 << 5) - 1) * (1 << (31 - 5)) / (1 << sh))
            scalar(f"{name}.input_multiplier", m)
            scalar(f"{name}.input_left_shift", sh)
            scalar(f"{name}.diff_min", -radius)
            dsl.append(f"{name}: Softmax{'' if x == prev_out else '()' + reads(x)},")
        prev_out = y
    return names, out, dsl


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    names, tensors, dsl = convert(src)
    from safetensors.numpy import save_file

    save_file(tensors, dst, metadata={"format": "staticnet-int8", "layers": ",".join(names)})
    print("\n".join(dsl))


if __name__ == "__main__":
    main()
