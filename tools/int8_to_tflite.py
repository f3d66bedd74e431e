#!/usr/bin/env python3
"""Export a staticnet int8 model back to TensorFlow Lite's format.

    /tmp/venv-tf/bin/python tools/int8_to_tflite.py MODEL_INT8.safetensors TEMPLATE.tflite OUT.tflite [--layers a,b,...]

MODEL_INT8.safetensors is the int8 form as staticnet writes it
(`NameInt8::to_safetensors`, the post-training quantization) or as
tools/tflite_to_safetensors.py reads it from a .tflite: int8 weights in
PyTorch's layout, int32 biases, per-channel multipliers and shifts, every
layer's zero points, clamps and (F32, for reference) scales. TEMPLATE.tflite
is any full-int8 TFLite model of the same architecture (int8 input and
output; e.g. the Keras model converted with random weights and a random
representative dataset): its operators, options and tensor shapes are kept,
and everything a quantization decides is replaced by staticnet's:

- every constant: the filters (our [O, C, KH, KW] / [C*M, 1, KH, KW] to
  TFLite's OHWI / [1, KH, KW, C*M]; a Dense after a Flatten of a [C, H, W]
  map has its columns permuted from (c, h, w) to TFLite's (h, w, c)) and the
  biases;
- every tensor's scale and zero point: activations from the layers'
  `output_scale`/`output_zero_point` (the model input's from `input.scale`,
  `input.zero_point`), filters from their weight scales, biases at
  input scale x weight scale.

The file keeps no weight scales, but it keeps what TFLite computes from
them: the multiplier and shift of QuantizeMultiplier(s_in * s_w / s_out).
A float32 s_w has 24 significant bits and the multiplier 31, so at most one
float32 gives each multiplier (up to the rare ties); it is found by walking
the float32 neighbours of m * 2^(shift - 31) * s_out / s_in. TFLite, at
prepare time, then recomputes exactly the file's multipliers.

The layers are paired with the template's operators in graph order: each
operator takes the next layer (in the order of `--layers`, else the file's
`layers` metadata) that has tensors, except a RESHAPE, which takes the next
layer only if it has none (a Flatten); layers without tensors are skipped
otherwise (Dropout, a folded BatchNorm's or a fused Relu's name). Before
writing, every operator's fused activation is checked to give the layer's
clamp. After writing, the exported file is read back with
tools/tflite_to_safetensors.py and every tensor it gives (weights, biases,
multipliers, shifts, zero points, clamps, Add's and Softmax's parameters,
kernels, strides, paddings) must equal the file's: the tool fails
otherwise, so an exported model is the staticnet model, bit for bit.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tflite_to_safetensors import (  # noqa: E402
    Graph,
    activation_range,
    convert,
    layer_names,
    quantize_multiplier,
)


def read_int8(path):
    from safetensors import safe_open

    tensors = {}
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata() or {}
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    return tensors, meta


def f32(x):
    return np.float32(x)


def weight_scale(m, shift, s_x, s_y, what):
    """The float32 s_w with QuantizeMultiplier(s_x * s_w / s_y) == (m, shift),
    the products in double as TFLite's prepare computes them."""
    m, shift = int(m), int(shift)
    real = m * 2.0 ** (shift - 31)
    guess = np.array([real * float(f32(s_y)) / float(f32(s_x))], dtype=np.float32)
    bits = guess.view(np.int32)[0]
    for k in sorted(range(-256, 257), key=abs):
        cand = np.array([bits + k], dtype=np.int32).view(np.float32)[0]
        if cand > 0 and quantize_multiplier(float(f32(s_x)) * float(cand) / float(f32(s_y))) == (m, shift):
            return cand
    raise SystemExit(f"{what}: no float32 weight scale gives multiplier {m}, shift {shift}")


