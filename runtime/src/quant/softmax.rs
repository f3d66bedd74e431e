//! int8 `Softmax` as TFLite Micro runs it (`reference_ops::Softmax` for
//! int8 in and out, gemmlowp fixed point; no lookup table), with the
//! output fixed at scale 1/256 and zero point −128.
//!
//! For each input `x_c`, `d = x_c − max` (≤ 0) is scaled by the
//! multiplier `β · s_in · 2²⁶` (a Q5.26 value, `input_multiplier` /
//! `input_left_shift`); `exp(d)` is gemmlowp's `exp_on_negative_values` in
//! Q0.31; the sum of exponentials is accumulated in Q12.19, its reciprocal
//! taken by Newton–Raphson (`one_over_one_plus_x_for_x_in_0_1`), and each
//! `exp · (1 / sum)` is shifted down to 8 bits and offset by −128. Inputs
//! with `d < diff_min` contribute nothing and output −128.

use super::fixed::{
    multiply_by_quantized_multiplier_greater_than_one, rounding_divide_by_pot, rounding_half_sum,
    saturating_rounding_doubling_high_mul as mul, saturating_rounding_multiply_by_pot as mul_pot,
};

/// An int8 `Softmax`'s quantization, as TFLite's `PreprocessSoftmaxScaling`
/// and `CalculateInputRadius` compute it from `β` and the input scale
/// (with 5 integer bits for the scaled differences).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QSoftmaxParams {
    /// The multiplier of `β · s_in · 2²⁶` (capped at `2³¹ − 1`).
    pub input_multiplier: i32,
    /// Its left shift (≥ 0).
    pub input_left_shift: u32,
    /// The smallest difference `x − max` that is not flushed to −128.
    pub diff_min: i32,
}

/// Q5.26 → Q0.31 integer bits of the scaled differences.
const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the accumulated sum of exponentials.
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// gemmlowp's `exp_on_interval_between_negative_one_quarter_and_0_excl`:
/// `exp(a)` for `a` in `[−1/4, 0)`, both Q0.31, by a Taylor expansion
/// around −1/8.
const fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(−1/8)
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = mul_pot(x4, -2);
    let poly = mul_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        -1,
    );
    CONSTANT_TERM.wrapping_add(mul(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp's `exp_on_negative_values` for a Q5.26 input `a ≤ 0`: `exp(a)`
/// in Q0.31 (`i32::MAX` for `a = 0`).
pub const fn exp_on_negative_values_q5(a: i32) -> i32 {
    const FRACTIONAL_BITS: i32 = 31 - SCALED_DIFF_INTEGER_BITS;
    const ONE_QUARTER: i32 = 1 << (FRACTIONAL_BITS - 2);
    let mask = ONE_QUARTER - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(ONE_QUARTER);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(mul_pot(
        a_mod_quarter_minus_one_quarter,
        SCALED_DIFF_INTEGER_BITS,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // exp(−2^k) for k = −2 ..= 4, in Q0.31: multiplied in for each bit of
    // the remainder (k < 5, the number of integer bits, for all of them).
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    let mut i = 0;
    while i < BARREL.len() {
        let (exponent, multiplier) = BARREL[i];
        if remainder & (1 << (FRACTIONAL_BITS + exponent)) != 0 {
            result = mul(result, multiplier);
        }
        i += 1;
    }
    if a == 0 {
        i32::MAX
    } else {
        result
    }
}

/// gemmlowp's `one_over_one_plus_x_for_x_in_0_1`: `1 / (1 + a)` for a
/// Q0.31 `a` in `[0, 1)`, Q0.31, by three Newton–Raphson steps in Q2.29.
pub const fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    const C48_OVER_17: i32 = 1_515_870_810;
    const CNEG32_OVER_17: i32 = -1_010_580_540;
    const ONE_Q2: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, CNEG32_OVER_17));
    let mut i = 0;
    while i < 3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(mul_pot(mul(x, one_minus), 2));
        i += 1;
    }
    // ExactMulByPot<−1> (Q2 → Q1, same bits), then Rescale<0> from Q1.
    mul_pot(x, 1)
}

