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
//! (`SVector<T, C>` is `SMatrix<T, C, 1>`).
//!
//! Training mode (batch statistics, the layer-major training forward) is
//! the second half of the file, from [`Channels`] on.

use super::ChannelAffine;
use crate::{BatchNormParams, Float, Image};
use nalgebra::SMatrix;

/// Channel `c`'s `(1/√(running_var + ε), running_mean)`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
fn channel<T: Float, const C: usize>(p: &BatchNormParams<T, C>, eps: T, c: usize) -> (T, T) {
    let inv = T::one() / (p.running_var[c] + eps).sqrt();
    (inv, p.running_mean[c])
}

/// Evaluation-mode BatchNorm of a sequence `[S, C]` (or, with `S = 1`, a
/// vector `[C]`): feature `c` of every step is normalised by channel `c`'s
/// statistics.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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

// Training mode (PyTorch's `train()`), layer-major over a batch of N
// samples: the statistics of channel `c` are taken over its N·S values
// (S pixels of an image, S steps of a sequence, S = 1 for a vector):
//
//     μ = mean x,  σ² = mean (x − μ)² (biased),  x̂ = (x − μ)/√(σ² + ε),
//     y = γ x̂ + β;
//     dγ = Σ dy ⊙ x̂,  dβ = Σ dy,
//     dx = γ/(n √(σ² + ε)) · (n dy − Σ dy − x̂ Σ(dy ⊙ x̂)),  n = N·S;
//
// the running statistics become `(1 − m)·running + m·batch`, with the
// unbiased variance `σ²·n/(n − 1)`. The generated layer-major forward
// computes the statistics over its tapes ([`batchnorm_batch_stats`]),
// normalises each sample with them ([`batchnorm_train_into`]) and records
// them in every sample's tape; the backward sums `Σ dy` and `Σ dy ⊙ x̂`
// over the batch ([`batchnorm_grad_sums`]) before any `dx`
// ([`batchnorm_train_backward`]); [`batchnorm_update_running`] applies the
// running-statistics update after the step. Frozen (eval statistics while
// training, for fine-tuning), the same calls use the running statistics
// and the backward is the eval one.

/// Where the values of each of `C` channels lie in a tensor's flat
/// (PyTorch) order: an image `[C, H, W]` holds channel `c` contiguously, a
/// sequence `[S, C]` (or a vector, S = 1) one value of it per step.
pub trait Channels<T: Float, const C: usize>: crate::Tensor<T> {
    /// Values per channel and sample (S).
    const PER_CHANNEL: usize;
    /// The flat index of value `i` (`< PER_CHANNEL`) of channel `c`.
    fn flat_index(c: usize, i: usize) -> usize;
    /// Whether channel `c` is the contiguous run `c·PER_CHANNEL..` of the
    /// flat order (an image's plane), so the kernels can walk it as one
    /// slice: contiguous vector loads and 8 partial sums instead of a
    /// serial sum per channel.
    const CHANNEL_MAJOR: bool = false;
}

/// Channel `c` of the flat values `x` of a channel-major tensor.
#[inline(always)]
fn plane<T>(x: &[T], c: usize, n: usize) -> &[T] {
    x.get(c * n..).and_then(|x| x.get(..n)).unwrap_or(&[])
}

/// Channel `c` of the flat values `x` of a channel-major tensor, mutable.
#[inline(always)]
fn plane_mut<T>(x: &mut [T], c: usize, n: usize) -> &mut [T] {
    x.get_mut(c * n..)
        .and_then(|x| x.get_mut(..n))
        .unwrap_or(&mut [])
}

/// `(Σ f(x_k, y_k), Σ g(x_k, y_k))` over two slices with
/// [`LANES`](super::blas) partial sums each: the per-channel reductions
/// of BatchNorm's statistics and gradients, vectorised along the plane.
#[inline(always)]
fn sums2<T: Float>(x: &[T], y: &[T], f: impl Fn(T, T) -> (T, T)) -> (T, T) {
    const L: usize = super::blas::LANES;
    let (mut a, mut b) = ([T::zero(); L], [T::zero(); L]);
    let (cx, cy) = (x.chunks_exact(L), y.chunks_exact(L));
    let (rx, ry) = (cx.remainder(), cy.remainder());
    for (xs, ys) in cx.zip(cy) {
        for (((av, bv), &xv), &yv) in a.iter_mut().zip(b.iter_mut()).zip(xs).zip(ys) {
            let (u, v) = f(xv, yv);
            *av += u;
            *bv += v;
        }
    }
    let (mut ta, mut tb) = (T::zero(), T::zero());
    for (&xv, &yv) in rx.iter().zip(ry) {
        let (u, v) = f(xv, yv);
        ta += u;
        tb += v;
    }
    (super::blas::reduce(&a) + ta, super::blas::reduce(&b) + tb)
}

