//! The fixed-point arithmetic of TFLite's int8 kernels: gemmlowp's
//! `SaturatingRoundingDoublingHighMul` and `RoundingDivideByPOT`, TFLite's
//! double-rounding `MultiplyByQuantizedMultiplier` (the default of TFLite,
//! TFLite Micro and CMSIS-NN, `TFLITE_SINGLE_ROUNDING` off), and the few
//! gemmlowp `FixedPoint` operations the softmax needs.
//!
//! Everything is integer-only and total: where the C++ leaves a case
//! undefined or asserts (shifts of 32 or more, a left shift that
//! overflows), the behaviour chosen is written down at the function, and
//! agrees with TFLite wherever TFLite's is defined. Two's complement
//! wrap-around is used where TFLite's code is compiled with its integer
//! overflow sanitizer off (`TFLITE_NO_SANITIZE_INTEGER_OVERFLOW`).

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: the high 32 bits of
/// `2·a·b`, rounded to nearest — `a · b / 2³¹` for `a`, `b` read as Q0.31
/// fractions. Ties round up (toward +∞: 0.5 → 1, −0.5 → 0, −1.5 → −1):
/// the nudge is `2³⁰` for a non-negative product and `1 − 2³⁰` for a
/// negative one, before a division that truncates toward zero.
///
/// The only product that does not fit is `i32::MIN · i32::MIN` (`(−1)·(−1)
/// = 1`, not representable): it saturates to `i32::MAX`.
#[inline(always)]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // C++'s division truncates toward zero, as Rust's does; |ab| ≤ 2⁶², so
    // the sum cannot overflow and the quotient fits in an i32.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest,
/// ties away from zero (`−3 / 2 = −2`, `−1 / 2 = −1`, `3 / 2 = 2`).
///
/// gemmlowp asserts `exponent ≤ 31`; above that this returns the same
/// rounding of the exact quotient, which is 0 except for
/// `i32::MIN / 2³² = −0.5 → −1`.
#[inline(always)]
pub const fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    if exponent > 31 {
        return if exponent == 32 && x == i32::MIN {
            -1
        } else {
            0
        };
    }
    let mask = ((1u32 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// `x · 2^exponent` in two's complement (wrapping, as TFLite's
/// `x * (1 << shift)` with its overflow sanitizer off); 0 for exponents of
/// 32 and more, where every bit has been shifted out.
#[inline(always)]
const fn wrapping_shl(x: i32, exponent: u32) -> i32 {
    if exponent > 31 {
        0
    } else {
        x.wrapping_shl(exponent)
    }
}

/// TFLite's `MultiplyByQuantizedMultiplier(int32 x, multiplier, shift)`
/// (double rounding): `x · multiplier · 2^shift / 2³¹`, computed as a left
/// shift by `max(shift, 0)` (wrapping), a [`saturating_rounding_doubling_high_mul`]
/// by `multiplier` and a [`rounding_divide_by_pot`] by `max(−shift, 0)`.
///
/// `multiplier` is the Q0.31 significand from [`quantize_multiplier`](super::quantize_multiplier)
/// and `shift` its exponent.
#[inline(always)]
pub const fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let (left, right) = if shift > 0 {
        (shift.unsigned_abs(), 0)
    } else {
        (0, shift.unsigned_abs())
    };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(wrapping_shl(x, left), multiplier),
        right,
    )
}

/// The single-rounding `MultiplyByQuantizedMultiplier`: `x · multiplier ·
/// 2^shift / 2³¹` rounded once, half up, `(x·m + 2^(30 − shift)) >> (31 −
/// shift)` in 64 bits — TFLite's `TFLITE_SINGLE_ROUNDING` build and ruy's
/// `MultiplyByQuantizedMultiplier`, which desktop TensorFlow Lite's
/// `FULLY_CONNECTED` uses even with `OpResolverType.BUILTIN_REF`. TFLite
/// Micro and CMSIS-NN use [`multiply_by_quantized_multiplier`] (two
/// roundings) everywhere; the two differ by one in about one result in
/// `2^(−shift)`.
///
/// TFLite requires `shift` in `−31 ..= 30`; outside that, the total shift
/// is clamped to `1 ..= 63` and the result saturates to `i32`.
#[inline(always)]
pub const fn multiply_by_quantized_multiplier_single_rounding(
    x: i32,
    multiplier: i32,
    shift: i32,
) -> i32 {
    let total = 31 - shift as i64;
    let total = if total < 1 {
        1
    } else if total > 63 {
        63
    } else {
        total
    };
    // |x·m| ≤ 2⁶²; the saturating add keeps MIN·MIN + 2⁶² in range.
    let r = (x as i64 * multiplier as i64).saturating_add(1i64 << (total - 1)) >> total;
    if r > i32::MAX as i64 {
        i32::MAX
    } else if r < i32::MIN as i64 {
        i32::MIN
    } else {
        r as i32
    }
}

