//! The kernel tests' one helper module: seeded random data, comparisons
//! with a tolerance, the finite-difference gradient checks in `f64`, and
//! the recurrent layers' random parameters, upstream gradients and
//! f32-against-f64 comparisons.

use crate::init::Rng;
use crate::{Float, RecurrentParams};
use nalgebra::SMatrix;

/// Fills `v` with seeded uniform values in `[-1, 1)`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn dot(r: &[f64], y: &[f64]) -> f64 {
    r.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Asserts `got ≈ want` elementwise: `|got − want| ≤ tol`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn close<T: Float>(got: &[T], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g.to_f64() - w).abs() <= tol, "[{i}]: got {g:?}, want {w}");
    }
}

/// Asserts `got ≈ want` elementwise relative to `max(|want|, 1)`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn close_rel<T: Float>(got: &[T], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g.to_f64() - w).abs() <= tol * w.abs().max(1.0),
            "[{i}]: got {g:?}, want {w}"
        );
    }
}

// The recurrent layers' checks.

/// Uniform in `[-0.6, 0.6)`: large enough that every nonlinearity is
/// curved, small enough that none saturates.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
fn fill_gentle(rng: &mut Rng, out: &mut [f64]) {
    for v in out {
        *v = 1.2 * rng.uniform() - 0.6;
    }
}

/// Random parameters (biases too, so bias gradients are exercised).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn random_params<const F: usize, const H: usize, const GH: usize>(
    seed: u64,
) -> RecurrentParams<f64, F, H, GH> {
    let mut rng = Rng::new(seed);
    let mut p = RecurrentParams::<f64, F, H, GH>::zeros();
    fill_gentle(&mut rng, p.weight_ih.as_mut_slice());
    fill_gentle(&mut rng, p.weight_hh.as_mut_slice());
    fill_gentle(&mut rng, p.bias_ih.as_mut_slice());
    fill_gentle(&mut rng, p.bias_hh.as_mut_slice());
    p
}

/// A random input sequence `[S, F]`, values in `[-1.5, 1.5)`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn random_seq<const F: usize, const S: usize>(seed: u64) -> SMatrix<f64, F, S> {
    let mut rng = Rng::new(seed);
    SMatrix::from_fn(|_, _| 3.0 * rng.uniform() - 1.5)
}

/// Which outputs the loss uses.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loss {
    /// `L = Σ_t R_t · h_t` with random `R` (`return_sequences = true`).
    AllStates,
    /// `L = r · h_S` (`return_sequences = false`): `dy` is zero except its
    /// last column.
    LastState,
}

/// `dL/dh` for the loss: the weights `R` of `L = Σ R ⊙ h`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn upstream<const H: usize, const S: usize>(
    loss: Loss,
    seed: u64,
) -> SMatrix<f64, H, S> {
    let mut rng = Rng::new(seed);
    SMatrix::from_fn(|_, t| {
        let v = 2.0 * rng.uniform() - 1.0;
        match loss {
            Loss::AllStates => v,
            Loss::LastState if t + 1 == S => v,
            Loss::LastState => 0.0,
        }
    })
}

/// `|a − n| ≤ 1e-6 · max(|a|, |n|, 1e-3)`: relative error under 1e-6, with
/// a floor so gradients that are (near) zero are compared absolutely.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
fn assert_grad(what: &str, index: usize, analytic: f64, numeric: f64) {
    let scale = analytic.abs().max(numeric.abs()).max(1e-3);
    let err = (analytic - numeric).abs() / scale;
    assert!(
        err < 1e-6,
        "{what}[{index}]: backward {analytic:e}, finite differences {numeric:e} (rel. error {err:e})"
    );
}

