#!/usr/bin/env python3
"""Convert a Keras model to staticnet's safetensors weights (PyTorch
state_dict names and layouts), and make the Keras fixtures.

    python tools/keras_to_safetensors.py MODEL.keras OUT.safetensors
        converts a saved Keras model and prints the `model!` DSL it matches
    python tools/keras_to_safetensors.py --fixtures
        writes tests/fixtures/keras/<case>.safetensors (converted weights)
        and <case>.io.safetensors (inputs in staticnet's layout, Keras'
        outputs, the DSL) for tests/keras.rs

Needs tensorflow (keras 3), numpy and safetensors:

    python3 -m venv /tmp/venv-tf
    /tmp/venv-tf/bin/pip install tensorflow-cpu safetensors numpy

Supported: Sequential and functional models (graphs: a layer that does not
read the line above gets a read list, `Add` names its inputs) of
InputLayer, Conv2D and DepthwiseConv2D (channels_last), MaxPooling2D,
AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten,
Dense, BatchNormalization (last axis; Keras' momentum m is PyTorch's
1 - m, its epsilon is kept), Activation and ReLU layers (ReLU(max_value=6)
is Relu6), Dropout, Add, Reshape, SimpleRNN, LSTM, GRU (reset_after=True); without
a bias a layer gets `bias = false` and no `.bias` tensor. Layer names
become tensor prefixes (`input` becomes `input_`).

The conversions (Keras stores kernels [in, out], PyTorch [out, in]):

- Dense: weight = kernel.T. After a Flatten of an image, Keras' flat index
  is HWC (h*W*C + w*C + c) and ours CHW (c*H*W + h*W + w): the kernel's rows
  are permuted so weight[o, chw(c,h,w)] = kernel[hwc(h,w,c), o]. After a
  Flatten of a sequence both orders are [steps, features]: no permutation.
- Conv2D: kernel [kh, kw, in, out] -> weight [out, in, kh, kw]
  (transpose 3, 2, 0, 1). Inputs are transposed HWC -> CHW.
- DepthwiseConv2D: kernel [kh, kw, c, m] -> weight [c*m, 1, kh, kw]
  (PyTorch's Conv2d(c, c*m, groups=c); output channel c*m + j in both).
- Reshape: Keras reshapes in its channels-last flat order. An image input
  becomes `Permute([1, 2, 0])` (to [H, W, C], whose flat order is Keras')
  before our `Reshape`, and a 3-D target [h, w, c] gets `Permute([2, 0, 1])`
  after it, back to [c, h, w]; sequences and vectors need neither.
- BatchNormalization: gamma, beta, moving_mean, moving_variance ->
  weight, bias, running_mean, running_var.
- SimpleRNN: weight_ih = kernel.T, weight_hh = recurrent_kernel.T,
  bias_ih = bias, bias_hh = 0 (PyTorch adds the two).
- LSTM: Keras' gate order is i, f, c, o and PyTorch's i, f, g, o: the same
  blocks (c is PyTorch's g), so only the transposes; bias_ih = bias,
  bias_hh = 0. Requires activation tanh and recurrent_activation sigmoid.
- GRU (reset_after=True, the Keras default): Keras' gate order is z, r, h,
  PyTorch's r, z, n, so the three H-row blocks are reordered [1, 0, 2];
  bias has shape [2, 3H]: row 0 is the input bias (bias_ih), row 1 the
  recurrent bias (bias_hh), each reordered the same way. With
  reset_after=True Keras computes h~ = tanh(W_h x + b_ih + r * (U_h h + b_hh))
  and h = z * h_prev + (1 - z) * h~, which is PyTorch's GRU exactly.
"""

import json
import os
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "keras"


def _act(layer, name="activation"):
    a = getattr(layer, name)
    a = a if isinstance(a, str) else a.__name__
    return {"linear": "linear", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh",
            "softmax": "softmax"}.get(a) or sys.exit(f"{layer.name}: unsupported {name} {a}")


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _ident(name):
    """A Keras layer name as a DSL layer name (`input` and `__x` are ours)."""
    name = name.replace("/", "_").replace(".", "_").replace("-", "_")
    return f"{name}_" if name == "input" or name.startswith("__") else name


def _producers(layer):
    """The layers whose outputs `layer` reads, in argument order."""
    tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    return [t._keras_history[0] for t in tensors]


