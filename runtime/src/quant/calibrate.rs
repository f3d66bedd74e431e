//! Post-training quantization arithmetic: from the ranges a float model's
//! tensors take over a calibration set, and from its float weights, the
//! int8 parameters TensorFlow Lite's converter would choose.
//!
//! This runs on the host, once, when a model is quantized; the int8
//! forward never calls it (it takes the integers this produces, through
//! [`quantize_multiplier`](super::quantize_multiplier)). The conventions
//! are those of TFLite's converter (`tf.lite.TFLiteConverter` with
//! `Optimize.DEFAULT` and a representative data set, the MLIR quantizer),
//! checked against it by `tests/ptq.rs` on a fixture of
//! `tools/make_ptq_fixtures.py`:
//!
//! - activations: asymmetric int8 over the observed range widened to hold
//!   0 ([`activation_params`]): `scale = (max − min) / 255` in `f32`, the
//!   zero point nudged to the nearer-to-exact of its two candidates;
//! - weights: symmetric per output channel, narrow range `[−127, 127]`,
//!   `scale[c] = max |w[c]| / 127` ([`symmetric_per_channel`]);
//! - biases: int32 at `scale = s_in · s_w[c]` ([`quantize_bias`]);
//! - ops that keep their input's scale (pooling, Flatten/Reshape) take it
//!   instead of their own range, and softmax's output is fixed at
//!   [`SOFTMAX_OUTPUT`].

/// The smallest and largest value a tensor took over a calibration set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// The smallest value observed.
    pub min: f32,
    /// The largest value observed.
    pub max: f32,
}

/// A value that is not finite was given to [`Range::observe`]: the
/// calibration data or the float model is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonFiniteValue {
    /// Its index in the slice given to `observe`.
    pub index: usize,
}

impl core::fmt::Display for NonFiniteValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "value {} of a calibration tensor is not finite",
            self.index
        )
    }
}

impl Range {
    /// No value observed yet.
    pub const EMPTY: Range = Range {
        min: f32::INFINITY,
        max: f32::NEG_INFINITY,
    };

    /// Widens the range to hold every value of `values`. A NaN or an
    /// infinity is an error naming its index, and leaves the range as it
    /// was.
    ///
    /// ```
    /// use staticnet_runtime::quant::calibrate::Range;
    /// let mut r = Range::EMPTY;
    /// r.observe(&[0.5, -2.0]).unwrap();
    /// r.observe(&[3.0]).unwrap();
    /// assert_eq!(r, Range { min: -2.0, max: 3.0 });
    /// assert_eq!(r.observe(&[1.0, f32::NAN]).unwrap_err().index, 1);
    /// assert_eq!(r, Range { min: -2.0, max: 3.0 });
    /// ```
    pub fn observe(&mut self, values: &[f32]) -> Result<(), NonFiniteValue> {
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(NonFiniteValue { index });
        }
        for &v in values {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        Ok(())
    }
}

/// The scale and zero point of an int8 tensor: `real = (q − zero_point) ·
/// scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    /// The real value of one step.
    pub scale: f32,
    /// The int8 value that stands for 0.0.
    pub zero_point: i32,
}

/// Softmax's (and the logistic's) fixed int8 output: scale 1/256, zero
/// point −128, whatever the calibration saw (TFLite requires it).
pub const SOFTMAX_OUTPUT: QuantParams = QuantParams {
    scale: 1.0 / 256.0,
    zero_point: -128,
};

/// TFLite's int8 parameters for an activation tensor that took the values
/// in `range`, as its converter chooses them:
///
/// - the range is widened to hold 0 (so that 0.0, padding's value, is
///   exact);
/// - `scale = (max − min) / 255`, computed in `f32`;
/// - the zero point is `−128 − min / scale` or `127 − max / scale`
///   (in `f64`), whichever has the smaller rounding error bound, rounded
///   half away from zero and clamped to `[−128, 127]`;
/// - an empty or all-zero range gives scale 1 and zero point 0.
///
/// ```
/// use staticnet_runtime::quant::calibrate::{activation_params, QuantParams, Range};
/// // A ReLU's output over [0, 2.55]: zero point at the bottom.
/// let p = activation_params(Range { min: 0.0, max: 2.55 });
/// assert_eq!(p, QuantParams { scale: 2.55 / 255.0, zero_point: -128 });
/// // A range of only positive values still holds 0.
/// assert_eq!(activation_params(Range { min: 1.0, max: 2.55 }), p);
/// ```
pub fn activation_params(range: Range) -> QuantParams {
    const QMIN: f64 = -128.0;
    const QMAX: f64 = 127.0;
    let min = if range.min < 0.0 { range.min } else { 0.0 };
    let max = if range.max > 0.0 { range.max } else { 0.0 };
    let scale = (max - min) / 255.0;
    if scale <= 0.0 || !scale.is_finite() {
        return QuantParams {
            scale: 1.0,
            zero_point: 0,
        };
    }
    let (min, max, s) = (min as f64, max as f64, scale as f64);
    let from_min = QMIN - min / s;
    let from_max = QMAX - max / s;
    let error_min = libm::fabs(QMIN) + libm::fabs(min / s);
    let error_max = libm::fabs(QMAX) + libm::fabs(max / s);
    let zero = if error_min < error_max {
        from_min
    } else {
        from_max
    };
    let zero_point = if zero < QMIN {
        QMIN
    } else if zero > QMAX {
        QMAX
    } else {
        libm::round(zero)
    };
    QuantParams {
        scale,
        zero_point: zero_point as i32,
    }
}