/// Compares the analytic gradients `g` (parameters) and `dx` (input) of
/// `L(p, x) = Σ dy ⊙ forward(p, x)` with central finite differences, on
/// every parameter and every input value.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn finite_differences<
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<f64, F, H, GH>,
    x: &SMatrix<f64, F, S>,
    dy: &SMatrix<f64, H, S>,
    g: &RecurrentParams<f64, F, H, GH>,
    dx: &SMatrix<f64, F, S>,
    forward: impl Fn(&RecurrentParams<f64, F, H, GH>, &SMatrix<f64, F, S>) -> SMatrix<f64, H, S>,
) {
    const EPS: f64 = 1e-5;
    let loss = |p: &RecurrentParams<f64, F, H, GH>, x: &SMatrix<f64, F, S>| {
        forward(p, x).component_mul(dy).sum()
    };
    let mut q = p.clone();
    let mut g = g.clone();
    for field in 0..4 {
        let n = fields(&mut q)[field].1.len();
        for j in 0..n {
            let orig = fields(&mut q)[field].1[j];
            fields(&mut q)[field].1[j] = orig + EPS;
            let up = loss(&q, x);
            fields(&mut q)[field].1[j] = orig - EPS;
            let down = loss(&q, x);
            fields(&mut q)[field].1[j] = orig;
            let (name, analytic) = &fields(&mut g)[field];
            assert_grad(name, j, analytic[j], (up - down) / (2.0 * EPS));
        }
    }
    let mut xq = *x;
    for j in 0..F * S {
        let orig = xq.as_slice()[j];
        xq.as_mut_slice()[j] = orig + EPS;
        let up = loss(p, &xq);
        xq.as_mut_slice()[j] = orig - EPS;
        let down = loss(p, &xq);
        xq.as_mut_slice()[j] = orig;
        assert_grad("x", j, dx.as_slice()[j], (up - down) / (2.0 * EPS));
    }
}

/// The four parameter tensors by PyTorch name, as flat slices.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
fn fields<const F: usize, const H: usize, const GH: usize>(
    p: &mut RecurrentParams<f64, F, H, GH>,
) -> [(&'static str, &mut [f64]); 4] {
    [
        ("weight_ih", p.weight_ih.as_mut_slice()),
        ("weight_hh", p.weight_hh.as_mut_slice()),
        ("bias_ih", p.bias_ih.as_mut_slice()),
        ("bias_hh", p.bias_hh.as_mut_slice()),
    ]
}

/// The same parameters in `f32`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn to_f32<const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<f64, F, H, GH>,
) -> RecurrentParams<f32, F, H, GH> {
    RecurrentParams {
        weight_ih: p.weight_ih.map(|v| v as f32),
        weight_hh: p.weight_hh.map(|v| v as f32),
        bias_ih: p.bias_ih.map(|v| v as f32),
        bias_hh: p.bias_hh.map(|v| v as f32),
    }
}

/// Asserts that an `f32` result matches the `f64` one to `tol` relative to
/// the largest magnitude (the f32 kernels use approximate activations and
/// FMA where available; the f64 ones are the reference).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn assert_close32<const R: usize, const C: usize>(
    what: &str,
    got: &SMatrix<f32, R, C>,
    want: &SMatrix<f64, R, C>,
    tol: f64,
) {
    let scale = want.amax().max(1e-3);
    for (k, (&a, &b)) in got.iter().zip(want.iter()).enumerate() {
        let err = (a as f64 - b).abs() / scale;
        assert!(err < tol, "{what}[{k}]: f32 {a}, f64 {b}");
    }
}

/// [`assert_close32`] on every parameter gradient.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn assert_params_close32<const F: usize, const H: usize, const GH: usize>(
    got: &RecurrentParams<f32, F, H, GH>,
    want: &RecurrentParams<f64, F, H, GH>,
    tol: f64,
) {
    assert_close32("weight_ih", &got.weight_ih, &want.weight_ih, tol);
    assert_close32("weight_hh", &got.weight_hh, &want.weight_hh, tol);
    assert_close32("bias_ih", &got.bias_ih, &want.bias_ih, tol);
    assert_close32("bias_hh", &got.bias_hh, &want.bias_hh, tol);
}
