//! int8 inference with TensorFlow Lite's quantization semantics, so that a
//! model converted by TFLite runs here bit for bit as TFLite Micro (and its
//! reference kernels) run it.
//!
//! A real value is `(q − zero_point) · scale`. Weights are int8 with zero
//! point 0, one scale per output channel for convolutions (per tensor or
//! per channel for `Dense`); activations are int8 with one scale and zero
//! point per tensor; biases are int32 at scale `s_in · s_w[c]`. Every
//! layer's int32 sums are brought back to int8 by a 31-bit fixed-point
//! multiplier and a power-of-two shift per output channel
//! ([`multiply_by_quantized_multiplier`]), then offset by the output zero
//! point and clamped to the layer's activation range (a fused ReLU or ReLU6
//! is just a narrower range).
//!
//! The forward path is integer-only: no `f32`/`f64` anywhere in it, so it
//! runs on a Cortex-M0 without soft-float calls. The multipliers and shifts
//! are computed once, on the host, from the scales in `f64` exactly as
//! TFLite's `QuantizeMultiplier` does ([`quantize_multiplier`], and
//! `tools/tflite_to_safetensors.py`), and stored with the weights.
//!
//! Layouts are ours (PyTorch's): an image is `[[[i8; W]; H]; C]`, a
//! convolution's weights one row of `C·KH·KW` values per output channel in
//! `(c, kh, kw)` order. TFLite's NHWC tensors and OHWI / `[1, KH, KW, C·M]`
//! filters are permuted by the converter, never here.
//!
//! One file per layer kind, each with its unit tests:
//! [`fixed`] (the gemmlowp / TFLite fixed-point primitives), [`multiplier`]
//! (the host-side `QuantizeMultiplier`), [`calibrate`] (the host-side
//! post-training quantization arithmetic: scales, zero points, weights), and the kernels `conv` (Conv2d,
//! DepthwiseConv2d), `dense`, `add`, `pool` (average, max and global
//! average pooling), `softmax` and `elementwise` (ReLU/ReLU6 as clamps,
//! Flatten/Reshape).

pub mod calibrate;
pub mod fixed;
pub mod multiplier;
pub mod ptq;

mod add;
mod conv;
mod dense;
mod elementwise;
mod pool;
mod softmax;
mod thumb;

pub use add::*;
pub use conv::*;
pub use dense::*;
pub use elementwise::*;
pub use fixed::{
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_single_rounding,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};
pub use multiplier::quantize_multiplier;
pub use pool::*;
pub use ptq::{Calibration, Int8Model, PtqConfig, PtqError};
pub use softmax::*;

/// What every layer with int32 sums does to them to produce its int8
/// output, per output channel `c` (TFLite's "output stage"):
/// `clamp(mbqm(acc, multiplier[c], shift[c]) + output_zero_point, min, max)`.
///
/// `shift` is TFLite's: positive shifts left, negative right. `min` and
/// `max` are the activation range in the quantized domain: `[−128, 127]`
/// for a linear layer, `[zero_point, 127]` for a fused ReLU,
/// `[zero_point, zero_point + round(6 / scale)]` (clamped) for ReLU6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputStage<const O: usize> {
    /// The fixed-point multiplier of each channel, in `[2³⁰, 2³¹)` (or 0).
    pub multiplier: [i32; O],
    /// The power-of-two exponent of each channel (positive: left shift).
    pub shift: [i32; O],
    /// The zero point of the output tensor.
    pub output_zero_point: i32,
    /// The smallest output value (the activation's lower bound).
    pub min: i8,
    /// The largest output value (the activation's upper bound).
    pub max: i8,
}

impl<const O: usize> OutputStage<O> {
    /// The int8 value of channel `c`'s int32 sum `acc` (bias included).
    #[inline(always)]
    pub fn apply(&self, acc: i32, c: usize) -> i8 {
        let m = self.multiplier.get(c).copied().unwrap_or(0);
        let s = self.shift.get(c).copied().unwrap_or(0);
        let v = multiply_by_quantized_multiplier(acc, m, s).wrapping_add(self.output_zero_point);
        clamp_i8(v, self.min, self.max)
    }
}

/// `v` clamped to `[min, max]`, as an `i8` (TFLite's `max` then `min`:
/// if `min > max` the result is `max`).
#[inline(always)]
pub fn clamp_i8(v: i32, min: i8, max: i8) -> i8 {
    let v = if v < min as i32 { min as i32 } else { v };
    let v = if v > max as i32 { max as i32 } else { v };
    v as i8
}