/// Symmetric per-channel int8 weights, TFLite's convention for Conv2d,
/// DepthwiseConv2d and Dense: `weights` holds `scales.len()` channels of
/// equal length one after the other (channel-major, as PyTorch's layouts
/// are with the output channel first), and each channel `c` gets
/// `scales[c] = max |w| / 127` (computed in `f64`, stored as `f32`) and
/// `q = round(w / scales[c])` in `[−127, 127]`, ties away from zero. A
/// channel of zeros gets scale 1 (its values are 0 at any scale).
///
/// `q.len()` must equal `weights.len()`, a multiple of `scales.len()`;
/// otherwise nothing is written and the lengths are returned as an error.
///
/// ```
/// use staticnet_runtime::quant::calibrate::symmetric_per_channel;
/// let w = [0.5, -1.27, 0.0, 0.02];
/// let (mut scales, mut q) = ([0.0; 2], [0i8; 4]);
/// symmetric_per_channel(&w, &mut scales, &mut q).unwrap();
/// assert_eq!(scales, [0.01, (0.02f32 as f64 / 127.0) as f32]);
/// assert_eq!(q, [50, -127, 0, 127]);
/// ```
pub fn symmetric_per_channel(
    weights: &[f32],
    scales: &mut [f32],
    q: &mut [i8],
) -> Result<(), (usize, usize, usize)> {
    let channels = scales.len();
    if channels == 0 || !weights.len().is_multiple_of(channels) || q.len() != weights.len() {
        return Err((weights.len(), channels, q.len()));
    }
    let per = weights.len() / channels;
    for ((w, s), q) in weights
        .chunks_exact(per)
        .zip(scales.iter_mut())
        .zip(q.chunks_exact_mut(per))
    {
        let largest = w.iter().fold(0.0f64, |m, &v| m.max(libm::fabs(v as f64)));
        *s = if largest > 0.0 {
            (largest / 127.0) as f32
        } else {
            1.0
        };
        let scale = *s as f64;
        for (q, &v) in q.iter_mut().zip(w) {
            *q = libm::round(v as f64 / scale).clamp(-127.0, 127.0) as i8;
        }
    }
    Ok(())
}

/// int32 biases at scale `input_scale · weight_scales[c]` (computed in
/// `f32`, as TFLite stores it), rounded half away from zero and saturated
/// to the int32 range. `bias`, `weight_scales` and `q` must have one value
/// per output channel; otherwise nothing is written and the lengths are
/// returned as an error.
///
/// ```
/// use staticnet_runtime::quant::calibrate::quantize_bias;
/// let mut q = [0i32; 2];
/// quantize_bias(&[0.5, -0.25], 0.5, &[0.01, 0.001], &mut q).unwrap();
/// assert_eq!(q, [100, -500]);
/// ```
pub fn quantize_bias(
    bias: &[f32],
    input_scale: f32,
    weight_scales: &[f32],
    q: &mut [i32],
) -> Result<(), (usize, usize, usize)> {
    if bias.len() != weight_scales.len() || q.len() != bias.len() {
        return Err((bias.len(), weight_scales.len(), q.len()));
    }
    for ((q, &b), &sw) in q.iter_mut().zip(bias).zip(weight_scales) {
        let scale = (input_scale * sw) as f64;
        let v = if scale > 0.0 {
            libm::round(b as f64 / scale)
        } else {
            0.0
        };
        *q = v.clamp(i32::MIN as f64, i32::MAX as f64) as i32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_of_one_sign_is_widened_to_hold_zero() {
        let neg = activation_params(Range {
            min: -2.55,
            max: -1.0,
        });
        assert_eq!(neg.zero_point, 127);
        assert_eq!(neg.scale, 2.55f32 / 255.0);
    }

    #[test]
    fn an_empty_or_zero_range_gives_scale_one() {
        let one = QuantParams {
            scale: 1.0,
            zero_point: 0,
        };
        assert_eq!(activation_params(Range::EMPTY), one);
        assert_eq!(activation_params(Range { min: 0.0, max: 0.0 }), one);
    }

    #[test]
    fn the_zero_point_is_exact_for_a_symmetric_range() {
        // [−1.28, 1.27]: 256 steps of 0.01 with 0 at −0.0 + 0 → zp 0.
        let p = activation_params(Range {
            min: -1.28,
            max: 1.27,
        });
        assert_eq!(p.zero_point, 0);
    }

    #[test]
    fn mismatched_lengths_write_nothing() {
        let mut q = [7i8; 3];
        let mut s = [5.0f32; 2];
        assert!(symmetric_per_channel(&[1.0; 3], &mut s, &mut q).is_err());
        assert_eq!((q, s), ([7; 3], [5.0; 2]));
        let mut b = [9i32; 2];
        assert!(quantize_bias(&[1.0; 2], 1.0, &[1.0], &mut b).is_err());
        assert_eq!(b, [9; 2]);
    }

    #[test]
    fn a_huge_bias_saturates() {
        let mut q = [0i32; 2];
        quantize_bias(&[1e30, -1e30], 1e-10, &[1e-10, 1e-10], &mut q).unwrap();
        assert_eq!(q, [i32::MAX, i32::MIN]);
    }
}
