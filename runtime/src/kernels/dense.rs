//! `Dense`: `y = act(W x + b)`, on a vector or on every step of a sequence,
//! and its backward pass.
//!
//! Layout: `W` is an `SMatrix<T, O, I>`, stored column-major, so column `i`
//! (the weights from input `i` to every output) is `O` contiguous values:
//! PyTorch's row-major `[O, I]` weight read column by column.

use super::blas::madd;
use super::epilogue::{Activate, AffineThen, ChannelAffine, Epilogue};
use crate::{Activation, DenseNoBiasParams, DenseParams, Float};
use nalgebra::{SMatrix, SVector};

/// Below this many outputs a `Dense` is computed as `O` dot products, each
/// split over [`LANES`] independent partial sums; from it on, as a sum of
/// weight columns (`y += W[:, i] · x[i]`), vectorised over the outputs.
const FEW_OUTPUTS: usize = 8;

/// Independent partial sums for the dot-product form: enough to hide the
/// add latency and fill a 256-bit register for `O = 1`.
const LANES: usize = 8;

/// Outputs per register block of the many-outputs form on 32-bit Arm.
const ARM_BLOCK: usize = 16;

/// `W x + b` for `x` given as `I` values, before the activation.
///
/// Works on plain arrays and slices: nalgebra's element iterators are
/// stride-generic and keep loops over them from vectorising.
#[inline(always)]
fn affine<T: Float, const I: usize, const O: usize>(p: &DenseParams<T, I, O>, x: &[T]) -> [T; O] {
    let w = p.weight.as_slice();
    let mut y: [T; O] = p.bias.data.0[0];
    if O < FEW_OUTPUTS {
        // Few outputs (a classifier head, `Dense(1)`): LANES inputs at a
        // time, each lane with its own accumulators, so the additions do
        // not form one long dependency chain. `acc[l][o]` sums
        // `W[o, i] x[i]` for `i ≡ l (mod LANES)`.
        let mut acc = [[T::zero(); O]; LANES];
        let blocks = w.chunks_exact(LANES * O);
        let w_rest = blocks.remainder();
        let xb = x.chunks_exact(LANES);
        let x_rest = xb.remainder();
        for (wb, xs) in blocks.zip(xb) {
            for ((a, col), &xi) in acc.iter_mut().zip(wb.chunks_exact(O)).zip(xs) {
                for (ao, &wo) in a.iter_mut().zip(col) {
                    *ao = madd(wo, xi, *ao);
                }
            }
        }
        for (col, &xi) in w_rest.chunks_exact(O).zip(x_rest) {
            for (ao, &wo) in acc[0].iter_mut().zip(col) {
                *ao = madd(wo, xi, *ao);
            }
        }
        for a in &acc {
            for (yo, &ao) in y.iter_mut().zip(a) {
                *yo += ao;
            }
        }
    } else if cfg!(target_arch = "arm") && O.is_multiple_of(ARM_BLOCK) {
        // 32-bit Arm (Cortex-M): 32 single-precision registers, so O = 64
        // sums cannot stay in registers; blocks of ARM_BLOCK outputs do,
        // while every column's slice of the block streams past.
        // With hardware float, 16 rows go through the hand-written kernel
        // (kernels/thumb.rs: the same sums in the same order, loaded with
        // `vldm`), else through the loop below.
        let wc: &[[T; O]; I] = &p.weight.data.0;
        let xa: Option<&[T; I]> = x.try_into().ok();
        for (yb, wb0) in y.chunks_exact_mut(ARM_BLOCK).zip(0..) {
            let mut acc = [T::zero(); ARM_BLOCK];
            for (a, &v) in acc.iter_mut().zip(yb.iter()) {
                *a = v;
            }
            let done = match xa {
                Some(xa) => T::cols16(&mut acc, wc, wb0 * ARM_BLOCK, xa),
                None => false,
            };
            if !done {
                for (col, &xi) in w.chunks_exact(O).zip(x) {
                    for (a, &wo) in acc.iter_mut().zip(col.iter().skip(wb0 * ARM_BLOCK)) {
                        *a = madd(wo, xi, *a);
                    }
                }
            }
            for (yo, &a) in yb.iter_mut().zip(&acc) {
                *yo = a;
            }
        }
    } else {
        // Many outputs: add x[i] times column i. The accumulator is the
        // output itself, `O` independent sums that stay in registers, and
        // every column is one contiguous run.
        for (col, &xi) in w.chunks_exact(O).zip(x) {
            for (yo, &wo) in y.iter_mut().zip(col) {
                *yo = madd(wo, xi, *yo);
            }
        }
    }
    y
}

