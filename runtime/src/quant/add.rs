//! int8 `Add` of two tensors of the same shape, each with its own scale and
//! zero point (TFLite's `reference_integer_ops::Add`, which TFLite Micro
//! runs): both inputs are shifted left by 20 bits for headroom, rescaled
//! to twice the larger input scale, summed, and rescaled to the output.
//!
//! For each element, with `aᵢ = (xᵢ − zpᵢ) · 2²⁰`:
//! `y = clamp(mbqm'(mbqm'(a₁, m₁, s₁) + mbqm'(a₂, m₂, s₂), m_out, s_out) + zp_out)`
//! where `mbqm'` is the "smaller than one" multiply (a right shift only).

use super::clamp_i8;
use super::fixed::multiply_by_quantized_multiplier_smaller_than_one as mbqm;

/// An int8 `Add`'s quantization (TFLite's `ArithmeticParams` for int8):
/// the multipliers are `s₁ / (2·max(s₁, s₂))`, `s₂ / (2·max(s₁, s₂))` and
/// `2·max(s₁, s₂) / (2^left_shift · s_out)`, each from `QuantizeMultiplier`
/// with a shift ≤ 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QAddParams {
    /// The first input's zero point.
    pub input1_zero_point: i32,
    /// The second input's zero point.
    pub input2_zero_point: i32,
    /// The headroom shift (20 for int8).
    pub left_shift: u32,
    /// The first input's multiplier.
    pub input1_multiplier: i32,
    /// The first input's shift (≤ 0).
    pub input1_shift: i32,
    /// The second input's multiplier.
    pub input2_multiplier: i32,
    /// The second input's shift (≤ 0).
    pub input2_shift: i32,
    /// The output's multiplier.
    pub output_multiplier: i32,
    /// The output's shift (≤ 0).
    pub output_shift: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// The smallest output (a fused activation's lower bound).
    pub min: i8,
    /// The largest output.
    pub max: i8,
}

impl QAddParams {
    /// One element of the sum.
    #[inline(always)]
    pub fn add(&self, a: i8, b: i8) -> i8 {
        let shift = |v: i32| {
            if self.left_shift > 31 {
                0
            } else {
                v.wrapping_shl(self.left_shift)
            }
        };
        let a = shift(a as i32 - self.input1_zero_point);
        let b = shift(b as i32 - self.input2_zero_point);
        let a = mbqm(a, self.input1_multiplier, self.input1_shift);
        let b = mbqm(b, self.input2_multiplier, self.input2_shift);
        let sum = mbqm(a.wrapping_add(b), self.output_multiplier, self.output_shift);
        clamp_i8(sum.wrapping_add(self.output_zero_point), self.min, self.max)
    }
}

/// int8 `Add` of two flat tensors into `y` (the shortest length wins;
/// callers pass equal lengths).
#[inline]
pub fn add_int8_into(p: &QAddParams, a: &[i8], b: &[i8], y: &mut [i8]) {
    for ((yv, &av), &bv) in y.iter_mut().zip(a).zip(b) {
        *yv = p.add(av, bv);
    }
}

/// int8 `Add` of two images into `y`, every value overwritten.
#[inline]
pub fn add_image_int8_into<const C: usize, const H: usize, const W: usize>(
    p: &QAddParams,
    a: &[[[i8; W]; H]; C],
    b: &[[[i8; W]; H]; C],
    y: &mut [[[i8; W]; H]; C],
) {
    add_int8_into(
        p,
        a.as_flattened().as_flattened(),
        b.as_flattened().as_flattened(),
        y.as_flattened_mut().as_flattened_mut(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_hand_worked() {
        // s₁ = 0.5, s₂ = 0.25, s_out = 1: multipliers 0.5 (2³⁰, 0),
        // 0.25 (2³⁰, −1) and 1 / 2²⁰ (2³⁰, −19). Zero points 1, −2, 3.
        // a = 5 → (5 − 1) · 2²⁰ · 0.5 = 2²¹; b = 6 → 8 · 2²⁰ · 0.25 = 2²¹;
        // the sum 2²² · 0.5 / 2¹⁹ = 4 (real 2 + 2), + 3 = 7.
        let p = QAddParams {
            input1_zero_point: 1,
            input2_zero_point: -2,
            left_shift: 20,
            input1_multiplier: 1 << 30,
            input1_shift: 0,
            input2_multiplier: 1 << 30,
            input2_shift: -1,
            output_multiplier: 1 << 30,
            output_shift: -19,
            output_zero_point: 3,
            min: -128,
            max: 127,
        };
        assert_eq!(p.add(5, 6), 7);
        // Real 0.5 · 1 + 0.25 · 1 = 0.75 → 1 (+3 = 4); real −0.75 → −1: the
        // final rounding is half away from zero in RoundingDivideByPOT, and
        // −0.75 is not a tie.
        assert_eq!(p.add(2, -1), 4);
        assert_eq!(p.add(0, -3), 2);
        // Real 0.5 · 1 + 0 = 0.5: a tie, → 1 (+3 = 4); −0.5 → −1 (+3 = 2).
        assert_eq!(p.add(2, -2), 4);
        assert_eq!(p.add(0, -2), 2);
        // The largest inputs: 0.5 · 126 + 0.25 · 129 = 95.25 → 95, + 3;
        // and a ReLU clamp at the zero point.
        assert_eq!(p.add(127, 127), 98);
        assert_eq!(QAddParams { min: 3, ..p }.add(0, -3), 3);
        let mut y = [[[0i8; 2]; 1]; 1];
        add_image_int8_into(&p, &[[[5, 2]]], &[[[6, -2]]], &mut y);
        assert_eq!(y, [[[7, 4]]]);
    }
}
