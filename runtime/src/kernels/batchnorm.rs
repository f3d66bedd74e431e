//! `BatchNorm` in evaluation mode (PyTorch's `eval()`): the stored running
//! statistics normalise each channel of an image, or each feature of a
//! vector or of every step of a sequence:
//!
//! ```text
//! x̂ = (x − running_mean) / √(running_var + ε),   y = γ x̂ + β
//! ```
//!
//! Backward with the statistics frozen: `dx = γ/√(var + ε) · dy`,
//! `dγ = Σ dy ⊙ x̂`, `dβ = Σ dy`, the sums over the pixels or steps of the
//! channel. A vector is the one-step case of the sequence kernels
//! (`SVector<T, C>` is `SMatrix<T, C, 1>`). The running statistics are
//! never written here: training-mode BatchNorm (batch statistics) is a
//! later issue.

use super::ChannelAffine;
use crate::{BatchNormParams, Float, Image};
use nalgebra::SMatrix;

/// Channel `c`'s `(1/√(running_var + ε), running_mean)`.
#[inline]
fn channel<T: Float, const C: usize>(p: &BatchNormParams<T, C>, eps: T, c: usize) -> (T, T) {
    let inv = T::one() / (p.running_var[c] + eps).sqrt();
    (inv, p.running_mean[c])
}

/// Evaluation-mode BatchNorm of a sequence `[S, C]` (or, with `S = 1`, a
/// vector `[C]`): feature `c` of every step is normalised by channel `c`'s
/// statistics.
#[inline]
pub fn batchnorm<T: Float, const C: usize, const S: usize>(
    p: &BatchNormParams<T, C>,
    x: &SMatrix<T, C, S>,
    eps: T,
) -> SMatrix<T, C, S> {
    let mut y = SMatrix::<T, C, S>::zeros();
    batchnorm_into(p, x, eps, &mut y);
    y
}

/// [`batchnorm`] written into `y`, for recording straight into a tape.
#[inline]
pub fn batchnorm_into<T: Float, const C: usize, const S: usize>(
    p: &BatchNormParams<T, C>,
    x: &SMatrix<T, C, S>,
    eps: T,
    y: &mut SMatrix<T, C, S>,
) {
    for c in 0..C {
        let (inv, mean) = channel(p, eps, c);
        let (g, b) = (p.weight[c], p.bias[c]);
        for t in 0..S {
            y[(c, t)] = (x[(c, t)] - mean) * inv * g + b;
        }
    }
}

/// Evaluation-mode BatchNorm of an image `[C, H, W]`, per channel.
#[inline]
pub fn batchnorm_image<T: Float, const C: usize, const H: usize, const W: usize>(
    p: &BatchNormParams<T, C>,
    x: &Image<T, C, H, W>,
    eps: T,
) -> Image<T, C, H, W> {
    let mut y = [[[T::zero(); W]; H]; C];
    batchnorm_image_into(p, x, eps, &mut y);
    y
}

/// [`batchnorm_image`] written into `y`, for recording straight into a
/// tape.
#[inline]
pub fn batchnorm_image_into<T: Float, const C: usize, const H: usize, const W: usize>(
    p: &BatchNormParams<T, C>,
    x: &Image<T, C, H, W>,
    eps: T,
    y: &mut Image<T, C, H, W>,
) {
    for c in 0..C {
        let (inv, mean) = channel(p, eps, c);
        let (g, b) = (p.weight[c], p.bias[c]);
        for (yr, xr) in y[c].iter_mut().zip(&x[c]) {
            for (yv, &xv) in yr.iter_mut().zip(xr) {
                *yv = (xv - mean) * inv * g + b;
            }
        }
    }
}

