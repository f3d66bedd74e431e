//! `MaxPool1d` and `AvgPool1d` over the steps of a sequence `[S, F]` →
//! `[OS, F]`, each feature alone (PyTorch's `MaxPool1d` / `AvgPool1d` on
//! the transposed `[F, S]`): no padding, floor (a ragged end is dropped),
//! and their backward passes.

use super::geometry::{SeqIn, SeqOut, Step, Window};
use crate::{Float, Sequence};
use core::marker::PhantomData;

/// `true` if `v` is NaN.
#[inline(always)]
#[allow(clippy::eq_op)]
fn is_nan<T: Float>(v: T) -> bool {
    v != v
}

/// The window sizes every 1-D pooling kernel relies on.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
const fn assert_windows<const S: usize, const KW: usize, const ST: usize, const OS: usize>() {
    assert!(
        KW > 0 && ST > 0,
        "pool1d: window and stride must be positive"
    );
    assert!(
        OS >= 1 && (OS - 1) * ST + KW <= S,
        "pool1d: windows out of range"
    );
}

/// Max pooling with window `KW` and stride `ST` over the steps; NaN
/// propagates, as in PyTorch.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn max_pool1d<
    T: Float,
    const S: usize,
    const F: usize,
    const KW: usize,
    const ST: usize,
    const OS: usize,
>(
    x: &Sequence<T, S, F>,
) -> Sequence<T, OS, F> {
    let mut y = Sequence::<T, OS, F>::zeros();
    max_pool1d_into::<T, S, F, KW, ST, OS>(x, &mut y);
    y
}

/// [`max_pool1d`] writing its output into `y` (every value is overwritten),
/// for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn max_pool1d_into<
    T: Float,
    const S: usize,
    const F: usize,
    const KW: usize,
    const ST: usize,
    const OS: usize,
>(
    x: &Sequence<T, S, F>,
    y: &mut Sequence<T, OS, F>,
) {
    const { assert_windows::<S, KW, ST, OS>() };
    let xs: &[[T; F]; S] = &x.data.0;
    for (i, yt) in y.data.0.iter_mut().enumerate() {
        let mut m = [T::of_f64(f64::NEG_INFINITY); F];
        for xt in xs.iter().skip(i * ST).take(KW) {
            for (mv, &v) in m.iter_mut().zip(xt) {
                if v > *mv || is_nan(v) {
                    *mv = v;
                }
            }
        }
        *yt = m;
    }
}

/// Average pooling with window `KW` and stride `ST` over the steps.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn avg_pool1d<
    T: Float,
    const S: usize,
    const F: usize,
    const KW: usize,
    const ST: usize,
    const OS: usize,
>(
    x: &Sequence<T, S, F>,
) -> Sequence<T, OS, F> {
    let mut y = Sequence::<T, OS, F>::zeros();
    avg_pool1d_into::<T, S, F, KW, ST, OS>(x, &mut y);
    y
}

/// [`avg_pool1d`] writing its output into `y` (every value is overwritten),
/// for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn avg_pool1d_into<
    T: Float,
    const S: usize,
    const F: usize,
    const KW: usize,
    const ST: usize,
    const OS: usize,
>(
    x: &Sequence<T, S, F>,
    y: &mut Sequence<T, OS, F>,
) {
    const { assert_windows::<S, KW, ST, OS>() };
    let xs: &[[T; F]; S] = &x.data.0;
    let scale = T::one() / T::of_f64(KW as f64);
    for (i, yt) in y.data.0.iter_mut().enumerate() {
        let mut s = [T::zero(); F];
        for xt in xs.iter().skip(i * ST).take(KW) {
            for (sv, &v) in s.iter_mut().zip(xt) {
                *sv += v;
            }
        }
        for (yv, sv) in yt.iter_mut().zip(s) {
            *yv = sv * scale;
        }
    }
}

/// Backward of [`max_pool1d`]: each output's gradient goes to the first
/// step of its window holding the maximum `y` (PyTorch's rule on ties;
/// overlapping windows add up).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn max_pool1d_backward<
    T: Float,
    const S: usize,
    const F: usize,
    const KW: usize,
    const ST: usize,
    const OS: usize,