/// `Dense` on a vector: `act(W x + b)`, the activation applied in registers
/// before the result is returned.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense<T: Float, A: Activation, const I: usize, const O: usize>(
    p: &DenseParams<T, I, O>,
    x: &SVector<T, I>,
) -> SVector<T, O> {
    let mut y = affine(p, x.as_slice());
    A::apply(&mut y);
    SVector::from(y)
}

/// [`dense`] written into `y`, for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_into<T: Float, A: Activation, const I: usize, const O: usize>(
    p: &DenseParams<T, I, O>,
    x: &SVector<T, I>,
    y: &mut SVector<T, O>,
) {
    let mut v = affine(p, x.as_slice());
    A::apply(&mut v);
    y.as_mut_slice().copy_from_slice(&v);
}

/// `Dense` applied to every step of a sequence `[S, I]` → `[S, O]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_seq<T: Float, A: Activation, const I: usize, const O: usize, const S: usize>(
    p: &DenseParams<T, I, O>,
    x: &SMatrix<T, I, S>,
) -> SMatrix<T, O, S> {
    let mut y = SMatrix::<T, O, S>::zeros();
    dense_seq_into::<T, A, I, O, S>(p, x, &mut y);
    y
}

/// [`dense_seq`] written into `y`, for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_seq_into<T: Float, A: Activation, const I: usize, const O: usize, const S: usize>(
    p: &DenseParams<T, I, O>,
    x: &SMatrix<T, I, S>,
    y: &mut SMatrix<T, O, S>,
) {
    seq_epilogue_into(x, &Activate::<A>::new(), |xt| affine(p, xt), y);
}

/// Backward of one `Dense` step on `I` values `x` with output `y` (after
/// the activation) and upstream gradient `dy`: accumulates into `g` and,
/// with `DX`, writes `dL/dx` into `dx`.
#[inline(always)]
fn backward_step<T: Float, A: Activation, const I: usize, const O: usize, const DX: bool>(
    w: &[T],
    x: &[T],
    y: &[T],
    dy: &[T],
    g: &mut DenseParams<T, I, O>,
    dx: &mut [T],
) {
    // dz = act'(z) ⊙ dy, taken from the output y.
    let mut dz = [T::zero(); O];
    for (d, &v) in dz.iter_mut().zip(dy) {
        *d = v;
    }
    A::backward(y, &mut dz);
    for (b, &d) in g.bias.as_mut_slice().iter_mut().zip(&dz) {
        *b += d;
    }
    let gcols = g.weight.as_mut_slice().chunks_exact_mut(O);
    if DX {
        // One pass over the columns of W and dW: dW[:, i] += dz x[i] and
        // dx[i] = W[:, i] · dz.
        let cols = w.chunks_exact(O);
        for (((col, gcol), &xi), dxi) in cols.zip(gcols).zip(x).zip(dx.iter_mut()) {
            *dxi = super::blas::axpy_dot(gcol, col, &dz, xi);
        }
    } else {
        for (gcol, &xi) in gcols.zip(x) {
            for (gv, &d) in gcol.iter_mut().zip(&dz) {
                *gv = madd(d, xi, *gv);
            }
        }
    }
}

/// Backward of [`dense`]: given the input `x`, the activated output `y` the
/// training forward kept and `dy = dL/dy`, adds `dL/dW = dz xᵀ` and
/// `dL/db = dz` (with `dz = act'(z) ⊙ dy`) into `g` and returns
/// `dL/dx = Wᵀ dz`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_backward<T: Float, A: Activation, const I: usize, const O: usize>(
    p: &DenseParams<T, I, O>,
    x: &SVector<T, I>,
    y: &SVector<T, O>,
    dy: &SVector<T, O>,
    g: &mut DenseParams<T, I, O>,
) -> SVector<T, I> {
    let mut dx = SVector::<T, I>::zeros();
    steps::<T, A, I, O, true>(
        p.weight.as_slice(),
        x.as_slice(),
        y.as_slice(),
        dy.as_slice(),
        g,
        dx.as_mut_slice(),
    );
    dx
}

/// [`dense_backward`] without `dL/dx`, for a network's first layer: adds
/// the parameter gradients into `g` and skips the `Wᵀ dz` product.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_backward_params<T: Float, A: Activation, const I: usize, const O: usize>(
    x: &SVector<T, I>,
    y: &SVector<T, O>,
    dy: &SVector<T, O>,
    g: &mut DenseParams<T, I, O>,
) {
    steps::<T, A, I, O, false>(&[], x.as_slice(), y.as_slice(), dy.as_slice(), g, &mut []);
}

