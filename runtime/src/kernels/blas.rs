//! Small vector primitives the kernels share, written so the compiler
//! vectorises them: every reduction keeps [`LANES`] independent partial
//! sums, because float addition is not associative and LLVM will not split
//! a single running sum on its own (a serial chain of adds costs one add
//! latency per element).

use super::recurrent::madd;
use crate::Float;

/// Independent partial sums: one 256-bit register of `f32`, two of `f64`.
pub(crate) const LANES: usize = 8;

/// Partial sums of [`dot`]: two 256-bit registers of `f32`. With 8, LLVM
/// vectorised the sums in 128-bit halves with shuffles under
/// `-C target-cpu=sapphirerapids`, and the batched `Dense` backward ran
/// 1.3× slower than with 16 (its horizontal sums are still not ideal with
/// 16; with AVX2 it now uses `kernels::simd` instead). ([`axpy_dot`] is the
/// other way round: 16 made it 1.8× slower.)
const DOT_LANES: usize = 16;

/// `g += x · d` and, in the same pass over the data, `Σ w_k d_k`: the
/// weight-gradient update and the input-gradient dot product of one column
/// of a `Dense` or `Conv2d` backward.
#[inline(always)]
pub(crate) fn axpy_dot<T: Float>(g: &mut [T], w: &[T], d: &[T], x: T) -> T {
    let mut acc = [T::zero(); LANES];
    let mut cg = g.chunks_exact_mut(LANES);
    let (cw, cd) = (w.chunks_exact(LANES), d.chunks_exact(LANES));
    let (rw, rd) = (cw.remainder(), cd.remainder());
    for ((gs, ws), ds) in (&mut cg).zip(cw).zip(cd) {
        for (((s, gv), &wv), &dv) in acc.iter_mut().zip(gs.iter_mut()).zip(ws).zip(ds) {
            *gv = madd(dv, x, *gv);
            *s = madd(wv, dv, *s);
        }
    }
    let mut tail = T::zero();
    for ((gv, &wv), &dv) in cg.into_remainder().iter_mut().zip(rw).zip(rd) {
        *gv = madd(dv, x, *gv);
        tail = madd(wv, dv, tail);
    }
    reduce(&acc) + tail
}

/// `Σ w_k d_k` with [`DOT_LANES`] partial sums.
#[inline(always)]
pub(crate) fn dot<T: Float>(w: &[T], d: &[T]) -> T {
    let mut acc = [T::zero(); DOT_LANES];
    let (cw, cd) = (w.chunks_exact(DOT_LANES), d.chunks_exact(DOT_LANES));
    let (rw, rd) = (cw.remainder(), cd.remainder());
    for (ws, ds) in cw.zip(cd) {
        for ((s, &wv), &dv) in acc.iter_mut().zip(ws).zip(ds) {
            *s = madd(wv, dv, *s);
        }
    }
    let mut tail = T::zero();
    for (&wv, &dv) in rw.iter().zip(rd) {
        tail = madd(wv, dv, tail);
    }
    reduce(&acc) + tail
}

/// Pairwise sum of the partial sums (any `N`; 0 for `N = 0`).
#[inline(always)]
pub(crate) fn reduce<T: Float, const N: usize>(acc: &[T; N]) -> T {
    // Fold the upper half onto the lower until one value is left: for a
    // power of two each step is one vector add of a register's halves.
    let mut v = *acc;
    let mut n = N;
    while n > 1 {
        let h = n / 2;
        let (lo, hi) = v.split_at_mut(n - h);
        for (a, &b) in lo.iter_mut().zip(hi.iter().take(h)) {
            *a += b;
        }
        n -= h;
    }
    v.first().copied().unwrap_or(T::zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduce_sums_any_length() {
        fn check<const N: usize>() {
            let v: [f64; N] = core::array::from_fn(|k| (k + 1) as f64);
            assert_eq!(reduce(&v), (N * (N + 1) / 2) as f64, "N = {N}");
        }
        check::<0>();
        check::<1>();
        check::<3>();
        check::<6>();
        check::<7>();
        check::<8>();
        check::<16>();
    }

    #[test]
    fn axpy_dot_matches_the_definition() {
        for n in [0usize, 1, 7, 8, 9, 23, 64] {
            let a: [f64; 64] = core::array::from_fn(|k| (k as f64 * 0.37).sin());
            let b: [f64; 64] = core::array::from_fn(|k| (k as f64 * 0.11).cos() - 0.5);
            let want: f64 = (0..n).map(|k| a[k] * b[k]).sum();
            let mut g = [1.0f64; 64];
            let got = axpy_dot(&mut g[..n], &a[..n], &b[..n], 3.0);
            assert!((got - want).abs() < 1e-12, "axpy_dot n={n}");
            for k in 0..n {
                assert!((g[k] - (1.0 + 3.0 * b[k])).abs() < 1e-15, "g[{k}] n={n}");
            }
            assert!(g[n..].iter().all(|&v| v == 1.0), "past n untouched");
        }
    }
}