// --- What the int8 form of a `model!` (`#[int8 = "file"]`) calls besides
// the kernels above: the choice of `Dense` requantization, the moves of
// `Flatten`/`Reshape`, the compile-time decoding of the file, and the
// float conversions at the model's edges.

/// Which TensorFlow Lite interpreter an int8 forward reproduces. They
/// differ in one kernel: desktop TFLite (also with
/// `OpResolverType.BUILTIN_REF`) requantizes `FULLY_CONNECTED` with one
/// rounding, TFLite Micro (and CMSIS-NN) with the two of every other
/// layer. Everything else is the same for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Interpreter {
    /// TFLite Micro: what firmware runs, and what a generated `forward`
    /// gives.
    #[default]
    Micro,
    /// Desktop TensorFlow Lite (`tf.lite.Interpreter`).
    Lite,
}

/// int8 `Dense` as `interpreter` runs it: [`dense_int8_into`] for
/// [`Interpreter::Micro`], [`dense_int8_single_rounding_into`] for
/// [`Interpreter::Lite`].
#[inline(always)]
pub fn dense_int8_as_into<const I: usize, const O: usize>(
    p: &QDenseParams<O, I>,
    x: &[i8; I],
    y: &mut [i8; O],
    interpreter: Interpreter,
) {
    match interpreter {
        Interpreter::Micro => dense_int8_into(p, x, y),
        Interpreter::Lite => dense_int8_single_rounding_into(p, x, y),
    }
}

/// `Flatten` or `Reshape` of an int8 tensor, both seen flat: the values
/// move in order (in our `[C, H, W]` layout the flat order is PyTorch's).
/// The shorter length wins; the generated code passes equal ones.
#[inline]
pub fn reshape_int8_into(x: &[i8], y: &mut [i8]) {
    for (d, &s) in y.iter_mut().zip(x) {
        *d = s;
    }
}

/// [`global_avg_pool_int8`] written into `y`.
#[inline]
pub fn global_avg_pool_int8_into<const C: usize, const H: usize, const W: usize>(
    x: &[[[i8; W]; H]; C],
    min: i8,
    max: i8,
    y: &mut [i8; C],
) {
    *y = global_avg_pool_int8(x, min, max);
}

/// The little-endian `i32` at `file[i..i + 4]`.
const fn le_i32(file: &[u8], i: usize) -> i32 {
    i32::from_le_bytes([file[i], file[i + 1], file[i + 2], file[i + 3]])
}

/// Compile-time decoding of an int8 file's tensors, which the generated
/// code takes with `include_bytes!` (as `#[weights]` does for floats; see
/// [`crate::embedded`]): `O` rows of `K` int8 values beginning at byte
/// `start` (a weight tensor `[O, ..]`, each row one output channel's).
/// Panics, a compile error in a `const`, if the bytes are not there.
pub const fn i8_rows<const O: usize, const K: usize>(file: &[u8], start: usize) -> [[i8; K]; O] {
    let mut out = [[0i8; K]; O];
    let mut o = 0;
    while o < O {
        let mut k = 0;
        while k < K {
            out[o][k] = file[start + o * K + k] as i8;
            k += 1;
        }
        o += 1;
    }
    out
}

/// `N` little-endian int32 values beginning at byte `start` (a bias, the
/// multipliers or the shifts), as [`i8_rows`].
pub const fn i32_values<const N: usize>(file: &[u8], start: usize) -> [i32; N] {
    let mut out = [0i32; N];
    let mut i = 0;
    while i < N {
        out[i] = le_i32(file, start + 4 * i);
        i += 1;
    }
    out
}

/// A real value quantized as TFLite's `QUANTIZE` does:
/// `clamp(round(x / scale) + zero_point, −128, 127)`, rounding half away
/// from zero, in `f32`. For the input of an int8 model (the forward itself
/// uses no float).
#[inline]
pub fn quantize_f32(x: f32, scale: f32, zero_point: i32) -> i8 {
    let q = libm::roundf(x / scale);
    // `as` saturates (and sends NaN to 0) before the zero point is added.
    let q = (q as i32).saturating_add(zero_point);
    clamp_i8(q, i8::MIN, i8::MAX)
}

/// The real value of `q`: `(q − zero_point) · scale` (TFLite's
/// `DEQUANTIZE`), in `f32`.
#[inline]
pub fn dequantize_f32(q: i8, scale: f32, zero_point: i32) -> f32 {
    (q as i32 - zero_point) as f32 * scale
}