/// TFLite's `GetReciprocal(x, 12, &num_bits_over_unit)`: `1 / x` for a
/// positive Q12.19 `x`, as a Q0.31 significand and the number of bits of
/// `x` above 1.
const fn reciprocal(x: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let num_bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one as i32;
    let shifted = match (x as u32).checked_shl(headroom_plus_one) {
        Some(v) => v,
        None => 0,
    };
    let shifted_sum_minus_one = shifted.wrapping_sub(1 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

/// int8 `Softmax` over `x` into `y` (equal lengths; the shorter wins).
#[inline]
pub fn softmax_int8_into(p: &QSoftmaxParams, x: &[i8], y: &mut [i8]) {
    let max = x.iter().copied().max().unwrap_or(i8::MIN) as i32;
    let scaled = |v: i8| -> Option<i32> {
        let diff = v as i32 - max;
        (diff >= p.diff_min).then(|| {
            multiply_by_quantized_multiplier_greater_than_one(
                diff,
                p.input_multiplier,
                p.input_left_shift,
            )
        })
    };
    let mut sum_of_exps = 0i32;
    for &v in x {
        if let Some(d) = scaled(v) {
            let e = exp_on_negative_values_q5(d);
            sum_of_exps = sum_of_exps.wrapping_add(mul_pot(e, -ACCUMULATION_INTEGER_BITS));
        }
    }
    let (shifted_scale, num_bits_over_unit) = reciprocal(sum_of_exps);
    // 31 − 8 bits dropped for an int8 output; TFLite checks 0 ..= 31.
    let exponent = (num_bits_over_unit + 31 - 8).clamp(0, 31) as u32;
    for (yv, &v) in y.iter_mut().zip(x) {
        *yv = match scaled(v) {
            Some(d) => {
                let e = exp_on_negative_values_q5(d);
                let unsat = rounding_divide_by_pot(mul(shifted_scale, e), exponent);
                (unsat - 128).clamp(-128, 127) as i8
            }
            None => i8::MIN,
        };
    }
}

/// [`softmax_int8_into`] on a zeroed local, returned.
#[inline]
pub fn softmax_int8<const N: usize>(p: &QSoftmaxParams, x: &[i8; N]) -> [i8; N] {
    let mut y = [0; N];
    softmax_int8_into(p, x, &mut y);
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q0.31 of `v` (tests only: the references are real numbers).
    fn q31(v: f64) -> f64 {
        v * 2_147_483_648.0
    }

    #[test]
    fn exp_matches_exp_within_2e_minus_6() {
        // Q5.26 inputs: 0, −1/4, −1, −2.5, −10, −31.9.
        for a in [0.0f64, -0.25, -1.0, -2.5, -10.0, -31.9] {
            let raw = (a * 67_108_864.0) as i32;
            let got = exp_on_negative_values_q5(raw) as f64;
            let want = q31(libm::exp(a)).min(2_147_483_647.0);
            assert!((got - want).abs() <= 4096.0, "exp({a}): {got} vs {want}");
        }
    }

    #[test]
    fn reciprocal_within_2e_minus_6() {
        for a in [0.0f64, 0.25, 0.5, 0.9] {
            let got = one_over_one_plus_x_for_x_in_0_1(q31(a) as i32) as f64;
            let want = q31(1.0 / (1.0 + a));
            assert!((got - want).abs() <= 4096.0, "1/(1+{a}): {got} vs {want}");
        }
    }

    #[test]
    fn softmax_equal_inputs_and_one_winner() {
        // Scale 1/16, β = 1: multiplier 2²² · 2⁻⁴ · … chosen as TFLite
        // would: β·s·2²⁶ = 2²² = 0.5 · 2²³ → (2³⁰, 23); diff_min =
        // −floor(31 · 2²⁶ / 2²³) = −248.
        let p = QSoftmaxParams {
            input_multiplier: 1 << 30,
            input_left_shift: 23,
            diff_min: -248,
        };
        // Two equal inputs: 0.5 each = 128/256 → 128 − 128 = 0.
        assert_eq!(softmax_int8(&p, &[7, 7]), [0, 0]);
        // Four equal: 0.25 = 64/256 → −64.
        assert_eq!(softmax_int8(&p, &[-3, -3, -3, -3]), [-64; 4]);
        // A winner by 16 (= 1.0 real): e / (1 + e) = 0.7311 → 187.2 → 187
        // − 128 = 59; 1 / (1 + e) = 0.2689 → 68.8 → 69 − 128 = −59.
        assert_eq!(softmax_int8(&p, &[16, 0]), [59, -59]);
        // Beyond diff_min (−248 < −255): flushed to −128, the winner 1.0
        // saturates at 127.
        assert_eq!(softmax_int8(&p, &[127, -128]), [127, -128]);
    }
}
