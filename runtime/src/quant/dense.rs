//! int8 `Dense` (TFLite's `FULLY_CONNECTED`, `reference_integer_ops::
//! FullyConnected` and its per-channel form): `acc = bias[o] + Σ_i w[o][i] ·
//! (x[i] − input_zero_point)`, then the [`OutputStage`]. A per-tensor
//! quantized layer has the same multiplier and shift in every channel.

use super::fixed::multiply_by_quantized_multiplier_single_rounding;
use super::{clamp_i8, OutputStage};

/// An int8 `Dense` layer's parameters, PyTorch's `[out, in]` layout (which
/// is TFLite's too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QDenseParams<const O: usize, const I: usize> {
    /// Weights, one row of `I` per output (zero point 0).
    pub weight: [[i8; I]; O],
    /// Biases, int32 at scale `s_in · s_w[o]`.
    pub bias: [i32; O],
    /// The zero point of the input tensor.
    pub input_zero_point: i32,
    /// Requantization to the output tensor.
    pub out: OutputStage<O>,
}

/// int8 `Dense` written into `y`, every value overwritten.
#[inline]
pub fn dense_int8_into<const I: usize, const O: usize>(
    p: &QDenseParams<O, I>,
    x: &[i8; I],
    y: &mut [i8; O],
) {
    // With the DSP extension's SIMD multiply-accumulates where the target
    // has them (Cortex-M4/M7/M33…; the same sums, see quant/thumb.rs).
    if super::thumb::dense_int8_dsp(p, x, y) {
        return;
    }
    let zp = p.input_zero_point;
    for (o, ((yv, wr), &b)) in y.iter_mut().zip(&p.weight).zip(&p.bias).enumerate() {
        let mut acc = b;
        for (&wv, &xv) in wr.iter().zip(x) {
            acc += wv as i32 * (xv as i32 - zp);
        }
        *yv = p.out.apply(acc, o);
    }
}

/// [`dense_int8_into`] with the single-rounding requantization
/// ([`multiply_by_quantized_multiplier_single_rounding`]) that desktop
/// TensorFlow Lite's `FULLY_CONNECTED` uses, also with
/// `OpResolverType.BUILTIN_REF`: what `tf.lite.Interpreter` gives, where
/// [`dense_int8_into`] gives what TFLite Micro and CMSIS-NN give (the two
/// differ by one in a few outputs; tests/int8.rs checks both).
#[inline]
pub fn dense_int8_single_rounding_into<const I: usize, const O: usize>(
    p: &QDenseParams<O, I>,
    x: &[i8; I],
    y: &mut [i8; O],
) {
    let zp = p.input_zero_point;
    let st = &p.out;
    for (((yv, wr), &b), (&m, &s)) in y
        .iter_mut()
        .zip(&p.weight)
        .zip(&p.bias)
        .zip(st.multiplier.iter().zip(&st.shift))
    {
        let mut acc = b;
        for (&wv, &xv) in wr.iter().zip(x) {
            acc += wv as i32 * (xv as i32 - zp);
        }
        let v = multiply_by_quantized_multiplier_single_rounding(acc, m, s)
            .wrapping_add(st.output_zero_point);
        *yv = clamp_i8(v, st.min, st.max);
    }
}

/// [`dense_int8_into`] on a zeroed local, returned.
#[inline]
pub fn dense_int8<const I: usize, const O: usize>(p: &QDenseParams<O, I>, x: &[i8; I]) -> [i8; O] {
    let mut y = [0; O];
    dense_int8_into(p, x, &mut y);
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_hand_worked() {
        // x − zp = [3, −1, 0] (zp −2); rows [1, 2, 3] and [−4, 0, 5];
        // biases 10, −1. Sums 3 − 2 + 10 = 11 and −12 − 1 = −13.
        // Multiplier 0.75 · 2⁻¹ = 0.375, output zero point 5:
        // 11: srdhm → 8.25 → 8, /2 → 4, + 5 = 9;
        // −13: srdhm → −9.75 → −10, /2 → −5, + 5 = 0.
        let out = OutputStage {
            multiplier: [3 << 29; 2],
            shift: [-1; 2],
            output_zero_point: 5,
            min: -128,
            max: 127,
        };
        let p = QDenseParams {
            weight: [[1, 2, 3], [-4, 0, 5]],
            bias: [10, -1],
            input_zero_point: -2,
            out,
        };
        assert_eq!(dense_int8(&p, &[1, -3, -2]), [9, 0]);
        // The same with a ReLU clamp at the zero point 5 and a ReLU6-style
        // upper bound 8: [8, 5].
        let p = QDenseParams {
            out: OutputStage {
                min: 5,
                max: 8,
                ..p.out
            },
            ..p
        };
        assert_eq!(dense_int8(&p, &[1, -3, -2]), [8, 5]);
    }

    #[test]
    fn single_rounding_form() {
        // 5 · 0.75 / 8 = 0.46875: 0 with one rounding, 1 with two.
        let out = OutputStage {
            multiplier: [3 << 29],
            shift: [-3],
            output_zero_point: 0,
            min: -128,
            max: 127,
        };
        let p = QDenseParams {
            weight: [[1]],
            bias: [0],
            input_zero_point: 0,
            out,
        };
        let mut y = [9];
        dense_int8_single_rounding_into(&p, &[5], &mut y);
        assert_eq!(y, [0]);
        assert_eq!(dense_int8(&p, &[5]), [1]);
    }

    #[test]
    fn dense_saturates_to_int8() {
        let out = OutputStage {
            multiplier: [1 << 30],
            shift: [1],
            output_zero_point: 0,
            min: -128,
            max: 127,
        };
        let p = QDenseParams {
            weight: [[127, 127]],
            bias: [0],
            input_zero_point: 0,
            out,
        };
        assert_eq!(dense_int8(&p, &[127, 127]), [127]);
        assert_eq!(dense_int8(&p, &[-128, -128]), [-128]);
    }
}