/// Backward of [`dense_seq`]: the parameter gradients are summed over the
/// steps; returns `dL/dx` for every step.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_seq_backward<
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const S: usize,
>(
    p: &DenseParams<T, I, O>,
    x: &SMatrix<T, I, S>,
    y: &SMatrix<T, O, S>,
    dy: &SMatrix<T, O, S>,
    g: &mut DenseParams<T, I, O>,
) -> SMatrix<T, I, S> {
    let mut dx = SMatrix::<T, I, S>::zeros();
    steps::<T, A, I, O, true>(
        p.weight.as_slice(),
        x.as_slice(),
        y.as_slice(),
        dy.as_slice(),
        g,
        dx.as_mut_slice(),
    );
    dx
}

/// [`dense_seq_backward`] without `dL/dx`, for a network's first layer.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_seq_backward_params<
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const S: usize,
>(
    x: &SMatrix<T, I, S>,
    y: &SMatrix<T, O, S>,
    dy: &SMatrix<T, O, S>,
    g: &mut DenseParams<T, I, O>,
) {
    steps::<T, A, I, O, false>(&[], x.as_slice(), y.as_slice(), dy.as_slice(), g, &mut []);
}

/// [`backward_step`] on every step of `x`, `y`, `dy` (`I`, `O`, `O`
/// contiguous values per step) and, with `DX`, of `dx`; without it `w` and
/// `dx` are empty and unused.
#[inline(always)]
fn steps<T: Float, A: Activation, const I: usize, const O: usize, const DX: bool>(
    w: &[T],
    x: &[T],
    y: &[T],
    dy: &[T],
    g: &mut DenseParams<T, I, O>,
    dx: &mut [T],
) {
    let inputs = x
        .chunks_exact(I)
        .zip(y.chunks_exact(O))
        .zip(dy.chunks_exact(O));
    if DX {
        for (((xt, yt), dyt), dxt) in inputs.zip(dx.chunks_exact_mut(I)) {
            backward_step::<T, A, I, O, true>(w, xt, yt, dyt, g, dxt);
        }
    } else {
        for ((xt, yt), dyt) in inputs {
            backward_step::<T, A, I, O, false>(w, xt, yt, dyt, g, &mut []);
        }
    }
}

// ---------------------------------------------------------------------------
// `Dense(.., bias = false)`: `y = act(W x)`, PyTorch's `Linear(bias=False)`.
// The weight's layout is `DenseParams`'; the product is the column form of
// `affine` (a sum of weight columns, vectorised over the outputs).

/// `W x` for `x` given as `I` values.
#[inline(always)]
fn linear_no_bias<T: Float, const I: usize, const O: usize>(w: &[T], x: &[T]) -> [T; O] {
    let mut y = [T::zero(); O];
    for (col, &xi) in w.chunks_exact(O).zip(x) {
        for (yo, &wo) in y.iter_mut().zip(col) {
            *yo = madd(wo, xi, *yo);
        }
    }
    y
}

/// `Dense` without a bias on a vector: `act(W x)`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias<T: Float, A: Activation, const I: usize, const O: usize>(
    p: &DenseNoBiasParams<T, I, O>,
    x: &SVector<T, I>,
) -> SVector<T, O> {
    let mut y = linear_no_bias::<T, I, O>(p.weight.as_slice(), x.as_slice());
    A::apply(&mut y);
    SVector::from(y)
}

/// [`dense_no_bias`] written into `y`, for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_into<T: Float, A: Activation, const I: usize, const O: usize>(
    p: &DenseNoBiasParams<T, I, O>,
    x: &SVector<T, I>,
    y: &mut SVector<T, O>,
) {
    let mut v = linear_no_bias::<T, I, O>(p.weight.as_slice(), x.as_slice());
    A::apply(&mut v);
    y.as_mut_slice().copy_from_slice(&v);
}

/// [`dense_no_bias`] applied to every step of a sequence `[S, I]` → `[S, O]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_seq<
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const S: usize,
>(
    p: &DenseNoBiasParams<T, I, O>,
    x: &SMatrix<T, I, S>,
) -> SMatrix<T, O, S> {
    let mut y = SMatrix::<T, O, S>::zeros();
    dense_no_bias_seq_into::<T, A, I, O, S>(p, x, &mut y);
    y
}

/// [`dense_no_bias_seq`] written into `y`, for recording straight into a
/// tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_seq_into<
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const S: usize,
>(
    p: &DenseNoBiasParams<T, I, O>,
    x: &SMatrix<T, I, S>,
    y: &mut SMatrix<T, O, S>,
) {
    seq_epilogue_into(
        x,
        &Activate::<A>::new(),
        |xt| linear_no_bias::<T, I, O>(p.weight.as_slice(), xt),
        y,
    );
}