/// Backward of [`batchnorm`]: adds `dγ = Σ dy ⊙ x̂` and `dβ = Σ dy` into
/// `grads` and returns `dx = γ/√(var + ε) · dy`.
#[inline]
pub fn batchnorm_backward<T: Float, const C: usize, const S: usize>(
    p: &BatchNormParams<T, C>,
    x: &SMatrix<T, C, S>,
    dy: &SMatrix<T, C, S>,
    grads: &mut BatchNormParams<T, C>,
    eps: T,
) -> SMatrix<T, C, S> {
    batchnorm_backward_params(p, x, dy, grads, eps);
    let mut dx = SMatrix::<T, C, S>::zeros();
    for c in 0..C {
        let (inv, _) = channel(p, eps, c);
        let scale = p.weight[c] * inv;
        for t in 0..S {
            dx[(c, t)] = scale * dy[(c, t)];
        }
    }
    dx
}

/// The parameter gradients of [`batchnorm_backward`] alone (no `dx`).
#[inline]
pub fn batchnorm_backward_params<T: Float, const C: usize, const S: usize>(
    p: &BatchNormParams<T, C>,
    x: &SMatrix<T, C, S>,
    dy: &SMatrix<T, C, S>,
    grads: &mut BatchNormParams<T, C>,
    eps: T,
) {
    for c in 0..C {
        let (inv, mean) = channel(p, eps, c);
        let (mut dg, mut db) = (T::zero(), T::zero());
        for t in 0..S {
            let d = dy[(c, t)];
            dg += d * ((x[(c, t)] - mean) * inv);
            db += d;
        }
        grads.weight[c] += dg;
        grads.bias[c] += db;
    }
}

/// Backward of [`batchnorm_image`]; see [`batchnorm_backward`].
#[inline]
pub fn batchnorm_image_backward<T: Float, const C: usize, const H: usize, const W: usize>(
    p: &BatchNormParams<T, C>,
    x: &Image<T, C, H, W>,
    dy: &Image<T, C, H, W>,
    grads: &mut BatchNormParams<T, C>,
    eps: T,
) -> Image<T, C, H, W> {
    batchnorm_image_backward_params(p, x, dy, grads, eps);
    let mut dx = [[[T::zero(); W]; H]; C];
    for c in 0..C {
        let (inv, _) = channel(p, eps, c);
        let scale = p.weight[c] * inv;
        for (dr, yr) in dx[c].iter_mut().zip(&dy[c]) {
            for (d, &g) in dr.iter_mut().zip(yr) {
                *d = scale * g;
            }
        }
    }
    dx
}

/// The parameter gradients of [`batchnorm_image_backward`] alone.
#[inline]
pub fn batchnorm_image_backward_params<T: Float, const C: usize, const H: usize, const W: usize>(
    p: &BatchNormParams<T, C>,
    x: &Image<T, C, H, W>,
    dy: &Image<T, C, H, W>,
    grads: &mut BatchNormParams<T, C>,
    eps: T,
) {
    for c in 0..C {
        let (inv, mean) = channel(p, eps, c);
        let (mut dg, mut db) = (T::zero(), T::zero());
        for (xr, yr) in x[c].iter().zip(&dy[c]) {
            for (&xv, &d) in xr.iter().zip(yr) {
                dg += d * ((xv - mean) * inv);
                db += d;
            }
        }
        grads.weight[c] += dg;
        grads.bias[c] += db;
    }
}