class Exporter:
    def __init__(self, int8_path, template_path, layers=None):
        self.t, meta = read_int8(int8_path)
        names = layers or [n for n in meta.get("layers", "").split(",") if n]
        if not names:
            raise SystemExit(f"{int8_path}: no `layers` metadata; give the layer order with --layers")
        self.names = names
        self.g = Graph(str(template_path))
        self.schema = self.g.schema

    def has(self, name):
        return any(k.startswith(name + ".") for k in self.t)

    def get(self, name, key):
        k = f"{name}.{key}"
        if k not in self.t:
            raise SystemExit(f"the int8 file has no tensor `{k}`")
        return self.t[k]

    def set_quant(self, tensor, scales, zero_points, dim=0):
        q = self.g.tensor(tensor).quantization
        if q is None:
            q = self.schema.QuantizationParametersT()
            self.g.tensor(tensor).quantization = q
        q.scale = [float(f32(s)) for s in scales]
        q.zeroPoint = [int(z) for z in zero_points]
        q.quantizedDimension = dim
        q.min, q.max = None, None

    def set_data(self, tensor, array):
        t = self.g.tensor(tensor)
        old = self.g.model.buffers[t.buffer].data
        raw = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        if old is None or len(old) != raw.size:
            raise SystemExit(f"template tensor {tensor}: {raw.size} bytes needed, the template has {0 if old is None else len(old)}")
        self.g.model.buffers[t.buffer].data = raw.copy()

    def act(self, tensor):
        q = self.g.tensor(tensor).quantization
        return float(q.scale[0]), int(q.zeroPoint[0])

    def kind_of(self, name):
        """What the layer's tensors say it is: conv (4-D weight), dense (2-D),
        add, softmax, scalar (clamps only: a pool or a Flatten), or none."""
        if f"{name}.weight" in self.t:
            return "conv" if self.t[f"{name}.weight"].ndim == 4 else "dense"
        if f"{name}.input1_zero_point" in self.t:
            return "add"
        if f"{name}.diff_min" in self.t:
            return "softmax"
        return "scalar" if self.has(name) else "none"

    WANTS = {
        "CONV_2D": "conv",
        "DEPTHWISE_CONV_2D": "conv",
        "FULLY_CONNECTED": "dense",
        "ADD": "add",
        "SOFTMAX": "softmax",
        "AVERAGE_POOL_2D": "scalar",
        "MAX_POOL_2D": "scalar",
    }

    def pair(self):
        """[(operator index, layer name or None)] in graph order."""
        out, i = [], 0
        for k, op in enumerate(self.g.sg.operators):
            kind = self.g.kind(op)
            while i < len(self.names) and self.kind_of(self.names[i]) == "none":
                i += 1
            nxt = self.kind_of(self.names[i]) if i < len(self.names) else None
            if kind == "RESHAPE":
                # a Flatten's clamps, if the file has them; else nothing
                if nxt == "scalar" and f"{self.names[i]}.kernel" not in self.t:
                    out.append((k, self.names[i]))
                    i += 1
                else:
                    out.append((k, None))
                continue
            want = self.WANTS.get(kind)
            if want is None:
                raise SystemExit(f"operator {k} ({kind}) is not exported")
            if nxt != want:
                got = "nothing" if nxt is None else f"layer `{self.names[i]}` ({nxt})"
                raise SystemExit(f"operator {k} ({kind}) needs a {want} layer; the int8 file's next is {got}")
            out.append((k, self.names[i]))
            i += 1
        rest = [n for n in self.names[i:] if self.has(n)]
        if rest:
            raise SystemExit(f"the template has no operator for the layers {rest}")
        return out

    def run(self):
        g, sg = self.g, self.g.sg
        (x0,) = sg.inputs
        self.set_quant(x0, [self.t["input.scale"]], [self.t["input.zero_point"]])
        pairs = self.pair()
        for k, name in pairs:
            op = sg.operators[k]
            kind = g.kind(op)
            x, y = op.inputs[0], op.outputs[0]
            s_x, z_x = self.act(x)
            where = f"layer `{name}` ({kind})"
            if kind in ("RESHAPE", "AVERAGE_POOL_2D", "MAX_POOL_2D"):
                self.set_quant(y, [s_x], [z_x])
                if name is not None and f"{name}.output_zero_point" in self.t and int(self.get(name, "output_zero_point")) != z_x:
                    raise SystemExit(f"{where}: output zero point {int(self.get(name, 'output_zero_point'))}, TFLite keeps its input's {z_x}")
                continue
            s_y, z_y = float(f32(self.get(name, "output_scale"))), int(self.get(name, "output_zero_point"))
            self.set_quant(y, [s_y], [z_y])
            if kind != "ADD" and int(self.get(name, "input_zero_point")) != z_x:
                raise SystemExit(f"{where}: input zero point {int(self.get(name, 'input_zero_point'))}, its input's is {z_x}")
            opts = op.builtinOptions
            if hasattr(opts, "fusedActivationFunction"):
                a = g.act_names[opts.fusedActivationFunction]
                clamp = (int(self.get(name, "activation_min")), int(self.get(name, "activation_max")))
                if activation_range(a, s_y, z_y) != clamp:
                    raise SystemExit(f"{where}: the template's fused {a} gives {activation_range(a, s_y, z_y)}, the layer clamps to {clamp}")
            if kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                w = self.get(name, "weight")
                mult, shift = self.get(name, "multiplier"), self.get(name, "shift")
                o = w.shape[0]
                scales = [weight_scale(mult[c], shift[c], s_x, s_y, f"{where} channel {c}") for c in range(o)]
                filt = g.tensor(op.inputs[1])
                per_tensor = len(filt.quantization.scale) == 1 if filt.quantization else True
                if kind == "CONV_2D":
                    data, dim = w.transpose(0, 2, 3, 1), 0
                elif kind == "DEPTHWISE_CONV_2D":
                    data, dim = w[:, 0].transpose(1, 2, 0)[None], 3
                else:
                    data, dim = w, 0
                    src = g.producer.get(x)
                    if src is not None and g.kind(sg.operators[src]) == "RESHAPE":
                        shp = g.shape(sg.operators[src].inputs[0])
                        if len(shp) == 4 and shp[1] * shp[2] > 1:
                            _, hh, ww, cc = shp  # ours (c, h, w) -> TFLite's (h, w, c)
                            data = w.reshape(o, cc, hh, ww).transpose(0, 2, 3, 1).reshape(o, -1)
                if per_tensor:
                    if len(set(scales)) != 1:
                        raise SystemExit(f"{where}: the template quantizes it per tensor, the layer per channel")
                    scales = scales[:1]
                if list(data.shape) != g.shape(op.inputs[1]):
                    raise SystemExit(f"{where}: weight {list(data.shape)} in TFLite's layout, the template's is {g.shape(op.inputs[1])}")
                self.set_data(op.inputs[1], data.astype(np.int8))
                self.set_quant(op.inputs[1], scales, [0] * len(scales), dim)
                if len(op.inputs) < 3 or op.inputs[2] < 0:
                    raise SystemExit(f"{where}: the template has no bias tensor")
                self.set_data(op.inputs[2], self.get(name, "bias").astype(np.int32))
                bs = [float(f32(s_x)) * float(s) for s in (scales if len(scales) > 1 else scales * o)]
                self.set_quant(op.inputs[2], bs if len(scales) > 1 else bs[:1], [0] * (o if len(scales) > 1 else 1))
            elif kind == "ADD":
                for j, key in ((0, "input1_zero_point"), (1, "input2_zero_point")):
                    zj = self.act(op.inputs[j])[1]
                    if int(self.get(name, key)) != zj:
                        raise SystemExit(f"{where}: {key} {int(self.get(name, key))}, the template's input {j} has {zj} (are the inputs in the same order?)")
            elif kind == "SOFTMAX":
                if (s_y, z_y) != (1.0 / 256, -128):
                    raise SystemExit(f"{where}: int8 softmax outputs scale 1/256, zero point -128")
            else:
                raise SystemExit(f"{where}: operator {kind} is not exported")
        return pairs

    def write(self, path):
        import flatbuffers

        b = flatbuffers.Builder(1 << 20)
        b.Finish(self.g.model.Pack(b), file_identifier=b"TFL3")
        Path(path).write_bytes(bytes(b.Output()))