/// The backward of every step of `x`, `y`, `dy` (`I`, `O`, `O` contiguous
/// values per step): `dW += dz xᵀ` with `dz = act'(z) ⊙ dy` and, with
/// `DX`, `dx = Wᵀ dz` into `dx` (else `w` and `dx` are empty).
#[inline(always)]
fn no_bias_steps<T: Float, A: Activation, const I: usize, const O: usize, const DX: bool>(
    w: &[T],
    x: &[T],
    y: &[T],
    dy: &[T],
    g: &mut DenseNoBiasParams<T, I, O>,
    dx: &mut [T],
) {
    let steps = x
        .chunks_exact(I)
        .zip(y.chunks_exact(O))
        .zip(dy.chunks_exact(O))
        .enumerate();
    for (t, ((xt, yt), dyt)) in steps {
        let mut dz = [T::zero(); O];
        dz.copy_from_slice(dyt);
        A::backward(yt, &mut dz);
        let gcols = g.weight.as_mut_slice().chunks_exact_mut(O);
        if DX {
            let dxt = &mut dx[t * I..][..I];
            for (((col, gcol), &xi), dxi) in w.chunks_exact(O).zip(gcols).zip(xt).zip(dxt) {
                *dxi = super::blas::axpy_dot(gcol, col, &dz, xi);
            }
        } else {
            for (gcol, &xi) in gcols.zip(xt) {
                for (gv, &d) in gcol.iter_mut().zip(&dz) {
                    *gv = madd(d, xi, *gv);
                }
            }
        }
    }
}

/// Backward of [`dense_no_bias`]: adds `dL/dW` into `g`, returns `dL/dx`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_backward<T: Float, A: Activation, const I: usize, const O: usize>(
    p: &DenseNoBiasParams<T, I, O>,
    x: &SVector<T, I>,
    y: &SVector<T, O>,
    dy: &SVector<T, O>,
    g: &mut DenseNoBiasParams<T, I, O>,
) -> SVector<T, I> {
    let mut dx = SVector::<T, I>::zeros();
    no_bias_steps::<T, A, I, O, true>(
        p.weight.as_slice(),
        x.as_slice(),
        y.as_slice(),
        dy.as_slice(),
        g,
        dx.as_mut_slice(),
    );
    dx
}

/// [`dense_no_bias_backward`] without `dL/dx`, for a network's first layer.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_backward_params<T: Float, A: Activation, const I: usize, const O: usize>(
    x: &SVector<T, I>,
    y: &SVector<T, O>,
    dy: &SVector<T, O>,
    g: &mut DenseNoBiasParams<T, I, O>,
) {
    no_bias_steps::<T, A, I, O, false>(&[], x.as_slice(), y.as_slice(), dy.as_slice(), g, &mut []);
}

/// Backward of [`dense_no_bias_seq`]: `dL/dW` summed over the steps into
/// `g`; returns `dL/dx` for every step.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_seq_backward<
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const S: usize,
>(
    p: &DenseNoBiasParams<T, I, O>,
    x: &SMatrix<T, I, S>,
    y: &SMatrix<T, O, S>,
    dy: &SMatrix<T, O, S>,
    g: &mut DenseNoBiasParams<T, I, O>,
) -> SMatrix<T, I, S> {
    let mut dx = SMatrix::<T, I, S>::zeros();
    no_bias_steps::<T, A, I, O, true>(
        p.weight.as_slice(),
        x.as_slice(),
        y.as_slice(),
        dy.as_slice(),
        g,
        dx.as_mut_slice(),
    );
    dx
}

/// [`dense_no_bias_seq_backward`] without `dL/dx`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_seq_backward_params<
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const S: usize,
>(
    x: &SMatrix<T, I, S>,
    y: &SMatrix<T, O, S>,
    dy: &SMatrix<T, O, S>,
    g: &mut DenseNoBiasParams<T, I, O>,
) {
    no_bias_steps::<T, A, I, O, false>(&[], x.as_slice(), y.as_slice(), dy.as_slice(), g, &mut []);
}

// ---------------------------------------------------------------------------
// `Dense → BatchNorm → activation` at inference, in one loop: the epilogue
// (`epilogue.rs`) runs on the `O` sums in registers before they are stored.

/// `Dense` on a vector with the epilogue `e` in place of the activation.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_epilogue<T: Float, E: Epilogue<T, O>, const I: usize, const O: usize>(
    p: &DenseParams<T, I, O>,
    x: &SVector<T, I>,
    e: &E,
) -> SVector<T, O> {
    let mut y = affine(p, x.as_slice());
    e.all(&mut y);
    SVector::from(y)
}

/// `Dense` without a bias on a vector with the epilogue `e`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_epilogue<T: Float, E: Epilogue<T, O>, const I: usize, const O: usize>(
    p: &DenseNoBiasParams<T, I, O>,
    x: &SVector<T, I>,
    e: &E,
) -> SVector<T, O> {
    let mut y = linear_no_bias::<T, I, O>(p.weight.as_slice(), x.as_slice());
    e.all(&mut y);
    SVector::from(y)
}

