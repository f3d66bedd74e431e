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
//! (the host-side `QuantizeMultiplier`), and the kernels `conv` (Conv2d,
//! DepthwiseConv2d), `dense`, `add`, `pool` (average, max and global
//! average pooling), `softmax` and `elementwise` (ReLU/ReLU6 as clamps,
//! Flatten/Reshape).

pub mod fixed;
pub mod multiplier;

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