impl<T: Float, const C: usize, const S: usize> Channels<T, C> for SMatrix<T, C, S> {
    const PER_CHANNEL: usize = S;
    #[inline(always)]
    fn flat_index(c: usize, i: usize) -> usize {
        i * C + c
    }
}

impl<T: Float, const C: usize, const H: usize, const W: usize> Channels<T, C>
    for Image<T, C, H, W>
{
    const PER_CHANNEL: usize = H * W;
    #[inline(always)]
    fn flat_index(c: usize, i: usize) -> usize {
        c * (H * W) + i
    }
    const CHANNEL_MAJOR: bool = true;
}

/// The statistics a training forward normalised one `BatchNorm` with,
/// recorded in each sample's tape: the batch's mean and biased variance
/// and its `count` of values per channel (N·S), or, frozen, the running
/// statistics and a count of 0.
///
/// Not `Copy`, like the recurrent layers' tape records: a tape field is
/// a [`TapeRecord`](super::TapeRecord), and the tensors' blanket
/// implementation of it covers the `Copy` types.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormStats<T: Float, const C: usize> {
    /// Per channel: the batch mean (or `running_mean`).
    pub mean: [T; C],
    /// Per channel: the biased batch variance (or `running_var`).
    pub var: [T; C],
    /// Values per channel in the batch (N·S); 0 for the running statistics.
    pub count: usize,
}

impl<T: Float, const C: usize> BatchNormStats<T, C> {
    /// Whether these are a batch's statistics (not the frozen running ones).
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    pub fn is_batch(&self) -> bool {
        self.count > 0
    }
}

impl<T: Float, const C: usize> super::TapeRecord<T> for BatchNormStats<T, C> {
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
    fn zeroed() -> Self {
        BatchNormStats {
            mean: [T::zero(); C],
            var: [T::zero(); C],
            count: 0,
        }
    }
}

// SAFETY: the fields are two arrays of `T: Zeroable` and a `usize`, all
// valid when all-zero.
unsafe impl<T: Float + crate::Zeroable, const C: usize> crate::Zeroable for BatchNormStats<T, C> {}

/// The running statistics as [`BatchNormStats`] (count 0): what a frozen
/// `BatchNorm` normalises with.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn batchnorm_running_stats<T: Float, const C: usize>(
    p: &BatchNormParams<T, C>,
) -> BatchNormStats<T, C> {
    let mut s = <BatchNormStats<T, C> as super::TapeRecord<T>>::zeroed();
    s.mean.copy_from_slice(p.running_mean.as_slice());
    s.var.copy_from_slice(p.running_var.as_slice());
    s
}

/// The batch statistics of the samples `xs` (every one's values of each
/// channel): mean, then the biased variance in a second pass (two passes,
/// as exact in `f64` as PyTorch's). `None` if a channel has fewer than two
/// values in the batch (N·S < 2), which PyTorch refuses too ("Expected more
/// than 1 value per channel when training").
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn batchnorm_batch_stats<'a, T, X, const C: usize>(
    xs: impl Iterator<Item = &'a X> + Clone,
) -> Option<BatchNormStats<T, C>>
where
    T: Float,
    X: Channels<T, C> + 'a,
{
    let mut s = <BatchNormStats<T, C> as super::TapeRecord<T>>::zeroed();
    let mut samples = 0usize;
    for x in xs.clone() {
        let x = x.as_flat();
        for (c, m) in s.mean.iter_mut().enumerate() {
            if X::CHANNEL_MAJOR {
                let xc = plane(x, c, X::PER_CHANNEL);
                *m += super::blas::sum_by(xc, |v| v);
                continue;
            }
            for i in 0..X::PER_CHANNEL {
                *m += x[X::flat_index(c, i)];
            }
        }
        samples += 1;
    }
    let count = samples * X::PER_CHANNEL;
    if count < 2 {
        return None;
    }
    let n = T::of_f64(count as f64);
    for m in s.mean.iter_mut() {
        *m /= n;
    }
    for x in xs {
        let x = x.as_flat();
        for (c, v) in s.var.iter_mut().enumerate() {
            let m = s.mean[c];
            if X::CHANNEL_MAJOR {
                let xc = plane(x, c, X::PER_CHANNEL);
                *v += super::blas::sum_by(xc, |x| (x - m) * (x - m));
                continue;
            }
            for i in 0..X::PER_CHANNEL {
                let d = x[X::flat_index(c, i)] - m;
                *v += d * d;
            }
        }
    }
    for v in s.var.iter_mut() {
        *v /= n;
    }
    s.count = count;
    Some(s)
}