/// The sequence form of [`dense_epilogue`] (and, given `step` =
/// [`linear_no_bias`], of [`dense_no_bias_epilogue`]): `step` computes one
/// step's `O` sums from its `I` inputs.
#[inline(always)]
fn seq_epilogue<T: Float, E: Epilogue<T, O>, const I: usize, const O: usize, const S: usize>(
    x: &SMatrix<T, I, S>,
    e: &E,
    step: impl Fn(&[T]) -> [T; O],
) -> SMatrix<T, O, S> {
    let mut y = SMatrix::<T, O, S>::zeros();
    seq_epilogue_into(x, e, step, &mut y);
    y
}

/// [`seq_epilogue`] written into `y`: the one per-step loop of every
/// sequence form of `Dense` (plain, bias-free, fused, into a tape).
#[inline(always)]
fn seq_epilogue_into<
    T: Float,
    E: Epilogue<T, O>,
    const I: usize,
    const O: usize,
    const S: usize,
>(
    x: &SMatrix<T, I, S>,
    e: &E,
    step: impl Fn(&[T]) -> [T; O],
    y: &mut SMatrix<T, O, S>,
) {
    // Column t of the sequence is step t: I (resp. O) contiguous values.
    for (xt, yt) in x
        .as_slice()
        .chunks_exact(I)
        .zip(y.as_mut_slice().chunks_exact_mut(O))
    {
        let mut v = step(xt);
        e.all(&mut v);
        yt.copy_from_slice(&v);
    }
}

/// `act(scale_c · (W x + b)_c + shift_c)` on a vector: `Dense`, then a
/// per-channel affine (BatchNorm's inference statistics,
/// [`batchnorm_affine`](super::batchnorm_affine)), then `A`, in one loop.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_affine<T: Float, A: Activation, const I: usize, const O: usize>(
    p: &DenseParams<T, I, O>,
    x: &SVector<T, I>,
    a: &ChannelAffine<T, O>,
) -> SVector<T, O> {
    dense_epilogue(p, x, &AffineThen::<A, T, O>::new(a))
}

/// [`dense_affine`] on every step of a sequence `[S, I]` → `[S, O]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_seq_affine<T: Float, A: Activation, const I: usize, const O: usize, const S: usize>(
    p: &DenseParams<T, I, O>,
    x: &SMatrix<T, I, S>,
    a: &ChannelAffine<T, O>,
) -> SMatrix<T, O, S> {
    seq_epilogue(x, &AffineThen::<A, T, O>::new(a), |xt| affine(p, xt))
}

/// [`dense_affine`] without a bias: `act(scale_c · (W x)_c + shift_c)`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_affine<T: Float, A: Activation, const I: usize, const O: usize>(
    p: &DenseNoBiasParams<T, I, O>,
    x: &SVector<T, I>,
    a: &ChannelAffine<T, O>,
) -> SVector<T, O> {
    dense_no_bias_epilogue(p, x, &AffineThen::<A, T, O>::new(a))
}

