#!/usr/bin/env python3
"""Weight files for tests/weights_compiled.rs: the values `#[weights]`
compiles in must equal the file's bit for bit (tests/fixtures/wscale/).

The files are `state_dict`s of the models of tests/weights_compiled.rs,
written by hand in the safetensors format (so that one file can mix F32,
F64, F16 and BF16 tensors; numpy has no bfloat16), seeded:

- `several_f32.safetensors`: `Several` (Conv2d, BatchNorm with its running
  statistics and I64 `num_batches_tracked`, Dense, a bias-free Dense) in
  F32, with edge values in `fc.weight`: ±0, the smallest subnormal, the
  largest finite value, ±infinity, a NaN with a payload;
- `several_f64.safetensors`: the same in F64, with values that f32 cannot
  hold (ties and near-ties of f32 rounding, numbers beyond f32's range,
  f64 subnormals);
- `several_half.safetensors`: the same with the tensors in F16, BF16, F32
  and F64 by turns, and for each tensor `expect.<name>`, its values widened
  exactly to F64 by numpy (BF16 by its bits: the upper half of a binary32),
  with edge values in the F16 `conv.weight`;
- `big_bf16.safetensors`: `Big`, a Dense with a BF16 [300, 900] weight
  (more values than the macro decodes in one constant evaluation, 2^18, so
  it is decoded in parts) and an F32 bias.

Run: /tmp/venv-train/bin/python tools/make_fixtures_wscale.py
"""

import json
import pathlib
import struct

import numpy as np

OUT_DIR = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "wscale"

# `Several` of tests/weights_compiled.rs: input [2, 6, 6],
# conv: Conv2d(3, kernel = (3, 3)), bn: BatchNorm, flat: Flatten,
# fc: Dense(5), head: Dense(2, bias = false).
SHAPES = {
    "conv.weight": (3, 2, 3, 3),
    "conv.bias": (3,),
    "bn.weight": (3,),
    "bn.bias": (3,),
    "bn.running_mean": (3,),
    "bn.running_var": (3,),
    "fc.weight": (5, 48),
    "fc.bias": (5,),
    "head.weight": (2, 5),
}


def write(path, tensors):
    """tensors: name -> (dtype string, shape, raw little-endian bytes)."""
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def values(rng):
    t = {n: rng.standard_normal(s) * 0.5 for n, s in SHAPES.items()}
    t["bn.running_var"] = rng.uniform(0.5, 1.5, SHAPES["bn.running_var"])
    return t


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    count = ("I64", (), struct.pack("<q", 7))

    # F32 with edge values.
    t32 = {n: v.astype("<f4") for n, v in values(rng).items()}
    w = t32["fc.weight"].reshape(-1)
    w[:8] = np.array([0.0, -0.0, 1e-45, -1e-45, 3.4028235e38, np.inf, -np.inf, 0.0], dtype="<f4")
    w.view("<u4")[7] = 0x7FC0_1234  # a quiet NaN with a payload
    f = {n: ("F32", v.shape, v.tobytes()) for n, v in t32.items()}
    f["bn.num_batches_tracked"] = count
    write(OUT_DIR / "several_f32.safetensors", f)

    # F64 with values f32 cannot hold.
    t64 = {n: v.astype("<f8") for n, v in values(rng).items()}
    w = t64["fc.weight"].reshape(-1)
    w[:11] = [
        1.0 + 2.0**-24,  # a tie: rounds to even, 1.0
        1.0 + 3 * 2.0**-24,  # a tie: rounds to even, 1 + 2^-22
        1.0 + 2.0**-24 + 2.0**-50,  # just above a tie: rounds up
        0.1,
        -1e300,  # beyond f32: -inf
        1e-320,  # an f64 subnormal: 0 in f32
        -5e-324,
        np.nextafter(3.4028235677973366e38, 0.0),  # just below overflow: f32::MAX
        -0.0,
        2.0**-149 * 1.5,  # between f32 subnormals: a tie, rounds to even
        3.4028235677973366e38,  # halfway from f32::MAX to 2^128: a tie, infinity
    ]
    f = {n: ("F64", v.shape, v.tobytes()) for n, v in t64.items()}
    f["bn.num_batches_tracked"] = count
    write(OUT_DIR / "several_f64.safetensors", f)

    # F16, BF16, F32, F64 by turns, each with its exact F64 widening.
    f = {}
    for k, (n, v) in enumerate(values(rng).items()):
        kind = ["F16", "BF16", "F32", "F64"][k % 4]
        if kind == "F16":
            h = v.astype("<f2")
            if n == "conv.weight":
                h.reshape(-1)[:4] = np.array([6e-8, -65504.0, np.inf, -0.0], dtype="<f2")
            raw, wide = h.tobytes(), h.astype("<f8")
        elif kind == "BF16":
            bits = (v.astype("<f4").view("<u4") >> 16).astype("<u2")
            raw = bits.tobytes()
            wide = (bits.astype("<u4") << 16).view("<f4").astype("<f8")
        elif kind == "F32":
            raw, wide = v.astype("<f4").tobytes(), v.astype("<f4").astype("<f8")
        else:
            raw, wide = v.astype("<f8").tobytes(), v.astype("<f8")
        f[n] = (kind, v.shape, raw)
        f["expect." + n] = ("F64", v.shape, wide.astype("<f8").tobytes())
    f["bn.num_batches_tracked"] = count
    write(OUT_DIR / "several_half.safetensors", f)

    # Big: a [300, 900] weight, decoded in parts; BF16 (half the bytes of
    # F32, and its values are the upper halves of binary32s).
    big = (rng.standard_normal((300, 900)) * 0.03).astype("<f4").view("<u4") >> 16
    f = {
        "big.weight": ("BF16", (300, 900), big.astype("<u2").tobytes()),
        "big.bias": ("F32", (300,), rng.standard_normal(300).astype("<f4").tobytes()),
    }
    write(OUT_DIR / "big_bf16.safetensors", f)


if __name__ == "__main__":
    main()