/// TFLite's `MultiplyByQuantizedMultiplierGreaterThanOne(x, multiplier,
/// left_shift)`: the left shift (wrapping) then the doubling high multiply,
/// with no rounding shift (the softmax's input scaling).
#[inline(always)]
pub const fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: i32,
    left_shift: u32,
) -> i32 {
    saturating_rounding_doubling_high_mul(wrapping_shl(x, left_shift), multiplier)
}

/// TFLite's `MultiplyByQuantizedMultiplierSmallerThanOneExp(x,
/// multiplier, left_shift)` with `left_shift ≤ 0`: the doubling high
/// multiply, then a rounding right shift by `−left_shift` (Add's
/// rescaling). A positive `left_shift` is treated as 0, as the C++ asserts
/// it never is.
#[inline(always)]
pub const fn multiply_by_quantized_multiplier_smaller_than_one(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    let right = if left_shift < 0 {
        left_shift.unsigned_abs()
    } else {
        0
    };
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)
}

/// gemmlowp's `SaturatingRoundingMultiplyByPOT<exponent>`: a saturating
/// left shift for a positive exponent (values beyond `±(2^(31−e) − 1)`
/// become `i32::MAX` / `i32::MIN`), a [`rounding_divide_by_pot`] for a
/// negative one.
#[inline(always)]
pub const fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent < 0 {
        return rounding_divide_by_pot(x, exponent.unsigned_abs());
    }
    if exponent == 0 {
        return x;
    }
    if exponent > 31 {
        return if x > 0 {
            i32::MAX
        } else if x < 0 {
            i32::MIN
        } else {
            0
        };
    }
    let threshold = ((1i64 << (31 - exponent)) - 1) as i32;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << exponent
    }
}