def convert(model):
    """Returns (tensors {name: float32 array}, dsl lines) for a Sequential
    or functional Keras model (a graph: a layer that does not read the line
    above gets a read list, merges name their inputs)."""
    shape = tuple(model.inputs[0].shape[1:])  # Keras layout, no batch
    if len(shape) == 3:
        h, w, c = shape
        dsl = [f"input: [{c}, {h}, {w}],"]
    else:
        dsl = [f"input: [{', '.join(str(d) for d in shape)}],"]
    tensors = {}
    names = {}      # Keras layer -> our name ("input" for the input layer)
    flat_from = {}  # our name -> the (H, W, C) its image Flatten came from
    prev = "input"
    # A Sequential model's InputLayer is not among its `layers`.
    for t in model.inputs:
        names[id(t._keras_history[0])] = "input"
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            names[id(layer)] = "input"
            continue
        name = _ident(layer.name)
        names[id(layer)] = name
        srcs = [names[id(p)] for p in _producers(layer)]
        reads = "" if srcs == [prev] else f"({', '.join(srcs)})"
        wts = [np.asarray(x, dtype=np.float64) for x in layer.get_weights()]
        line = None
        if kind == "Conv2D":
            assert layer.data_format == "channels_last", name
            assert _pair(layer.dilation_rate) == (1, 1), name
            assert getattr(layer, "groups", 1) == 1, name
            kernel = wts[0]
            tensors[f"{name}.weight"] = kernel.transpose(3, 2, 0, 1)
            bias = ""
            if layer.use_bias:
                tensors[f"{name}.bias"] = wts[1]
            else:
                bias = ", bias = false"
            kh, kw = _pair(layer.kernel_size)
            sh, sw = _pair(layer.strides)
            line = (f"Conv2d({layer.filters}, kernel = ({kh}, {kw}), "
                    f"stride = ({sh}, {sw}), padding = {layer.padding}{bias}, "
                    f"activation = {_act(layer)})")
        elif kind == "DepthwiseConv2D":
            assert layer.data_format == "channels_last", name
            assert _pair(layer.dilation_rate) == (1, 1), name
            # Keras [kh, kw, c, m] -> PyTorch Conv2d(c, c*m, groups=c)
            # weight [c*m, 1, kh, kw]: output channel c*m + j in both.
            kernel = wts[0]
            kh, kw, c, m = kernel.shape
            tensors[f"{name}.weight"] = kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
            bias = ""
            if layer.use_bias:
                tensors[f"{name}.bias"] = wts[1]
            else:
                bias = ", bias = false"
            sh, sw = _pair(layer.strides)
            mult = f", depth_multiplier = {m}" if m != 1 else ""
            line = (f"DepthwiseConv2d(kernel = ({kh}, {kw}), stride = ({sh}, {sw}), "
                    f"padding = {layer.padding}{mult}{bias}, activation = {_act(layer)})")
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            assert layer.padding == "valid", f"{name}: only valid pooling"
            ph, pw = _pair(layer.pool_size)
            sh, sw = _pair(layer.strides)
            ours = "MaxPool2d" if kind == "MaxPooling2D" else "AvgPool2d"
            line = f"{ours}(({ph}, {pw}), stride = ({sh}, {sw}))"
        elif kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            assert not getattr(layer, "keepdims", False), f"{name}: keepdims"
            line = "GlobalAvgPool" if kind == "GlobalAveragePooling2D" else "GlobalMaxPool"
            line += "()" if reads else ""
        elif kind == "Flatten":
            inp = tuple(layer.input.shape[1:])
            if len(inp) == 3:
                flat_from[name] = inp
            line = "Flatten()" if reads else "Flatten"
        elif kind == "Dense":
            kernel = wts[0]
            if srcs[0] in flat_from:
                hh, ww, cc = flat_from[srcs[0]]
                # row r of ours (CHW) is row perm[r] of Keras' (HWC)
                c, y, x = np.meshgrid(np.arange(cc), np.arange(hh), np.arange(ww), indexing="ij")
                perm = (y * ww * cc + x * cc + c).reshape(-1)
                kernel = kernel[perm]
            tensors[f"{name}.weight"] = kernel.T
            bias = ""
            if layer.use_bias:
                tensors[f"{name}.bias"] = wts[1]
            else:
                bias = ", bias = false"
            line = f"Dense({layer.units}{bias}, activation = {_act(layer)})"
        elif kind == "BatchNormalization":
            # Keras: y = gamma (x - moving_mean) / sqrt(moving_variance + epsilon) + beta
            # over the last axis (channels of an HWC image, features).
            axis = layer.axis[0] if isinstance(layer.axis, (list, tuple)) else layer.axis
            assert axis in (-1, len(layer.input.shape) - 1), f"{name}: only the last axis"
            k = 0
            gamma = wts[k] if layer.scale else None
            k += int(layer.scale)
            beta = wts[k] if layer.center else None
            k += int(layer.center)
            mean, var = wts[k], wts[k + 1]
            n = mean.shape[0]
            tensors[f"{name}.weight"] = gamma if gamma is not None else np.ones(n)
            tensors[f"{name}.bias"] = beta if beta is not None else np.zeros(n)
            tensors[f"{name}.running_mean"] = mean
            tensors[f"{name}.running_var"] = var
            # Keras' momentum weighs the old statistics, PyTorch's the new.
            line = (f"BatchNorm(eps = {float(layer.epsilon)!r}, "
                    f"momentum = {round(1.0 - float(layer.momentum), 10)!r})")
        elif kind in ("Activation", "ReLU"):
            if kind == "ReLU":
                assert layer.negative_slope == 0 and layer.threshold == 0, name
                mx = layer.max_value
                word = "relu" if mx is None else ("relu6" if float(mx) == 6.0 else None)
                word or sys.exit(f"{name}: ReLU(max_value={mx}) is not supported")
            else:
                word = _act(layer)
            line = {"relu": "Relu", "relu6": "Relu6", "sigmoid": "Sigmoid", "tanh": "Tanh",
                    "softmax": "Softmax"}[word] + ("()" if reads else "")
        elif kind == "Reshape":
            # Keras reshapes its channels-last flat order (an image's HWC);
            # ours is an image's CHW. An image is first permuted to
            # [H, W, C] (whose flat order is Keras'), and a 3-D target
            # [h, w, c] is permuted back to [c, h, w] after the reshape.
            # Sequences [steps, features] and vectors share Keras' order.
            inp = tuple(layer.input.shape[1:])
            tgt = tuple(layer.output.shape[1:])
            dims = ", ".join(str(d) for d in tgt)
            steps = []
            if len(inp) == 3:
                steps.append(("hwc", "Permute([1, 2, 0])"))
            steps.append(("flat" if len(tgt) == 3 else None, f"Reshape([{dims}])"))
            if len(tgt) == 3:
                steps.append((None, "Permute([2, 0, 1])"))
            for suffix, part in steps[:-1]:
                dsl.append(f"{name}_{suffix}: {part}{reads},")
                reads = ""
            line = steps[-1][1]
        elif kind == "Dropout":
            line = f"Dropout({layer.rate!r})"
        elif kind == "Add":
            line, reads = f"Add({', '.join(srcs)})", ""
        elif kind in ("SimpleRNN", "LSTM", "GRU"):
            assert not layer.go_backwards and not layer.stateful, name
            units = layer.units
            kernel, rec = wts[0], wts[1]
            gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
            if layer.use_bias:
                bias = wts[2]
            else:
                bias = np.zeros((2, gates * units) if kind == "GRU" else gates * units)
            w_ih, w_hh = kernel.T, rec.T
            if kind == "GRU":
                assert layer.reset_after, f"{name}: only reset_after=True matches PyTorch"
                b_ih, b_hh = bias[0], bias[1]
                # Keras z, r, h -> PyTorch r, z, n (blocks of `units` rows).
                order = np.concatenate([np.arange(units) + g * units for g in (1, 0, 2)])
                w_ih, w_hh, b_ih, b_hh = w_ih[order], w_hh[order], b_ih[order], b_hh[order]
            else:
                # LSTM: Keras i, f, c, o is PyTorch i, f, g, o block for block.
                b_ih, b_hh = bias, np.zeros_like(bias)
            if kind in ("LSTM", "GRU"):
                assert _act(layer) == "tanh", f"{name}: activation must be tanh"
                assert _act(layer, "recurrent_activation") == "sigmoid", \
                    f"{name}: recurrent_activation must be sigmoid"
            tensors[f"{name}.weight_ih_l0"] = w_ih
            tensors[f"{name}.weight_hh_l0"] = w_hh
            tensors[f"{name}.bias_ih_l0"] = b_ih
            tensors[f"{name}.bias_hh_l0"] = b_hh
            ours = {"SimpleRNN": "SimpleRnn", "LSTM": "Lstm", "GRU": "Gru"}[kind]
            opts = ""
            if kind == "SimpleRNN" and _act(layer) != "tanh":
                opts += f", activation = {_act(layer)}"
            if layer.return_sequences:
                opts += ", return_sequences = true"
            line = f"{ours}({units}{opts})"
        else:
            sys.exit(f"{name}: unsupported Keras layer {kind}")
        dsl.append(f"{name}: {line}{reads},")
        prev = name
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    return tensors, dsl