/// `1/√(σ²_c + ε)` of channel `c` of `s`.
#[inline(always)]
fn inv_std<T: Float, const C: usize>(s: &BatchNormStats<T, C>, eps: T, c: usize) -> T {
    T::one() / (s.var[c] + eps).sqrt()
}

/// `y = γ (x − μ)/√(σ² + ε) + β` per channel, with the statistics `s`
/// (the batch's or the running ones), written into `y`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn batchnorm_train_into<T: Float, X: Channels<T, C>, const C: usize>(
    p: &BatchNormParams<T, C>,
    s: &BatchNormStats<T, C>,
    x: &X,
    eps: T,
    y: &mut X,
) {
    let (x, y) = (x.as_flat(), y.as_flat_mut());
    for c in 0..C {
        let (inv, m) = (inv_std(s, eps, c), s.mean[c]);
        let (g, b) = (p.weight[c], p.bias[c]);
        if X::CHANNEL_MAJOR {
            let (xc, yc) = (plane(x, c, X::PER_CHANNEL), plane_mut(y, c, X::PER_CHANNEL));
            for (yv, &xv) in yc.iter_mut().zip(xc) {
                *yv = (xv - m) * inv * g + b;
            }
            continue;
        }
        for i in 0..X::PER_CHANNEL {
            let j = X::flat_index(c, i);
            y[j] = (x[j] - m) * inv * g + b;
        }
    }
}

/// `Σ dy` and `Σ dy ⊙ x̂` of each channel over a batch, from
/// [`batchnorm_grad_sums`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormGradSums<T: Float, const C: usize> {
    /// Per channel: `Σ dy` (= dβ).
    pub dy: [T; C],
    /// Per channel: `Σ dy ⊙ x̂` (= dγ).
    pub dy_xhat: [T; C],
}

/// The batch's `Σ dy` and `Σ dy ⊙ x̂` per channel from each sample's
/// `(statistics, input, dL/dy)`: what every sample's `dx` needs before any
/// is computed.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn batchnorm_grad_sums<'a, T, X, const C: usize>(
    samples: impl Iterator<Item = (&'a BatchNormStats<T, C>, &'a X, &'a X)>,
    eps: T,
) -> BatchNormGradSums<T, C>
where
    T: Float + 'a,
    X: Channels<T, C> + 'a,
{
    let mut sums = BatchNormGradSums {
        dy: [T::zero(); C],
        dy_xhat: [T::zero(); C],
    };
    for (s, x, dy) in samples {
        let (x, dy) = (x.as_flat(), dy.as_flat());
        for c in 0..C {
            let (inv, m) = (inv_std(s, eps, c), s.mean[c]);
            if X::CHANNEL_MAJOR {
                let (xc, dc) = (plane(x, c, X::PER_CHANNEL), plane(dy, c, X::PER_CHANNEL));
                let (sd, sdx) = sums2(xc, dc, |xv, d| (d, d * ((xv - m) * inv)));
                sums.dy[c] += sd;
                sums.dy_xhat[c] += sdx;
                continue;
            }
            let (mut sd, mut sdx) = (T::zero(), T::zero());
            for i in 0..X::PER_CHANNEL {
                let j = X::flat_index(c, i);
                sd += dy[j];
                sdx += dy[j] * ((x[j] - m) * inv);
            }
            sums.dy[c] += sd;
            sums.dy_xhat[c] += sdx;
        }
    }
    sums
}

/// Adds the batch's `dγ = Σ dy ⊙ x̂` and `dβ = Σ dy` into `g`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn batchnorm_train_backward_params<T: Float, const C: usize>(
    sums: &BatchNormGradSums<T, C>,
    g: &mut BatchNormParams<T, C>,
) {
    for c in 0..C {
        g.weight[c] += sums.dy_xhat[c];
        g.bias[c] += sums.dy[c];
    }
}