/// Evaluation-mode BatchNorm as a per-channel affine map, for a kernel to
/// apply in its own output loop ([`AffineThen`](super::AffineThen)):
/// `scale_c = γ_c / √(running_var_c + ε)`, `shift_c = β_c − scale_c ·
/// running_mean_c`, so that `y = scale_c · x + shift_c` is
/// [`batchnorm`]'s `γ (x − mean)/√(var + ε) + β` (PyTorch's CPU kernel
/// computes its eval mode in this same form). `O(C)`: computed once per
/// forward, never per value. A bias of the layer before stays in that
/// layer's sums: `scale · (Σ w·x + b) + shift`.
#[inline]
pub fn batchnorm_affine<T: Float, const C: usize>(
    p: &BatchNormParams<T, C>,
    eps: T,
) -> ChannelAffine<T, C> {
    let mut affine = ChannelAffine {
        scale: [T::zero(); C],
        shift: [T::zero(); C],
    };
    for c in 0..C {
        let (inv, mean) = channel(p, eps, c);
        let scale = p.weight[c] * inv;
        affine.scale[c] = scale;
        affine.shift[c] = p.bias[c] - scale * mean;
    }
    affine
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;
    use crate::kernels::testutil::{check_grad, dot, fill};

    /// Channel statistics chosen so that √(var + ε) is exact: var + ε = 4
    /// and 0.25.
    fn hand_params() -> BatchNormParams<f64, 2> {
        let mut p = BatchNormParams::<f64, 2>::zeros();
        p.weight = [3.0, -1.0].into();
        p.bias = [0.5, 2.0].into();
        p.running_mean = [1.0, -2.0].into();
        p.running_var = [4.0 - 0.5, 0.25 - 0.5].into();
        p
    }

    #[test]
    fn eval_by_hand() {
        // eps = 0.5: channel 0 divides by √4 = 2, channel 1 by √0.25 = 0.5
        // (a negative stored variance is allowed as long as var + ε > 0).
        let p = hand_params();
        // [S, C] = [2, 2]; x[t] = (x_c0, x_c1).
        let x = SMatrix::<f64, 2, 2>::from_columns(&[[5.0, -1.0].into(), [1.0, -2.5].into()]);
        let y = batchnorm::<f64, 2, 2>(&p, &x, 0.5);
        // c0: 3·(5−1)/2 + 0.5 = 6.5; 3·(1−1)/2 + 0.5 = 0.5.
        // c1: −1·(−1+2)/0.5 + 2 = 0; −1·(−2.5+2)/0.5 + 2 = 3.
        assert_eq!(y.as_slice(), &[6.5, 0.0, 0.5, 3.0]);

        // dy = 1 everywhere: dx = γ/√(var+ε) = (1.5, −2); dγ = Σ x̂ =
        // (2 + 0, 2 + −1) = (2, 1); dβ = (2, 2).
        let dy = SMatrix::<f64, 2, 2>::repeat(1.0);
        let mut g = BatchNormParams::<f64, 2>::zeros();
        let dx = batchnorm_backward::<f64, 2, 2>(&p, &x, &dy, &mut g, 0.5);
        assert_eq!(dx.as_slice(), &[1.5, -2.0, 1.5, -2.0]);
        assert_eq!(g.weight.as_slice(), &[2.0, 1.0]);
        assert_eq!(g.bias.as_slice(), &[2.0, 2.0]);
        assert_eq!(g.running_mean.as_slice(), &[0.0, 0.0]);
        assert_eq!(g.running_var.as_slice(), &[0.0, 0.0]);
    }

    #[test]
    fn image_by_hand() {
        let p = hand_params();
        let x = [[[5.0, 1.0]], [[-1.0, -2.5]]];
        let y = batchnorm_image::<f64, 2, 1, 2>(&p, &x, 0.5);
        assert_eq!(y, [[[6.5, 0.5]], [[0.0, 3.0]]]);
        let dy = [[[1.0, 2.0]], [[1.0, 0.0]]];
        let mut g = BatchNormParams::<f64, 2>::zeros();
        let dx = batchnorm_image_backward::<f64, 2, 1, 2>(&p, &x, &dy, &mut g, 0.5);
        assert_eq!(dx, [[[1.5, 3.0]], [[-2.0, 0.0]]]);
        // dγ0 = 1·2 + 2·0 = 2; dγ1 = 1·(−1)·... x̂1 = (−1+2)/0.5 = 2 → 1·2 = 2.
        assert_eq!(g.weight.as_slice(), &[2.0, 2.0]);
        assert_eq!(g.bias.as_slice(), &[3.0, 1.0]);
    }

    fn random_params(rng: &mut Rng) -> BatchNormParams<f64, 3> {
        let mut p = BatchNormParams::<f64, 3>::zeros();
        fill(rng, p.weight.as_mut_slice());
        fill(rng, p.bias.as_mut_slice());
        fill(rng, p.running_mean.as_mut_slice());
        fill(rng, p.running_var.as_mut_slice());
        p.running_var.apply(|v| *v = 0.5 + v.abs());
        p
    }

    #[test]
    fn sequence_gradients_match_finite_differences() {
        const EPS: f64 = 1e-3;
        let mut rng = Rng::new(11);
        let p = random_params(&mut rng);
        let mut x = SMatrix::<f64, 3, 4>::zeros();
        fill(&mut rng, x.as_mut_slice());
        let mut r = SMatrix::<f64, 3, 4>::zeros();
        fill(&mut rng, r.as_mut_slice());
        let mut g = BatchNormParams::<f64, 3>::zeros();
        let dx = batchnorm_backward::<f64, 3, 4>(&p, &x, &r, &mut g, EPS);
        let loss = |p: &BatchNormParams<f64, 3>, x: &SMatrix<f64, 3, 4>| {
            dot(r.as_slice(), batchnorm::<f64, 3, 4>(p, x, EPS).as_slice())
        };
        check_grad(
            "dx",
            &x,
            |x| x.as_mut_slice(),
            |x| loss(&p, x),
            dx.as_slice(),
        );
        check_grad(
            "dγ",
            &p,
            |p| p.weight.as_mut_slice(),
            |p| loss(p, &x),
            g.weight.as_slice(),
        );
        check_grad(
            "dβ",
            &p,
            |p| p.bias.as_mut_slice(),
            |p| loss(p, &x),
            g.bias.as_slice(),
        );
        let mut g2 = BatchNormParams::<f64, 3>::zeros();
        batchnorm_backward_params::<f64, 3, 4>(&p, &x, &r, &mut g2, EPS);
        assert_eq!(g, g2);
    }

    #[test]
    fn image_gradients_match_finite_differences() {
        const EPS: f64 = 1e-5;
        let mut rng = Rng::new(12);
        let p = random_params(&mut rng);
        let mut x = [[[0.0; 4]; 2]; 3];
        fill(&mut rng, x.as_flattened_mut().as_flattened_mut());
        let mut r = [[[0.0; 4]; 2]; 3];
        fill(&mut rng, r.as_flattened_mut().as_flattened_mut());
        let mut g = BatchNormParams::<f64, 3>::zeros();
        let dx = batchnorm_image_backward::<f64, 3, 2, 4>(&p, &x, &r, &mut g, EPS);
        let flat = |v: &Image<f64, 3, 2, 4>| v.as_flattened().as_flattened().to_vec();
        let loss = |p: &BatchNormParams<f64, 3>, x: &Image<f64, 3, 2, 4>| {
            dot(
                &flat(&r),
                &flat(&batchnorm_image::<f64, 3, 2, 4>(p, x, EPS)),
            )
        };
        check_grad(
            "dx",
            &x,
            |x| x.as_flattened_mut().as_flattened_mut(),
            |x| loss(&p, x),
            &flat(&dx),
        );
        check_grad(
            "dγ",
            &p,
            |p| p.weight.as_mut_slice(),
            |p| loss(p, &x),
            g.weight.as_slice(),
        );
        check_grad(
            "dβ",
            &p,
            |p| p.bias.as_mut_slice(),
            |p| loss(p, &x),
            g.bias.as_slice(),
        );
        let mut g2 = BatchNormParams::<f64, 3>::zeros();
        batchnorm_image_backward_params::<f64, 3, 2, 4>(&p, &x, &r, &mut g2, EPS);
        assert_eq!(g, g2);
    }

    #[test]
    fn affine_by_hand() {
        // hand_params with eps = 0.5: scale = γ/√(var + ε) = (3/2, −1/0.5)
        // = (1.5, −2); shift = β − scale·mean = (0.5 − 1.5, 2 − 4) = (−1, −2).
        let a = batchnorm_affine::<f64, 2>(&hand_params(), 0.5);
        assert_eq!(a.scale, [1.5, -2.0]);
        assert_eq!(a.shift, [-1.0, -2.0]);
        // The values of `eval_by_hand`: 1.5·5 − 1 = 6.5, −2·(−2.5) − 2 = 3.
        assert_eq!((a.map(0, 5.0), a.map(1, -2.5)), (6.5, 3.0));
    }
}