def load(path):
    """keras.models.load_model, accepting files saved by Keras 2 (whose
    DepthwiseConv2D config carries a `groups` that Keras 3 refuses)."""
    import keras

    class DepthwiseConv2D(keras.layers.DepthwiseConv2D):
        def __init__(self, groups=1, **kwargs):
            assert groups == 1, "DepthwiseConv2D with groups"
            super().__init__(**kwargs)

    return keras.models.load_model(path, compile=False,
                                   custom_objects={"DepthwiseConv2D": DepthwiseConv2D})


def write(path, tensors, metadata, dtype):
    """Deterministic safetensors writer (sorted keys, as make_fixtures.py)."""
    from safetensors.numpy import load_file

    header = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    blobs, offset = [], 0
    code = {"F32": "<f4", "F64": "<f8"}[dtype]
    for name in sorted(tensors):
        data = np.asarray(tensors[name]).astype(code).tobytes()
        header[name] = {"dtype": dtype, "shape": list(np.shape(tensors[name])),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.write(b"".join(blobs))
    back = load_file(str(path))
    assert back.keys() == tensors.keys()


# ---------------------------------------------------------------------------
# Fixtures: two seeded Keras models covering every supported layer, every
# weight (biases included) drawn from uniform(-0.5, 0.5) so a misplaced
# gate, bias or flatten order shows.
# ---------------------------------------------------------------------------
def fixture_models(keras):
    L = keras.layers
    cnn = keras.Sequential([
        keras.Input((9, 8, 2)),
        L.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool"),
        L.Flatten(name="flat"),
        L.Dense(6, activation="tanh", name="fc1"),
        L.Dense(3, activation="softmax", name="out"),
    ], name="KerasCnn")
    rnn = keras.Sequential([
        keras.Input((7, 3)),
        L.SimpleRNN(5, return_sequences=True, name="rnn"),
        L.LSTM(4, return_sequences=True, name="lstm"),
        L.GRU(3, return_sequences=True, reset_after=True, name="gru"),
        L.Flatten(name="flat"),
        L.Dense(2, name="out"),
    ], name="KerasRnn")
    # Reshape both ways: an image to a sequence, a sequence to an image.
    reshape = keras.Sequential([
        keras.Input((6, 4, 2)),
        L.Conv2D(3, (3, 3), padding="same", activation="relu", name="conv"),
        L.Reshape((8, 9), name="to_seq"),
        L.GRU(4, return_sequences=True, reset_after=True, name="gru"),
        L.Reshape((4, 2, 4), name="to_img"),
        L.Conv2D(2, (1, 1), activation="tanh", name="mix"),
        L.Flatten(name="flat"),
        L.Dense(3, name="out"),
    ], name="KerasReshape")
    return [("keras_cnn", cnn), ("keras_rnn", rnn), ("keras_reshape", reshape)]


def make_fixtures():
    # oneDNN reorders float sums; off, so a rerun gives the same outputs.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras
    import tensorflow as tf

    OUT.mkdir(parents=True, exist_ok=True)
    for case, _ in fixture_models(keras):
        seed = zlib.crc32(case.encode())
        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        model = dict(fixture_models(keras))[case]
        for layer in model.layers:
            layer.set_weights([rng.uniform(-0.5, 0.5, size=w.shape).astype(np.float32)
                               for w in layer.get_weights()])
        n = 4
        x = rng.uniform(-1, 1, size=(n,) + tuple(model.inputs[0].shape[1:])).astype(np.float32)
        y = np.asarray(model(x, training=False), dtype=np.float64)
        tensors, dsl = convert(model)
        ours = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x  # HWC -> CHW
        write(OUT / f"{case}.safetensors", tensors, None, "F32")
        meta = {
            "dsl": "\n".join(dsl),
            "type": model.name,
            "generator": f"tools/keras_to_safetensors.py (tensorflow {tf.__version__}, "
                         f"keras {keras.__version__})",
        }
        write(OUT / f"{case}.io.safetensors",
              {"input": ours.astype(np.float64), "output": y}, meta, "F64")
        print(f"{case}: {len(tensors)} tensors, output {y.shape}")
        print("    " + "\n    ".join(dsl))


def main(argv):
    if argv == ["--fixtures"]:
        make_fixtures()
        return
    if len(argv) != 2:
        sys.exit(__doc__)
    model = load(argv[0])
    tensors, dsl = convert(model)
    write(Path(argv[1]), tensors, {"format": "pt"}, "F32")
    print("model! {\n    pub struct " + model.name + " {\n        "
          + "\n        ".join(dsl) + "\n    }\n}")


if __name__ == "__main__":
    main(sys.argv[1:])