/// One sample's `dL/dx` through the statistics `s` it was normalised
/// with: through the batch statistics, `γ/(n √(σ² + ε)) · (n dy − Σ dy −
/// x̂ Σ(dy ⊙ x̂))` (`sums` over the whole batch, [`batchnorm_grad_sums`]);
/// with frozen running statistics (`s.count == 0`), `γ/√(var + ε) · dy`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn batchnorm_train_backward<T: Float, X: Channels<T, C>, const C: usize>(
    p: &BatchNormParams<T, C>,
    s: &BatchNormStats<T, C>,
    sums: &BatchNormGradSums<T, C>,
    x: &X,
    dy: &X,
    eps: T,
) -> X {
    let mut dx = X::zeros();
    let (xf, dyf, dxf) = (x.as_flat(), dy.as_flat(), dx.as_flat_mut());
    let n = T::of_f64(s.count as f64);
    for c in 0..C {
        let inv = inv_std(s, eps, c);
        let scale = p.weight[c] * inv;
        let per = X::PER_CHANNEL;
        if X::CHANNEL_MAJOR {
            let (xc, dc) = (plane(xf, c, per), plane(dyf, c, per));
            let dxc = plane_mut(dxf, c, per);
            if !s.is_batch() {
                for (dv, &d) in dxc.iter_mut().zip(dc) {
                    *dv = scale * d;
                }
            } else {
                let (m, sd, sdx) = (s.mean[c], sums.dy[c], sums.dy_xhat[c]);
                let k = scale / n;
                for ((dv, &d), &xv) in dxc.iter_mut().zip(dc).zip(xc) {
                    let xhat = (xv - m) * inv;
                    *dv = k * (n * d - sd - xhat * sdx);
                }
            }
            continue;
        }
        if !s.is_batch() {
            for i in 0..X::PER_CHANNEL {
                let j = X::flat_index(c, i);
                dxf[j] = scale * dyf[j];
            }
            continue;
        }
        let (m, sd, sdx) = (s.mean[c], sums.dy[c], sums.dy_xhat[c]);
        let k = scale / n;
        for i in 0..X::PER_CHANNEL {
            let j = X::flat_index(c, i);
            let xhat = (xf[j] - m) * inv;
            dxf[j] = k * (n * dyf[j] - sd - xhat * sdx);
        }
    }
    dx
}