>(
    x: &Sequence<T, S, F>,
    y: &Sequence<T, OS, F>,
    dy: &Sequence<T, OS, F>,
) -> Sequence<T, S, F> {
    const { assert_windows::<S, KW, ST, OS>() };
    let xs: &[[T; F]; S] = &x.data.0;
    let mut dx = Sequence::<T, S, F>::zeros();
    let dxs: &mut [[T; F]; S] = &mut dx.data.0;
    for (i, (yt, dyt)) in y.data.0.iter().zip(&dy.data.0).enumerate() {
        let mut found = [false; F];
        for t in i * ST..i * ST + KW {
            for f in 0..F {
                let (v, m) = (xs[t][f], yt[f]);
                let hit = !found[f] && (v == m || (is_nan(v) && is_nan(m)));
                if hit {
                    found[f] = true;
                    dxs[t][f] += dyt[f];
                }
            }
        }
    }
    dx
}

/// Backward of [`avg_pool1d`]: each output's gradient spread evenly over
/// its window (`x` and `y` are not needed; taken for symmetry).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn avg_pool1d_backward<
    T: Float,
    const S: usize,
    const F: usize,
    const KW: usize,
    const ST: usize,
    const OS: usize,
>(
    _x: &Sequence<T, S, F>,
    _y: &Sequence<T, OS, F>,
    dy: &Sequence<T, OS, F>,
) -> Sequence<T, S, F> {
    const { assert_windows::<S, KW, ST, OS>() };
    let scale = T::one() / T::of_f64(KW as f64);
    let mut dx = Sequence::<T, S, F>::zeros();
    let dxs: &mut [[T; F]; S] = &mut dx.data.0;
    for (i, dyt) in dy.data.0.iter().enumerate() {
        for dxt in dxs.iter_mut().skip(i * ST).take(KW) {
            for (d, &g) in dxt.iter_mut().zip(dyt) {
                *d += g * scale;
            }
        }
    }
    dx
}