/// [`dense_no_bias_affine`] on every step of a sequence.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_no_bias_seq_affine<
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const S: usize,
>(
    p: &DenseNoBiasParams<T, I, O>,
    x: &SMatrix<T, I, S>,
    a: &ChannelAffine<T, O>,
) -> SMatrix<T, O, S> {
    seq_epilogue(x, &AffineThen::<A, T, O>::new(a), |xt| {
        linear_no_bias::<T, I, O>(p.weight.as_slice(), xt)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Linear, Relu, Sigmoid, Softmax, Tanh};
    use crate::init::Rng;
    use crate::kernels::testutil::close;
    use crate::kernels::testutil::{check_grad, dot, fill};

    /// W = [[1, -2, 0.5], [0, 3, -1]], b = [0.5, -1], x = [2, 1, -4]:
    /// z = [2 - 2 - 2 + 0.5, 0 + 3 + 4 - 1] = [-1.5, 6].
    fn case<T: Float>() -> (DenseParams<T, 3, 2>, SVector<T, 3>) {
        let f = T::of_f64;
        let p = DenseParams {
            weight: SMatrix::<T, 2, 3>::new(f(1.0), f(-2.0), f(0.5), f(0.0), f(3.0), f(-1.0)),
            bias: SVector::<T, 2>::new(f(0.5), f(-1.0)),
        };
        (p, SVector::<T, 3>::new(f(2.0), f(1.0), f(-4.0)))
    }

    fn each_activation<T: Float>(tol: f64) {
        let (p, x) = case::<T>();
        let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
        close(
            dense::<T, Linear, 3, 2>(&p, &x).as_slice(),
            &[-1.5, 6.0],
            tol,
        );
        close(dense::<T, Relu, 3, 2>(&p, &x).as_slice(), &[0.0, 6.0], tol);
        close(
            dense::<T, Sigmoid, 3, 2>(&p, &x).as_slice(),
            &[sig(-1.5), sig(6.0)],
            tol,
        );
        close(
            dense::<T, Tanh, 3, 2>(&p, &x).as_slice(),
            &[(-1.5f64).tanh(), 6f64.tanh()],
            tol,
        );
        // softmax([-1.5, 6]) = [1 / (1 + e^7.5), 1 / (1 + e^-7.5)]
        let s0 = 1.0 / (1.0 + 7.5f64.exp());
        close(
            dense::<T, Softmax, 3, 2>(&p, &x).as_slice(),
            &[s0, 1.0 - s0],
            tol,
        );
    }

    #[test]
    fn dense_by_hand_each_activation_f64() {
        each_activation::<f64>(1e-15);
    }

    #[test]
    fn dense_by_hand_each_activation_f32() {
        each_activation::<f32>(1e-6);
    }

    /// The straightforward triple loop of the definition, in f64.
    fn reference<const I: usize, const O: usize>(
        p: &DenseParams<f64, I, O>,
        x: &[f64],
    ) -> [f64; O] {
        let mut y = [0.0; O];
        for (o, yo) in y.iter_mut().enumerate() {
            *yo = p.bias[o] + (0..I).map(|i| p.weight[(o, i)] * x[i]).sum::<f64>();
        }
        y
    }

    fn both_paths<const I: usize, const O: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let mut p = DenseParams::<f64, I, O>::zeros();
        fill(&mut rng, p.weight.as_mut_slice());
        fill(&mut rng, p.bias.as_mut_slice());
        let mut x = SVector::<f64, I>::zeros();
        fill(&mut rng, x.as_mut_slice());
        let want = reference(&p, x.as_slice());
        close(dense::<f64, Linear, I, O>(&p, &x).as_slice(), &want, 1e-12);
    }

    #[test]
    fn dense_matches_the_definition_on_both_loop_forms() {
        // Dot-product form (O < 8) with and without a remainder of inputs,
        // and the column form.
        both_paths::<64, 1>(1);
        both_paths::<19, 3>(2);
        both_paths::<5, 7>(3);
        both_paths::<13, 8>(4);
        both_paths::<33, 64>(5);
    }

    #[test]
    fn dense_seq_applies_dense_to_every_step() {
        let (p, x0) = case::<f64>();
        // Steps: x0, -x0 -> z = [-1.5, 6] and [2.5, -8] (b - (z - b)).
        let mut x = SMatrix::<f64, 3, 2>::zeros();
        x.set_column(0, &x0);
        x.set_column(1, &(-x0));
        let y = dense_seq::<f64, Relu, 3, 2, 2>(&p, &x);
        close(y.as_slice(), &[0.0, 6.0, 2.5, 0.0], 1e-15);
        // Softmax acts on each step on its own.
        let y = dense_seq::<f64, Softmax, 3, 2, 2>(&p, &x);
        let s0 = 1.0 / (1.0 + 7.5f64.exp());
        let s1 = 1.0 / (1.0 + (-10.5f64).exp());
        close(y.as_slice(), &[s0, 1.0 - s0, s1, 1.0 - s1], 1e-15);
    }

    type Point<const I: usize, const O: usize> = (DenseParams<f64, I, O>, SVector<f64, I>);

    fn grad_check<A: Activation, const I: usize, const O: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let mut p = DenseParams::<f64, I, O>::zeros();
        fill(&mut rng, p.weight.as_mut_slice());
        fill(&mut rng, p.bias.as_mut_slice());
        let mut x = SVector::<f64, I>::zeros();
        fill(&mut rng, x.as_mut_slice());
        let mut r = SVector::<f64, O>::zeros();
        fill(&mut rng, r.as_mut_slice());
        let y = dense::<f64, A, I, O>(&p, &x);
        let mut g = DenseParams::zeros();
        let dx = dense_backward::<f64, A, I, O>(&p, &x, &y, &r, &mut g);
        let loss =
            |q: &Point<I, O>| dot(r.as_slice(), dense::<f64, A, I, O>(&q.0, &q.1).as_slice());
        let pt = (p, x);
        let name = A::NAME;
        check_grad(
            name,
            &pt,
            |q| q.0.weight.as_mut_slice(),
            loss,
            g.weight.as_slice(),
        );
        check_grad(
            name,
            &pt,
            |q| q.0.bias.as_mut_slice(),
            loss,
            g.bias.as_slice(),
        );
        check_grad(name, &pt, |q| q.1.as_mut_slice(), loss, dx.as_slice());
    }

    #[test]
    fn dense_backward_matches_finite_differences() {
        for seed in 0..3 {
            grad_check::<Linear, 5, 3>(seed);
            grad_check::<Relu, 5, 9>(seed);
            grad_check::<Sigmoid, 6, 1>(seed);
            grad_check::<Tanh, 11, 4>(seed);
            grad_check::<Softmax, 4, 5>(seed);
        }
    }

    #[test]
    fn dense_backward_accumulates_into_the_gradient() {
        let (p, x) = case::<f64>();
        let y = dense::<f64, Linear, 3, 2>(&p, &x);
        let dy = SVector::<f64, 2>::new(1.0, 2.0);
        let mut g = DenseParams::zeros();
        g.bias[0] = 10.0;
        g.weight[(1, 2)] = 100.0;
        let dx = dense_backward::<f64, Linear, 3, 2>(&p, &x, &y, &dy, &mut g);
        // dW = dy xᵀ = [[2, 1, -4], [4, 2, -8]], db = dy, dx = Wᵀ dy.
        assert_eq!(g.bias.as_slice(), &[11.0, 2.0]);
        assert_eq!(g.weight[(0, 0)], 2.0);
        assert_eq!(g.weight[(1, 1)], 2.0);
        assert_eq!(g.weight[(1, 2)], 92.0);
        assert_eq!(dx.as_slice(), &[1.0, -2.0 + 6.0, 0.5 - 2.0]);
    }

    type SeqPoint<const I: usize, const O: usize, const S: usize> =
        (DenseParams<f64, I, O>, SMatrix<f64, I, S>);

    fn seq_grad_check<A: Activation, const I: usize, const O: usize, const S: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let mut p = DenseParams::<f64, I, O>::zeros();
        fill(&mut rng, p.weight.as_mut_slice());
        fill(&mut rng, p.bias.as_mut_slice());
        let mut x = SMatrix::<f64, I, S>::zeros();
        fill(&mut rng, x.as_mut_slice());
        let mut r = SMatrix::<f64, O, S>::zeros();
        fill(&mut rng, r.as_mut_slice());
        let y = dense_seq::<f64, A, I, O, S>(&p, &x);
        let mut g = DenseParams::zeros();
        let dx = dense_seq_backward::<f64, A, I, O, S>(&p, &x, &y, &r, &mut g);
        let loss = |q: &SeqPoint<I, O, S>| {
            dot(
                r.as_slice(),
                dense_seq::<f64, A, I, O, S>(&q.0, &q.1).as_slice(),
            )
        };
        let pt = (p, x);
        check_grad(
            "seq W",
            &pt,
            |q| q.0.weight.as_mut_slice(),
            loss,
            g.weight.as_slice(),
        );
        check_grad(
            "seq b",
            &pt,
            |q| q.0.bias.as_mut_slice(),
            loss,
            g.bias.as_slice(),
        );
        check_grad("seq x", &pt, |q| q.1.as_mut_slice(), loss, dx.as_slice());
    }

    #[test]
    fn dense_seq_backward_matches_finite_differences() {
        seq_grad_check::<Tanh, 3, 4, 5>(7);
        seq_grad_check::<Softmax, 4, 3, 3>(8);
        seq_grad_check::<Relu, 2, 9, 4>(9);
    }

    /// The hand-worked case without its bias: z = W x = [−2, 7].
    #[test]
    fn no_bias_by_hand() {
        let (p, x) = case::<f64>();
        let nb = DenseNoBiasParams { weight: p.weight };
        close(
            dense_no_bias::<f64, Linear, 3, 2>(&nb, &x).as_slice(),
            &[-2.0, 7.0],
            0.0,
        );
        close(
            dense_no_bias::<f64, Relu, 3, 2>(&nb, &x).as_slice(),
            &[0.0, 7.0],
            0.0,
        );
        let seq = SMatrix::<f64, 3, 2>::from_columns(&[x, -x]);
        close(
            dense_no_bias_seq::<f64, Linear, 3, 2, 2>(&nb, &seq).as_slice(),
            &[-2.0, 7.0, 2.0, -7.0],
            0.0,
        );
    }

    fn no_bias_grad_check<A: Activation, const I: usize, const O: usize, const S: usize>(
        seed: u64,
    ) {
        let mut rng = Rng::new(seed);
        let mut p = DenseNoBiasParams::<f64, I, O>::zeros();
        fill(&mut rng, p.weight.as_mut_slice());
        let mut x = SMatrix::<f64, I, S>::zeros();
        fill(&mut rng, x.as_mut_slice());
        let mut r = SMatrix::<f64, O, S>::zeros();
        fill(&mut rng, r.as_mut_slice());
        let y = dense_no_bias_seq::<f64, A, I, O, S>(&p, &x);
        let mut g = DenseNoBiasParams::zeros();
        let dx = dense_no_bias_seq_backward::<f64, A, I, O, S>(&p, &x, &y, &r, &mut g);
        let mut g2 = DenseNoBiasParams::zeros();
        dense_no_bias_seq_backward_params::<f64, A, I, O, S>(&x, &y, &r, &mut g2);
        assert_eq!(g, g2);
        type Pt<const I: usize, const O: usize, const S: usize> =
            (DenseNoBiasParams<f64, I, O>, SMatrix<f64, I, S>);
        let loss = |q: &Pt<I, O, S>| {
            dot(
                r.as_slice(),
                dense_no_bias_seq::<f64, A, I, O, S>(&q.0, &q.1).as_slice(),
            )
        };
        let pt = (p.clone(), x);
        check_grad(
            "no bias W",
            &pt,
            |q| q.0.weight.as_mut_slice(),
            loss,
            g.weight.as_slice(),
        );
        check_grad(
            "no bias x",
            &pt,
            |q| q.1.as_mut_slice(),
            loss,
            dx.as_slice(),
        );
        // The vector form is the one-step sequence.
        let x0 = SVector::<f64, I>::from_column_slice(&x.as_slice()[..I]);
        let r0 = SVector::<f64, O>::from_column_slice(&r.as_slice()[..O]);
        let y0 = dense_no_bias::<f64, A, I, O>(&p, &x0);
        let mut gv = DenseNoBiasParams::zeros();
        let dxv = dense_no_bias_backward::<f64, A, I, O>(&p, &x0, &y0, &r0, &mut gv);
        let mut gp = DenseNoBiasParams::zeros();
        dense_no_bias_backward_params::<f64, A, I, O>(&x0, &y0, &r0, &mut gp);
        assert_eq!(gv, gp);
        type Pv<const I: usize, const O: usize> = (DenseNoBiasParams<f64, I, O>, SVector<f64, I>);
        let loss = |q: &Pv<I, O>| {
            dot(
                r0.as_slice(),
                dense_no_bias::<f64, A, I, O>(&q.0, &q.1).as_slice(),
            )
        };
        let pv = (p, x0);
        check_grad(
            "no bias vec W",
            &pv,
            |q| q.0.weight.as_mut_slice(),
            loss,
            gv.weight.as_slice(),
        );
        check_grad(
            "no bias vec x",
            &pv,
            |q| q.1.as_mut_slice(),
            loss,
            dxv.as_slice(),
        );
    }

    #[test]
    fn no_bias_backward_matches_finite_differences() {
        no_bias_grad_check::<Linear, 4, 3, 2>(41);
        no_bias_grad_check::<Sigmoid, 3, 5, 3>(42);
        no_bias_grad_check::<Softmax, 5, 4, 2>(43);
        no_bias_grad_check::<Relu, 9, 2, 1>(44);
    }

    /// `case`: z = W x + b = (−1.5, 6). With scale (−2, 0.5) and shift
    /// (1, −4): (3 + 1, 3 − 4) = (4, −1); relu → (4, 0). On the sequence
    /// (x, −x): z(−x) = (2.5, −8) → (−4, −8); relu → (0, 0). Without the
    /// bias z = (−2, 7) → (5, −0.5).
    #[test]
    fn dense_affine_by_hand() {
        let (p, x) = case::<f64>();
        let a = ChannelAffine {
            scale: [-2.0, 0.5],
            shift: [1.0, -4.0],
        };
        assert_eq!(
            dense_affine::<f64, Linear, 3, 2>(&p, &x, &a).as_slice(),
            &[4.0, -1.0]
        );
        assert_eq!(
            dense_affine::<f64, Relu, 3, 2>(&p, &x, &a).as_slice(),
            &[4.0, 0.0]
        );
        let xs = SMatrix::<f64, 3, 2>::from_columns(&[x, -x]);
        let ys = dense_seq_affine::<f64, Linear, 3, 2, 2>(&p, &xs, &a);
        assert_eq!(ys.as_slice(), &[4.0, -1.0, -4.0, -8.0]);
        let ys = dense_seq_affine::<f64, Relu, 3, 2, 2>(&p, &xs, &a);
        assert_eq!(ys.as_slice(), &[4.0, 0.0, 0.0, 0.0]);
        let nb = DenseNoBiasParams { weight: p.weight };
        let y = dense_no_bias_affine::<f64, Linear, 3, 2>(&nb, &x, &a);
        assert_eq!(y.as_slice(), &[5.0, -0.5]);
        let ys = dense_no_bias_seq_affine::<f64, Linear, 3, 2, 2>(&nb, &xs, &a);
        assert_eq!(ys.as_slice(), &[5.0, -0.5, -3.0, -7.5]);
    }
}