/// After a step trained with the batch statistics `s`: `running =
/// (1 − momentum)·running + momentum·batch` for the mean and for the
/// unbiased variance `σ²·n/(n − 1)`, and `num_batches_tracked += 1`, as
/// PyTorch's `BatchNorm` in `train()`. Nothing for frozen statistics.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn batchnorm_update_running<T: Float, const C: usize>(
    p: &mut BatchNormParams<T, C>,
    s: &BatchNormStats<T, C>,
    momentum: T,
) {
    if s.count < 2 {
        return;
    }
    let n = s.count as f64;
    let unbias = T::of_f64(n / (n - 1.0));
    let keep = T::one() - momentum;
    for c in 0..C {
        p.running_mean[c] = keep * p.running_mean[c] + momentum * s.mean[c];
        p.running_var[c] = keep * p.running_var[c] + momentum * (s.var[c] * unbias);
    }
    p.num_batches_tracked += 1;
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

    /// The batch-statistics forward and backward of a batch of `N` images
    /// (`xs` flattened: sample after sample), for the finite differences.
    fn train_batch<const N: usize>(
        p: &BatchNormParams<f64, 3>,
        xs: &[f64],
        r: &[f64],
        eps: f64,
    ) -> (f64, Vec<f64>, BatchNormParams<f64, 3>) {
        let imgs: Vec<Image<f64, 3, 2, 2>> = xs
            .chunks_exact(12)
            .map(|c| crate::Tensor::from_flat(c).unwrap())
            .collect();
        let dys: Vec<Image<f64, 3, 2, 2>> = r
            .chunks_exact(12)
            .map(|c| crate::Tensor::from_flat(c).unwrap())
            .collect();
        let stats = batchnorm_batch_stats::<f64, _, 3>(imgs.iter()).unwrap();
        let mut loss = 0.0;
        for (x, dy) in imgs.iter().zip(&dys) {
            let mut y = [[[0.0; 2]; 2]; 3];
            batchnorm_train_into(p, &stats, x, eps, &mut y);
            loss += dot(crate::Tensor::as_flat(dy), crate::Tensor::as_flat(&y));
        }
        let sums = batchnorm_grad_sums(imgs.iter().zip(&dys).map(|(x, dy)| (&stats, x, dy)), eps);
        let mut g = BatchNormParams::<f64, 3>::zeros();
        batchnorm_train_backward_params(&sums, &mut g);
        let mut dx = Vec::new();
        for (x, dy) in imgs.iter().zip(&dys) {
            let d = batchnorm_train_backward(p, &stats, &sums, x, dy, eps);
            dx.extend_from_slice(crate::Tensor::as_flat(&d));
        }
        (loss, dx, g)
    }

    #[test]
    fn batch_statistics_by_hand() {
        // One feature, four samples x = −1, 0, 1, 4: mean 1, biased variance
        // (4 + 1 + 0 + 9)/4 = 3.5; with ε = 0.5, √(σ² + ε) = 2, so
        // x̂ = −1, −0.5, 0, 1.5 and with γ = 2, β = 1, y = −1, 0, 1, 4.
        let mut p = BatchNormParams::<f64, 1>::zeros();
        p.weight[0] = 2.0;
        p.bias[0] = 1.0;
        p.running_var[0] = 1.0;
        p.num_batches_tracked = 7;
        let xs = [-1.0, 0.0, 1.0, 4.0].map(SMatrix::<f64, 1, 1>::new);
        let s = batchnorm_batch_stats::<f64, _, 1>(xs.iter()).unwrap();
        assert_eq!((s.mean, s.var, s.count), ([1.0], [3.5], 4));
        let ys = xs.map(|x| {
            let mut y = SMatrix::zeros();
            batchnorm_train_into(&p, &s, &x, 0.5, &mut y);
            y[0]
        });
        assert_eq!(ys, [-1.0, 0.0, 1.0, 4.0]);
        // dy = (1, 0, 0, 0): Σ dy = 1, Σ dy x̂ = −1, and
        // dx = γ/(n σ) (n dy − Σ dy − x̂ Σ dy x̂) = ¼ (4 dy − 1 + x̂).
        let dys = [1.0, 0.0, 0.0, 0.0].map(SMatrix::<f64, 1, 1>::new);
        let sums = batchnorm_grad_sums(xs.iter().zip(&dys).map(|(x, dy)| (&s, x, dy)), 0.5);
        assert_eq!((sums.dy, sums.dy_xhat), ([1.0], [-1.0]));
        let dx: Vec<f64> = xs
            .iter()
            .zip(&dys)
            .map(|(x, dy)| batchnorm_train_backward(&p, &s, &sums, x, dy, 0.5)[0])
            .collect();
        assert_eq!(dx, [0.5, -0.375, -0.25, 0.125]);
        let mut g = BatchNormParams::<f64, 1>::zeros();
        batchnorm_train_backward_params(&sums, &mut g);
        assert_eq!((g.weight[0], g.bias[0]), (-1.0, 1.0));
        // Momentum 0.5: mean 0 → 0.5; the unbiased variance 3.5·4/3 = 14/3,
        // so var 1 → 0.5 + 7/3; one more batch tracked.
        batchnorm_update_running(&mut p, &s, 0.5);
        assert_eq!(p.running_mean[0], 0.5);
        assert!((p.running_var[0] - (0.5 + 7.0 / 3.0)).abs() < 1e-15);
        assert_eq!(p.num_batches_tracked, 8);
        // Frozen statistics change nothing.
        let frozen = batchnorm_running_stats(&p);
        batchnorm_update_running(&mut p, &frozen, 0.5);
        assert_eq!(p.num_batches_tracked, 8);
        // One value per channel: no statistics (PyTorch refuses it too).
        assert!(batchnorm_batch_stats::<f64, _, 1>(xs[..1].iter()).is_none());
    }

    #[test]
    fn batch_statistics_gradients_match_finite_differences() {
        // Three images [3, 2, 2]: perturbing any value of any sample moves
        // the batch statistics, and so every sample's output.
        const EPS: f64 = 1e-3;
        let mut rng = Rng::new(21);
        let p = random_params(&mut rng);
        let mut xs = vec![0.0; 36];
        fill(&mut rng, &mut xs);
        let mut r = vec![0.0; 36];
        fill(&mut rng, &mut r);
        let (_, dx, g) = train_batch::<3>(&p, &xs, &r, EPS);
        check_grad(
            "dx",
            &xs,
            |x| x.as_mut_slice(),
            |x| train_batch::<3>(&p, x, &r, EPS).0,
            &dx,
        );
        check_grad(
            "dγ",
            &p,
            |p| p.weight.as_mut_slice(),
            |p| train_batch::<3>(p, &xs, &r, EPS).0,
            g.weight.as_slice(),
        );
        check_grad(
            "dβ",
            &p,
            |p| p.bias.as_mut_slice(),
            |p| train_batch::<3>(p, &xs, &r, EPS).0,
            g.bias.as_slice(),
        );
    }
}