/// Defines a 1-D pooling layer's description type over its geometry.
macro_rules! pool1d_type {
    ($(#[$doc:meta])* $name:ident, $forward:ident, $into:ident, $backward:ident) => {
        $(#[$doc])*
        pub struct $name<I, O, K, S>(PhantomData<(I, O, K, S)>);

        impl<
                const S: usize,
                const F: usize,
                const OS: usize,
                const KW: usize,
                const ST: usize,
            > $name<SeqIn<S, F>, SeqOut<OS, F>, Window<KW>, Step<ST>>
        {
            #[doc = concat!("[`", stringify!($forward), "`].")]
            #[inline(always)]
            pub fn forward<T: Float>(x: &Sequence<T, S, F>) -> Sequence<T, OS, F> {
                $forward::<T, S, F, KW, ST, OS>(x)
            }

            #[doc = concat!("[`", stringify!($into), "`]: the output written into `y`.")]
            #[inline(always)]
            pub fn forward_into<T: Float>(x: &Sequence<T, S, F>, y: &mut Sequence<T, OS, F>) {
                $into::<T, S, F, KW, ST, OS>(x, y)
            }

            #[doc = concat!("[`", stringify!($backward), "`]: `dL/dx` from the input, the output and `dL/dy`.")]
            #[inline(always)]
            pub fn backward<T: Float>(
                x: &Sequence<T, S, F>,
                y: &Sequence<T, OS, F>,
                dy: &Sequence<T, OS, F>,
            ) -> Sequence<T, S, F> {
                $backward::<T, S, F, KW, ST, OS>(x, y, dy)
            }
        }
    };
}

pool1d_type!(
    /// One `MaxPool1d` layer's geometry, e.g.
    /// `MaxPool1d<SeqIn<16, 8>, SeqOut<8, 8>, Window<2>, Step<2>>`.
    MaxPool1d,
    max_pool1d,
    max_pool1d_into,
    max_pool1d_backward
);
pool1d_type!(
    /// One `AvgPool1d` layer's geometry, e.g.
    /// `AvgPool1d<SeqIn<16, 8>, SeqOut<8, 8>, Window<2>, Step<2>>`.
    AvgPool1d,
    avg_pool1d,
    avg_pool1d_into,
    avg_pool1d_backward
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;
    use crate::kernels::testutil::{check_grad, dot, fill};
    use crate::Tensor;

    /// Two features over 7 steps; window 2, stride 2 drops step 6 (100,
    /// larger than everything: it must not appear).
    /// a = [1, 9, 2, 2, 7, 3, 100], b = [−1, −2, 5, 4, 0, 0, 100].
    fn seq() -> Sequence<f64, 7, 2> {
        let a = [1.0, 9.0, 2.0, 2.0, 7.0, 3.0, 100.0];
        let b = [-1.0, -2.0, 5.0, 4.0, 0.0, 0.0, 100.0];
        Sequence::from_fn(|f, t| if f == 0 { a[t] } else { b[t] })
    }

    #[test]
    fn pools_by_hand() {
        let x = seq();
        let m = max_pool1d::<f64, 7, 2, 2, 2, 3>(&x);
        assert_eq!(m.as_slice(), &[9.0, -1.0, 2.0, 5.0, 7.0, 0.0]);
        let a = avg_pool1d::<f64, 7, 2, 2, 2, 3>(&x);
        assert_eq!(a.as_slice(), &[5.0, -1.5, 2.0, 4.5, 5.0, 0.0]);
        // Window 3, stride 2: steps {0,1,2}, {2,3,4}, {4,5,6}.
        let m3 = max_pool1d::<f64, 7, 2, 3, 2, 3>(&x);
        assert_eq!(m3.as_slice(), &[9.0, 5.0, 7.0, 5.0, 100.0, 100.0]);
        // Ties go to the first maximum: a[2] = a[3] = 2, b[4] = b[5] = 0.
        let dy = Sequence::<f64, 3, 2>::from_fn(|f, i| (10 * i + f + 1) as f64);
        let dx = max_pool1d_backward::<f64, 7, 2, 2, 2, 3>(&x, &m, &dy);
        let want_a = [0.0, 1.0, 11.0, 0.0, 21.0, 0.0, 0.0];
        let want_b = [2.0, 0.0, 12.0, 0.0, 22.0, 0.0, 0.0];
        for t in 0..7 {
            assert_eq!((dx[(0, t)], dx[(1, t)]), (want_a[t], want_b[t]), "step {t}");
        }
    }

    #[test]
    fn pool1d_backward_matches_finite_differences() {
        let mut rng = Rng::new(5);
        let mut x = Sequence::<f64, 9, 3>::zeros();
        fill(&mut rng, x.as_flat_mut());
        let mut r = Sequence::<f64, 4, 3>::zeros();
        fill(&mut rng, r.as_flat_mut());
        // window 3, stride 2 (overlapping): OS = (9 − 3) / 2 + 1 = 4.
        let m = max_pool1d::<f64, 9, 3, 3, 2, 4>(&x);
        let dx = max_pool1d_backward::<f64, 9, 3, 3, 2, 4>(&x, &m, &r);
        let loss = |q: &Sequence<f64, 9, 3>| {
            dot(r.as_flat(), max_pool1d::<f64, 9, 3, 3, 2, 4>(q).as_flat())
        };
        check_grad("max_pool1d", &x, |q| q.as_flat_mut(), loss, dx.as_flat());
        let a = avg_pool1d::<f64, 9, 3, 3, 2, 4>(&x);
        let dx = avg_pool1d_backward::<f64, 9, 3, 3, 2, 4>(&x, &a, &r);
        let loss = |q: &Sequence<f64, 9, 3>| {
            dot(r.as_flat(), avg_pool1d::<f64, 9, 3, 3, 2, 4>(q).as_flat())
        };
        check_grad("avg_pool1d", &x, |q| q.as_flat_mut(), loss, dx.as_flat());
    }
}
