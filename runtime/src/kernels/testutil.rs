//! Helpers for the kernel tests: seeded random data and a finite-difference
//! gradient check in `f64`.

use crate::init::Rng;

/// Fills `v` with seeded uniform values in `[-1, 1)`.
pub(crate) fn fill(rng: &mut Rng, v: &mut [f64]) {
    for x in v {
        *x = rng.uniform() * 2.0 - 1.0;
    }
}

/// Compares the analytic gradient `grad` of `loss` with respect to the
/// values `slot(point)` with a fourth-order central difference
/// `(8(L(v+h) − L(v−h)) − (L(v+2h) − L(v−2h))) / 12h` for every value.
///
/// Its truncation error is O(h⁴) ≈ 1e-16 and its rounding error about
/// `ε·|L|/h` ≈ 1e-11, so the tolerance can be tight: relative error below
/// 1e-6, with an absolute floor of 1e-9 for gradients that are (nearly) zero.
pub(crate) fn check_grad<P: Clone>(
    what: &str,
    point: &P,
    slot: impl Fn(&mut P) -> &mut [f64],
    loss: impl Fn(&P) -> f64,
    grad: &[f64],
) {
    const H: f64 = 1e-4;
    let mut p = point.clone();
    let n = slot(&mut p).len();
    assert_eq!(n, grad.len(), "{what}: gradient has the wrong length");
    let at = |i: usize, d: f64| {
        let mut q = point.clone();
        slot(&mut q)[i] += d;
        loss(&q)
    };
    for (i, &g) in grad.iter().enumerate() {
        let num = (8.0 * (at(i, H) - at(i, -H)) - (at(i, 2.0 * H) - at(i, -2.0 * H))) / (12.0 * H);
        let err = (g - num).abs();
        let scale = g.abs().max(num.abs());
        assert!(
            err <= 1e-6 * scale + 1e-9,
            "{what}[{i}]: analytic {g:e}, finite difference {num:e} (error {err:e})"
        );
    }
}

/// `Σ r ⊙ y`: a loss whose gradient with respect to `y` is `r`.
pub(crate) fn dot(r: &[f64], y: &[f64]) -> f64 {
    r.iter().zip(y).map(|(a, b)| a * b).sum()
}