def verify(int8_path, out_path, pairs, g):
    """The exported file, read back by the importer, is the int8 file."""
    ours, _ = read_int8(int8_path)
    names, back, _ = convert(str(out_path))
    tnames = layer_names(g)
    rename = {tnames[k]: n for k, n in pairs if n is not None}
    bad, compared = [], 0
    for key, v in back.items():
        layer, _, field = key.partition(".")
        mine = "input." + field if layer == "input" else f"{rename.get(layer, '?')}.{field}"
        if mine not in ours:
            if field in ("input_scale", "output_scale", "kernel", "stride", "pad", "input_zero_point") or layer not in rename:
                continue
            bad.append(f"{mine}: missing from the int8 file")
            continue
        a = np.asarray(ours[mine])
        compared += 1
        if a.shape != v.shape or not np.array_equal(a.astype(v.dtype), v):
            bad.append(f"{mine}: differs from the exported file's")
    if bad:
        raise SystemExit("the exported model is not the int8 file:\n  " + "\n  ".join(bad))
    return compared


def main():
    args = sys.argv[1:]
    layers = None
    if "--layers" in args:
        i = args.index("--layers")
        layers = args[i + 1].split(",")
        del args[i : i + 2]
    if len(args) != 3:
        raise SystemExit(__doc__)
    src, template, dst = args
    e = Exporter(src, template, layers)
    pairs = e.run()
    e.write(dst)
    n = verify(src, dst, pairs, e.g)
    print(f"{dst}: {len(pairs)} operators from {src}; read back, {n} tensors equal the int8 file's")


if __name__ == "__main__":
    main()