/// gemmlowp's `RoundingHalfSum`: `(a + b) / 2` rounded to nearest, ties
/// away from zero.
#[inline(always)]
pub const fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `acc / n` rounded to nearest, ties away from zero, as TFLite's int8
/// average pooling divides: `(acc ± n/2) / n` with C's truncating division
/// (the sign of the nudge follows `acc > 0`). `n` must be positive; 0
/// gives 0 rather than a division by zero.
#[inline(always)]
pub const fn rounded_average(acc: i32, n: i32) -> i32 {
    if n <= 0 {
        return 0;
    }
    if acc > 0 {
        acc.wrapping_add(n / 2) / n
    } else {
        acc.wrapping_sub(n / 2) / n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i32 = i32::MIN;
    const MAX: i32 = i32::MAX;

    #[test]
    fn doubling_high_mul_saturates_only_at_min_times_min() {
        // (−1)·(−1) = 1 is not a Q0.31 value: the one saturating case.
        assert_eq!(saturating_rounding_doubling_high_mul(MIN, MIN), MAX);
        // (−1)·(1 − 2⁻³¹) = −(2³¹ − 1)·2³¹ / 2³¹ exactly.
        assert_eq!(saturating_rounding_doubling_high_mul(MIN, MAX), -MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(MAX, MAX), MAX - 1);
        // (−1)·x = −x for every other x: −2³¹·2 / 2³¹ = −2.
        assert_eq!(saturating_rounding_doubling_high_mul(MIN, 2), -2);
        assert_eq!(saturating_rounding_doubling_high_mul(MIN, -5), 5);
        assert_eq!(saturating_rounding_doubling_high_mul(0, MIN), 0);
    }

    #[test]
    fn doubling_high_mul_rounds_ties_up() {
        // 2³⁰ · 1 / 2³¹ = 0.5 → 1, but −0.5 → 0: ties go toward +∞.
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-(1 << 30), 1), 0);
        // 0.5 − 2⁻³¹ → 0, both signs.
        assert_eq!(saturating_rounding_doubling_high_mul((1 << 30) - 1, 1), 0);
        assert_eq!(
            saturating_rounding_doubling_high_mul(-((1 << 30) - 1), 1),
            0
        );
        // 3·2³⁰ / 2³¹ = 1.5 → 2, −1.5 → −1; −1.5 − 2⁻³¹ → −2.
        assert_eq!(saturating_rounding_doubling_high_mul(3 << 29, 2), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(3 << 29, -2), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(-(3 << 29) - 1, 2), -2);
        // Q0.31: 0.5 · 0.5 = 0.25.
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
    }

    #[test]
    fn rounding_divide_by_pot_ties_and_negatives() {
        // Ties go away from zero, on both sides.
        assert_eq!(rounding_divide_by_pot(3, 1), 2); // 1.5
        assert_eq!(rounding_divide_by_pot(-3, 1), -2); // −1.5
        assert_eq!(rounding_divide_by_pot(1, 1), 1); // 0.5
        assert_eq!(rounding_divide_by_pot(-1, 1), -1); // −0.5
        assert_eq!(rounding_divide_by_pot(-5, 2), -1); // −1.25
        assert_eq!(rounding_divide_by_pot(-6, 2), -2); // −1.5
        assert_eq!(rounding_divide_by_pot(-7, 2), -2); // −1.75
        assert_eq!(rounding_divide_by_pot(5, 2), 1); // 1.25
        assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5
        assert_eq!(rounding_divide_by_pot(-2, 2), -1); // −0.5
        assert_eq!(rounding_divide_by_pot(2, 2), 1); // 0.5
                                                     // Exponent 0 is the identity.
        assert_eq!(rounding_divide_by_pot(MIN, 0), MIN);
        assert_eq!(rounding_divide_by_pot(-17, 0), -17);
    }

    #[test]
    fn rounding_divide_by_pot_at_31_and_above() {
        // 31, gemmlowp's largest: MIN / 2³¹ = −1, MAX / 2³¹ ≈ 1 − 2⁻³¹ → 1,
        // ±2³⁰ / 2³¹ = ±0.5 → ±1, 2³⁰ − 1 → 0.
        assert_eq!(rounding_divide_by_pot(MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(1 << 30, 31), 1);
        assert_eq!(rounding_divide_by_pot(-(1 << 30), 31), -1);
        assert_eq!(rounding_divide_by_pot((1 << 30) - 1, 31), 0);
        assert_eq!(rounding_divide_by_pot(-(1 << 30) + 1, 31), 0);
        // Above 31 (undefined in gemmlowp): the exact quotient rounded.
        assert_eq!(rounding_divide_by_pot(MIN, 32), -1); // −0.5
        assert_eq!(rounding_divide_by_pot(MAX, 32), 0); // < 0.5
        assert_eq!(rounding_divide_by_pot(MIN, 33), 0); // −0.25
        assert_eq!(rounding_divide_by_pot(MAX, 40), 0);
        assert_eq!(rounding_divide_by_pot(-1, u32::MAX), 0);
    }

    #[test]
    fn multiply_by_quantized_multiplier_right_and_left_shifts() {
        // multiplier 2³⁰ is 0.5: x · 0.5 · 2^shift, double rounded.
        let half = 1 << 30;
        assert_eq!(multiply_by_quantized_multiplier(100, half, 0), 50);
        assert_eq!(multiply_by_quantized_multiplier(101, half, 0), 51); // 50.5
        assert_eq!(multiply_by_quantized_multiplier(-101, half, 0), -50); // −50.5 up
        assert_eq!(multiply_by_quantized_multiplier(100, half, -2), 13); // 12.5
        assert_eq!(multiply_by_quantized_multiplier(-100, half, -2), -13);
        assert_eq!(multiply_by_quantized_multiplier(100, half, 3), 400);
        // Double rounding differs from one rounding of the exact product:
        // 5 · 0.75 / 8 = 0.46875 would round to 0, but 5 · 0.75 = 3.75
        // rounds to 4 first and 4 / 8 = 0.5 then rounds to 1 (and −3.75 →
        // −4, −0.5 → −1).
        let three_quarters = 3 << 29;
        assert_eq!(multiply_by_quantized_multiplier(5, three_quarters, -3), 1);
        assert_eq!(multiply_by_quantized_multiplier(-5, three_quarters, -3), -1);
        // A left shift that overflows wraps, as TFLite's unsanitized
        // `x * (1 << shift)`: 2²⁴ · 2⁸ = 2³² → 0; 2²³ · 2⁸ = 2³¹ → MIN.
        assert_eq!(multiply_by_quantized_multiplier(1 << 24, half, 8), 0);
        assert_eq!(
            multiply_by_quantized_multiplier(1 << 23, half, 8),
            -(1 << 30)
        );
        // Shift 31 (the largest a left shift can be) and beyond.
        assert_eq!(multiply_by_quantized_multiplier(1, half, 31), -(1 << 30));
        assert_eq!(multiply_by_quantized_multiplier(1, half, 32), 0);
        // Right shifts of 31 and more (multiplier 0.5 makes MIN −2³⁰).
        assert_eq!(multiply_by_quantized_multiplier(MIN, half, -30), -1); // −1
        assert_eq!(multiply_by_quantized_multiplier(MIN, half, -31), -1); // −0.5
        assert_eq!(multiply_by_quantized_multiplier(MIN, half, -32), 0); // −0.25
        assert_eq!(multiply_by_quantized_multiplier(MAX, MAX, i32::MIN), 0);
        // Multiplier 0 (a flushed tiny scale) gives 0 whatever the shift.
        assert_eq!(multiply_by_quantized_multiplier(MAX, 0, 0), 0);
    }

    #[test]
    fn single_rounding_rounds_once_half_up() {
        let three_quarters = 3 << 29;
        // 5 · 0.75 / 8 = 0.46875 → 0 (the double rounding gives 1, above).
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(5, three_quarters, -3),
            0
        );
        // −0.46875 → 0; ties go up: 0.5 → 1, −0.5 → 0, −1.5 → −1.
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(-5, three_quarters, -3),
            0
        );
        let half = 1 << 30;
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(1, half, 0),
            1
        );
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(-1, half, 0),
            0
        );
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(-3, half, 0),
            -1
        );
        // No wrap-around on a left shift: 2²⁴ · 0.5 · 2⁸ = 2³¹ saturates.
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(1 << 24, half, 8),
            MAX
        );
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(100, half, 3),
            400
        );
        // Shift −31 (total 62) and a clamped −40.
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(MIN, half, -31),
            0
        ); // −2³¹·2³⁰ / 2⁶² = −0.5 → 0 (up)
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(MIN, MIN, -31),
            1
        ); // 2⁶² / 2⁶², no overflow
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(MAX, MAX, -40),
            0
        );
    }

    #[test]
    fn smaller_and_greater_than_one_forms() {
        let half = 1 << 30;
        assert_eq!(
            multiply_by_quantized_multiplier_smaller_than_one(-101, half, 0),
            -50
        );
        assert_eq!(
            multiply_by_quantized_multiplier_smaller_than_one(100, half, -2),
            13
        );
        assert_eq!(
            multiply_by_quantized_multiplier_smaller_than_one(100, half, 5),
            50
        );
        assert_eq!(
            multiply_by_quantized_multiplier_greater_than_one(100, half, 3),
            400
        );
        assert_eq!(
            multiply_by_quantized_multiplier_greater_than_one(-3, half, 0),
            -1
        );
    }

    #[test]
    fn multiply_by_pot_saturates_and_rounds() {
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 28, 2), 1 << 30);
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 29, 2), MAX);
        assert_eq!(saturating_rounding_multiply_by_pot(-(1 << 29), 2), MIN);
        // The threshold is ±(2^(31−e) − 1): −(2²⁹ − 1)·4 still fits.
        assert_eq!(
            saturating_rounding_multiply_by_pot(-((1 << 29) - 1), 2),
            MIN + 4
        );
        assert_eq!(saturating_rounding_multiply_by_pot(-3, -1), -2);
        assert_eq!(saturating_rounding_multiply_by_pot(7, 0), 7);
        assert_eq!(saturating_rounding_multiply_by_pot(1, 40), MAX);
        assert_eq!(saturating_rounding_multiply_by_pot(-1, 40), MIN);
    }

    #[test]
    fn half_sum_and_average_round_away_from_zero() {
        assert_eq!(rounding_half_sum(1, 2), 2); // 1.5
        assert_eq!(rounding_half_sum(-1, -2), -2); // −1.5
        assert_eq!(rounding_half_sum(MAX, MAX), MAX);
        assert_eq!(rounding_half_sum(MIN, MIN), MIN);
        // Average pooling: 5 / 2 = 2.5 → 3, −5 / 2 → −3, 7 / 4 → 2,
        // −7 / 4 → −2, −6 / 4 = −1.5 → −2, −5 / 4 = −1.25 → −1.
        assert_eq!(rounded_average(5, 2), 3);
        assert_eq!(rounded_average(-5, 2), -3);
        assert_eq!(rounded_average(7, 4), 2);
        assert_eq!(rounded_average(-7, 4), -2);
        assert_eq!(rounded_average(-6, 4), -2);
        assert_eq!(rounded_average(-5, 4), -1);
        // An odd count: n/2 truncates, so x.5 cannot occur; 11 / 3 → 4.
        assert_eq!(rounded_average(11, 3), 4);
        assert_eq!(rounded_average(-11, 3), -4);
        assert_eq!(rounded_average(0, 3), 0);
        assert_eq!(rounded_average(9, 0), 0);
    }
}
