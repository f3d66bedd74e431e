//! TFLite's `QuantizeMultiplier`: a real multiplier (`s_in · s_w / s_out`)
//! as a Q0.31 significand and a power-of-two exponent.
//!
//! This runs when a model is converted or quantized (on the host, or once
//! at start-up), never in an int8 forward: the kernels take the integers it
//! returns. It reads the `f64`'s bits instead of calling `frexp` and
//! `round`, so it needs no floating-point instruction either, and gives
//! exactly what TFLite's `std::frexp` + `TfLiteRound(q · 2³¹)` give
//! (`tools/tflite_to_safetensors.py` does the same in Python and the
//! bit-exact tests against TFLite check both).

/// `(multiplier, shift)` with `real ≈ multiplier · 2^shift / 2³¹` and
/// `multiplier` in `[2³⁰, 2³¹)` (negative for a negative `real`), as
/// TFLite's `QuantizeMultiplier` (double-rounding build):
///
/// - `real = q · 2^shift` with `q` in `[0.5, 1)` (`frexp`), and
///   `multiplier = round(q · 2³¹)`, ties away from zero;
/// - a `q` that rounds up to `2³¹` becomes `2³⁰` with `shift + 1`;
/// - a shift below −31 (`|real|` below about `2⁻³²`), a zero, a subnormal
///   and a NaN or infinity give `(0, 0)`: every result would be shifted
///   out, and TFLite flushes them to zero too (it leaves NaN and infinity
///   undefined).
///
/// ```
/// use staticnet_runtime::quant::quantize_multiplier;
/// assert_eq!(quantize_multiplier(0.75), (3 << 29, 0));
/// assert_eq!(quantize_multiplier(0.1), (1_717_986_918, -3)); // 0.8 · 2⁻³
/// ```
pub const fn quantize_multiplier(real: f64) -> (i32, i32) {
    let bits = real.to_bits();
    let negative = bits >> 63 == 1;
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0 || biased == 0x7ff {
        return (0, 0);
    }
    // real = (2⁵² + fraction) / 2⁵³ · 2^(biased − 1022), the first factor
    // being frexp's q in [0.5, 1); q · 2³¹ = (2⁵² + fraction) / 2²²,
    // rounded half away from zero on the magnitude.
    let mut shift = biased - 1022;
    let mut q = ((1u64 << 52) + fraction + (1 << 21)) >> 22;
    if q == 1 << 31 {
        q /= 2;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    let q = q as i32;
    (if negative { -q } else { q }, shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_and_simple_fractions() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.75), (3 << 29, 0));
        assert_eq!(quantize_multiplier(0.375), (3 << 29, -1));
        assert_eq!(quantize_multiplier(-0.5), (-(1 << 30), 0));
        // 0.1 = 0.8 · 2⁻³; 0.8 · 2³¹ = 1717986918.4 → 1717986918.
        assert_eq!(quantize_multiplier(0.1), (1_717_986_918, -3));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(-0.0), (0, 0));
    }

    #[test]
    fn rounding_of_the_significand() {
        // q = 0.5 + 2⁻³²: q · 2³¹ = 2³⁰ + 0.5, a tie, rounds away → 2³⁰ + 1.
        let tie = 0.5 + 1.0 / 4_294_967_296.0;
        assert_eq!(quantize_multiplier(tie), ((1 << 30) + 1, 0));
        // Just below the tie rounds down.
        let below = 0.5 + 1.0 / 8_589_934_592.0 + 1.0 / 17_179_869_184.0; // 2⁻³³ + 2⁻³⁴
        assert_eq!(quantize_multiplier(below), (1 << 30, 0));
        // q = 1 − 2⁻⁴⁰ rounds up to 2³¹: renormalised to 2³⁰ with shift + 1.
        let almost_one = 1.0 - 1.0 / 1_099_511_627_776.0;
        assert_eq!(quantize_multiplier(almost_one), (1 << 30, 1));
    }

    #[test]
    fn tiny_scales_flush_to_zero() {
        // 2⁻³¹ = 0.5 · 2⁻³⁰ and 2⁻³² = 0.5 · 2⁻³¹ are kept …
        let p31 = 1.0 / 2_147_483_648.0;
        assert_eq!(quantize_multiplier(p31), (1 << 30, -30));
        assert_eq!(quantize_multiplier(p31 / 2.0), (1 << 30, -31));
        // … 2⁻³³ (shift −32) is flushed, as is anything smaller.
        assert_eq!(quantize_multiplier(p31 / 4.0), (0, 0));
        assert_eq!(quantize_multiplier(1e-300), (0, 0));
        assert_eq!(quantize_multiplier(f64::MIN_POSITIVE / 2.0), (0, 0)); // subnormal
    }

    #[test]
    fn huge_scales_and_non_finite() {
        assert_eq!(quantize_multiplier(1_099_511_627_776.0), (1 << 30, 41)); // 2⁴⁰
        assert_eq!(
            quantize_multiplier(3.0 * 1_099_511_627_776.0),
            (3 << 29, 42)
        );
        assert_eq!(quantize_multiplier(f64::MAX), (1 << 30, 1025)); // rounds up
        assert_eq!(quantize_multiplier(f64::INFINITY), (0, 0));
        assert_eq!(quantize_multiplier(f64::NAN), (0, 0));
    }
}
