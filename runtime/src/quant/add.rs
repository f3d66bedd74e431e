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
        self.output(self.rescaled(a, 0).wrapping_add(self.rescaled(b, 1)))
    }

    /// Input `which`'s value `v` rescaled to the common scale (the first
    /// half of [`Self::add`]).
    #[inline(always)]
    fn rescaled(&self, v: i8, which: usize) -> i32 {
        let (zp, m, s) = if which == 0 {
            (
                self.input1_zero_point,
                self.input1_multiplier,
                self.input1_shift,
            )
        } else {
            (
                self.input2_zero_point,
                self.input2_multiplier,
                self.input2_shift,
            )
        };
        let v = v as i32 - zp;
        let v = if self.left_shift > 31 {
            0
        } else {
            v.wrapping_shl(self.left_shift)
        };
        mbqm(v, m, s)
    }

    /// The output of a sum at the common scale (the second half of
    /// [`Self::add`]).
    #[inline(always)]
    fn output(&self, sum: i32) -> i8 {
        let sum = mbqm(sum, self.output_multiplier, self.output_shift);
        clamp_i8(sum.wrapping_add(self.output_zero_point), self.min, self.max)
    }
}

/// From this many values on, [`add_int8_into`] tabulates each input's
/// rescaled value (the first half of [`QAddParams::add`], the exact
/// arithmetic) for all 256 int8 values first: 512 evaluations, 2 KB of
/// stack; each element is then two table loads, an addition and one
/// requantization instead of three. The same values (tested against
/// [`QAddParams::add`] on every pair of inputs). On the Cortex-M4 the
/// three Adds of ResNet-8 (28,672 values) went from about 124 to about 36
/// instructions per value, tables included.
pub const ADD_TABLE_FROM: usize = 1024;

/// The output half of [`QAddParams::add`] with its constants worked out
/// once: `SaturatingRoundingDoublingHighMul(a, m)` is `(a·m + 2³⁰) >> 31`
/// for every `a` when `m ≠ i32::MIN` (gemmlowp's sign-dependent nudge and
/// truncating division are that floor), and `RoundingDivideByPOT` keeps
/// its form with the mask precomputed; a multiplier of `i32::MIN` or a
/// shift below −31 takes the portable [`QAddParams::output`].
struct AddOutput {
    m: i64,
    right: u32,
    mask: i32,
    half: i32,
    fast: bool,
}

impl AddOutput {
    fn new(p: &QAddParams) -> Self {
        let right = if p.output_shift < 0 {
            p.output_shift.unsigned_abs()
        } else {
            0
        };
        let fast = p.output_multiplier != i32::MIN && right <= 31;
        let mask = if fast {
            ((1u64 << right) - 1) as i32
        } else {
            0
        };
        AddOutput {
            m: p.output_multiplier as i64,
            right: right & 31,
            mask,
            half: mask >> 1,
            fast,
        }
    }

    #[inline(always)]
    fn apply(&self, p: &QAddParams, sum: i32) -> i8 {
        if !self.fast {
            return p.output(sum);
        }
        let x = ((sum as i64 * self.m + (1 << 30)) >> 31) as i32;
        let neg = (x as u32 >> 31) as i32;
        let v = (x >> self.right) + ((x & self.mask) > self.half + neg) as i32;
        clamp_i8(v.wrapping_add(p.output_zero_point), p.min, p.max)
    }
}

/// int8 `Add` of two flat tensors into `y` (the shortest length wins;
/// callers pass equal lengths).
#[inline]
pub fn add_int8_into(p: &QAddParams, a: &[i8], b: &[i8], y: &mut [i8]) {
    if y.len() >= ADD_TABLE_FROM {
        let mut t1 = [0i32; 256];
        let mut t2 = [0i32; 256];
        for (i, (u, v)) in t1.iter_mut().zip(t2.iter_mut()).enumerate() {
            let x = i as u8 as i8;
            *u = p.rescaled(x, 0);
            *v = p.rescaled(x, 1);
        }
        let out = AddOutput::new(p);
        for ((yv, &av), &bv) in y.iter_mut().zip(a).zip(b) {
            let sum = t1[av as u8 as usize].wrapping_add(t2[bv as u8 as usize]);
            *yv = out.apply(p, sum);
        }
        return;
    }
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

    /// The tabulated path of `add_int8_into` (from `ADD_TABLE_FROM`
    /// values) equals `QAddParams::add` on every pair of int8 inputs, for
    /// IC's first Add, the hand-worked parameters, and the edge cases of
    /// the output stage: multiplier `i32::MIN` and shifts 0, −31 and −32
    /// (the portable path), a clamp, and a headroom shift above 31.
    #[test]
    fn tabulated_add_equals_add_on_every_pair() {
        let ic = QAddParams {
            input1_zero_point: -128,
            input2_zero_point: 5,
            left_shift: 20,
            input1_multiplier: 1_623_821_475,
            input1_shift: -1,
            input2_multiplier: 1_073_741_824,
            input2_shift: 0,
            output_multiplier: 1_657_442_218,
            output_shift: -19,
            output_zero_point: -128,
            min: -128,
            max: 127,
        };
        let mut cases = vec![ic];
        for (m, s) in [
            (i32::MIN, -19),
            (1 << 30, 0),
            (1_900_000_001, -31),
            (1_900_000_001, -32),
            (-1_500_000_000, -20),
            (1 << 30, 3),
        ] {
            cases.push(QAddParams {
                output_multiplier: m,
                output_shift: s,
                ..ic
            });
        }
        cases.push(QAddParams {
            min: -20,
            max: 90,
            ..ic
        });
        cases.push(QAddParams {
            left_shift: 32,
            ..ic
        });
        // Small headroom: the sums are small and odd, so the output's
        // rounding (the nudge, negative ties, the remainder test) decides
        // values.
        for (left, m, s) in [
            (0, 1_900_000_001, 0),
            (0, 1_073_741_824, -1),
            (3, 1_234_567_891, -2),
            (1, -1_234_567_891, -3),
        ] {
            cases.push(QAddParams {
                left_shift: left,
                output_multiplier: m,
                output_shift: s,
                // Negative outputs not clamped away: negative ties count.
                output_zero_point: 0,
                ..ic
            });
        }
        cases.push(QAddParams {
            input1_multiplier: i32::MIN,
            input2_shift: -40,
            ..ic
        });
        // Every (a, b) pair, in one call long enough for the tables.
        let a: Vec<i8> = (0..65536).map(|i| (i >> 8) as u8 as i8).collect();
        let b: Vec<i8> = (0..65536).map(|i| i as u8 as i8).collect();
        assert!(a.len() >= ADD_TABLE_FROM);
        for p in cases {
            let mut y = vec![0i8; a.len()];
            add_int8_into(&p, &a, &b, &mut y);
            for i in 0..a.len() {
                assert_eq!(y[i], p.add(a[i], b[i]), "{p:?} at ({}, {})", a[i], b[i]);
            }
        }
    }
}
