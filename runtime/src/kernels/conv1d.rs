//! `Conv1d`: cross-correlation over the steps of a sequence `[S, F]` →
//! `[OS, O]`, exactly PyTorch's `nn.Conv1d` on the transposed `[F, S]`
//! (our features are its channels), with dilation, groups, zero padding
//! before (`P`) and after (whatever `OS` implies), and an optional bias;
//! its backward pass; and its streaming step for the stride-1 causal case.
//!
//! Layout. A sequence is `SMatrix<T, F, S>`: column `t` is step `t`'s `F`
//! features, contiguous. The weight `[O, F/G, KW]` is `SMatrix<T, O, K>`
//! with `K = (F/G)·KW`; nalgebra stores it column-major, so column
//! `c·KW + j` (PyTorch's row-major index of `[c, j]`) holds tap `j` of
//! channel `c` for all `O` filters as `O` contiguous values, and the inner
//! loop is a contiguous `acc += w · x` over a group's filters.
//!
//! Groups: filter `o` belongs to group `o / (O/G)` and reads the input
//! channels `g·(F/G)..(g+1)·(F/G)`.
//!
//! One output step is computed by one function, [`output_step`], from a
//! closure that yields the input each tap reads (or `None` for padding).
//! The whole-sequence forward and the streaming [`conv1d_step`] both call
//! it, so they perform the same operations in the same order and a stream
//! of `S` steps returns exactly (`==`) what the forward returns.

use super::blas::madd;
use super::epilogue::{Activate, AffineThen, ChannelAffine, Epilogue};
use super::geometry::{Dilation1d, Groups, PadBefore, SeqIn, SeqOut, Step, Window};
use crate::{Activation, Conv1dParams, Float, Sequence, Vector};
use core::marker::PhantomData;

/// The input step that tap `j` of output `i` reads, if it lies inside the
/// sequence of length `n` (and not in the padding): `i·s + j·d − p`.
#[inline(always)]
fn tap_index(i: usize, j: usize, s: usize, d: usize, p: usize, n: usize) -> Option<usize> {
    let t = (i * s + j * d).checked_sub(p)?;
    (t < n).then_some(t)
}

/// The sizes every kernel relies on; the macro has checked them already.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
const fn assert_geometry<
    const S: usize,
    const F: usize,
    const OS: usize,
    const O: usize,
    const KW: usize,
    const ST: usize,
    const D: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>() {
    assert!(
        ST > 0 && D > 0 && KW > 0,
        "conv1d: stride, dilation and kernel must be positive"
    );
    assert!(
        G > 0 && F.is_multiple_of(G) && O.is_multiple_of(G),
        "conv1d: groups must divide F and O"
    );
    assert!(K == F / G * KW, "conv1d: K must be (F / G) * KW");
    assert!(
        B == O || B == 0,
        "conv1d: B must be O (bias) or 0 (no bias)"
    );
    assert!(OS > 0, "conv1d: the output must have a step");
    let _ = S;
}

/// One output step's `O` sums before the activation: bias (if any) plus,
/// tap by tap in order `j = 0..KW` and channel by channel, the weight times
/// the input that `tap(j)` yields (`None`: a zero of the padding, skipped).
#[inline(always)]
fn output_step<
    'a,
    T: Float + 'a,
    const F: usize,
    const O: usize,
    const KW: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    p: &Conv1dParams<T, O, K, B>,
    tap: impl Fn(usize) -> Option<&'a [T; F]>,
) -> [T; O] {
    let (fg, og) = (F / G, O / G);
    let w: &[[T; O]; K] = &p.weight.data.0;
    let mut acc = [T::zero(); O];
    if B == O {
        for (a, &b) in acc.iter_mut().zip(p.bias.as_slice()) {
            *a = b;
        }
    }
    for j in 0..KW {
        let Some(xt) = tap(j) else { continue };
        for g in 0..G {
            let (xg, ag) = (&xt[g * fg..(g + 1) * fg], &mut acc[g * og..(g + 1) * og]);
            for (c, &xv) in xg.iter().enumerate() {
                let wk = &w[c * KW + j][g * og..(g + 1) * og];
                for (a, &wv) in ag.iter_mut().zip(wk) {
                    *a = madd(wv, xv, *a);
                }
            }
        }
    }
    acc
}

/// `Conv1d` forward: `[S, F]` → `[OS, O]`, activation `A` applied to each
/// output step's `O` values (for `Softmax`, across the filters of a step).
///
/// `KW` taps `D` steps apart, stride `ST`, `P` zero steps before the input
/// (the padding after is whatever `OS` implies), `G` groups; `K` must be
/// `(F/G)·KW` and `B` either `O` (bias) or 0 (no bias).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv1d<
    T: Float,
    A: Activation,
    const S: usize,
    const F: usize,
    const OS: usize,
    const O: usize,
    const KW: usize,
    const ST: usize,
    const D: usize,
    const P: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    p: &Conv1dParams<T, O, K, B>,
    x: &Sequence<T, S, F>,
) -> Sequence<T, OS, O> {
    let mut y = Sequence::<T, OS, O>::zeros();
    conv1d_into::<T, A, S, F, OS, O, KW, ST, D, P, G, K, B>(p, x, &mut y);
    y
}

/// [`conv1d`] writing its output into `y` (every value is overwritten),
/// for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv1d_into<
    T: Float,
    A: Activation,
    const S: usize,
    const F: usize,
    const OS: usize,
    const O: usize,
    const KW: usize,
    const ST: usize,
    const D: usize,
    const P: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    p: &Conv1dParams<T, O, K, B>,
    x: &Sequence<T, S, F>,
    y: &mut Sequence<T, OS, O>,
) {
    conv1d_epilogue_into::<T, Activate<A>, S, F, OS, O, KW, ST, D, P, G, K, B>(
        p,
        x,
        &Activate::new(),
        y,
    )
}

/// `dL/dz` (before the activation) of every output step, from the kept
/// activated output `y` and `dy`.
#[inline(always)]
fn dz<T: Float, A: Activation, const OS: usize, const O: usize>(
    y: &Sequence<T, OS, O>,
    dy: &Sequence<T, OS, O>,
) -> Sequence<T, OS, O> {
    let mut dz = *dy;
    for (d, yt) in dz.data.0.iter_mut().zip(&y.data.0) {
        A::backward(yt, d);
    }
    dz
}

/// The parameter half of the backward: adds `dL/dW` and `dL/db` into `g`
/// and returns `dL/dz`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn params_and_dz<
    T: Float,
    A: Activation,
    const S: usize,
    const F: usize,
    const OS: usize,
    const O: usize,
    const KW: usize,
    const ST: usize,
    const D: usize,
    const P: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    x: &Sequence<T, S, F>,
    y: &Sequence<T, OS, O>,
    dy: &Sequence<T, OS, O>,
    g: &mut Conv1dParams<T, O, K, B>,
) -> Sequence<T, OS, O> {
    const { assert_geometry::<S, F, OS, O, KW, ST, D, G, K, B>() };
    let dz = dz::<T, A, OS, O>(y, dy);
    let (fg, og) = (F / G, O / G);
    let xs: &[[T; F]; S] = &x.data.0;
    if B == O {
        for d in &dz.data.0 {
            for (b, &dv) in g.bias.as_mut_slice().iter_mut().zip(d) {
                *b += dv;
            }
        }
    }
    // dW[c·KW + j][o] += Σ_i dz[i][o] · x[i·ST + j·D − P][group(o)·fg + c].
    let gw: &mut [[T; O]; K] = &mut g.weight.data.0;
    for (i, d) in dz.data.0.iter().enumerate() {
        for j in 0..KW {
            let Some(t) = tap_index(i, j, ST, D, P, S) else {
                continue;
            };
            for gi in 0..G {
                let xg = &xs[t][gi * fg..(gi + 1) * fg];
                let dg = &d[gi * og..(gi + 1) * og];
                for (c, &xv) in xg.iter().enumerate() {
                    let gk = &mut gw[c * KW + j][gi * og..(gi + 1) * og];
                    for (gv, &dv) in gk.iter_mut().zip(dg) {
                        *gv = madd(dv, xv, *gv);
                    }
                }
            }
        }
    }
    dz
}

/// Backward of [`conv1d`]: given the input `x`, the activated output `y`
/// kept by the training forward and `dy = dL/dy`, adds `dL/dW` and `dL/db`
/// into `g` and returns `dL/dx` (the padding receives no gradient).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv1d_backward<
    T: Float,
    A: Activation,
    const S: usize,
    const F: usize,
    const OS: usize,
    const O: usize,
    const KW: usize,
    const ST: usize,
    const D: usize,
    const P: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    p: &Conv1dParams<T, O, K, B>,
    x: &Sequence<T, S, F>,
    y: &Sequence<T, OS, O>,
    dy: &Sequence<T, OS, O>,
    g: &mut Conv1dParams<T, O, K, B>,
) -> Sequence<T, S, F> {
    let dz = params_and_dz::<T, A, S, F, OS, O, KW, ST, D, P, G, K, B>(x, y, dy, g);
    let (fg, og) = (F / G, O / G);
    let w: &[[T; O]; K] = &p.weight.data.0;
    // dx[t][group·fg + c] += Σ_{o in group} W[c·KW + j][o] · dz[i][o] for
    // every output i and tap j reading step t.
    let mut dx = Sequence::<T, S, F>::zeros();
    let dxs: &mut [[T; F]; S] = &mut dx.data.0;
    for (i, d) in dz.data.0.iter().enumerate() {
        for j in 0..KW {
            let Some(t) = tap_index(i, j, ST, D, P, S) else {
                continue;
            };
            for gi in 0..G {
                let dg = &d[gi * og..(gi + 1) * og];
                let dxg = &mut dxs[t][gi * fg..(gi + 1) * fg];
                for (c, dxv) in dxg.iter_mut().enumerate() {
                    let wk = &w[c * KW + j][gi * og..(gi + 1) * og];
                    *dxv += super::blas::dot(wk, dg);
                }
            }
        }
    }
    dx
}

/// [`conv1d_backward`] without `dL/dx`: adds `dL/dW` and `dL/db` into `g`
/// (a network's first layer, where nothing consumes the input's gradient).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv1d_backward_params<
    T: Float,
    A: Activation,
    const S: usize,
    const F: usize,
    const OS: usize,
    const O: usize,
    const KW: usize,
    const ST: usize,
    const D: usize,
    const P: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    x: &Sequence<T, S, F>,
    y: &Sequence<T, OS, O>,
    dy: &Sequence<T, OS, O>,
    g: &mut Conv1dParams<T, O, K, B>,
) {
    params_and_dz::<T, A, S, F, OS, O, KW, ST, D, P, G, K, B>(x, y, dy, g);
}

/// The streaming state of a stride-1 causal `Conv1d` over `F` features
/// whose window reaches `H = (KW − 1)·D` steps back: a ring buffer of the
/// last `H` inputs (a fixed array, no heap), where the next input goes,
/// and how many inputs have been seen (up to `H`; the taps reaching before
/// the first step read the causal padding, which is skipped, exactly as in
/// [`conv1d`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1dState<T, const F: usize, const H: usize> {
    /// The last `H` inputs; `history[next]` is the oldest once full.
    pub history: [[T; F]; H],
    /// Where the next input is written.
    pub next: usize,
    /// Inputs seen so far, saturating at `H`.
    pub seen: usize,
}

impl<T: Float, const F: usize, const H: usize> Conv1dState<T, F, H> {
    /// The state before the first step.
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    pub fn zeros() -> Self {
        Self {
            history: [[T::zero(); F]; H],
            next: 0,
            seen: 0,
        }
    }
}

impl<T: Float, const F: usize, const H: usize> Default for Conv1dState<T, F, H> {
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn default() -> Self {
        Self::zeros()
    }
}

/// One step of a stride-1 causal [`conv1d`] (`P = H = (KW − 1)·D`): the
/// output for input `x` given the last `H` inputs in `state`, which is
/// then updated. After `S` steps from [`Conv1dState::zeros`] the outputs
/// are exactly the columns of [`conv1d`] on the whole sequence.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv1d_step<
    T: Float,
    A: Activation,
    const F: usize,
    const O: usize,
    const KW: usize,
    const D: usize,
    const H: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    p: &Conv1dParams<T, O, K, B>,
    x: &Vector<T, F>,
    state: &mut Conv1dState<T, F, H>,
) -> Vector<T, O> {
    conv1d_step_epilogue::<T, Activate<A>, F, O, KW, D, H, G, K, B>(p, x, state, &Activate::new())
}

/// [`conv1d_step`] with the epilogue `e` in place of the activation (with
/// [`AffineThen`]: the streaming step of `Conv1d → BatchNorm → act`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn conv1d_step_epilogue<
    T: Float,
    E: Epilogue<T, O>,
    const F: usize,
    const O: usize,
    const KW: usize,
    const D: usize,
    const H: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    p: &Conv1dParams<T, O, K, B>,
    x: &Vector<T, F>,
    state: &mut Conv1dState<T, F, H>,
    e: &E,
) -> Vector<T, O> {
    const {
        assert_geometry::<1, F, 1, O, KW, 1, D, G, K, B>();
        assert!(H == (KW - 1) * D, "conv1d_step: H must be (KW - 1) * D");
    };
    let xt: &[T; F] = &x.data.0[0];
    let hist = &state.history;
    let (next, seen) = (state.next, state.seen);
    // Tap j reads the input `lag = H − j·D` steps back (the last tap, the
    // current input); it is padding if fewer than `lag` inputs were seen.
    let mut acc = output_step::<T, F, O, KW, G, K, B>(p, |j| {
        let lag = H - j * D;
        if lag == 0 {
            Some(xt)
        } else if lag <= seen {
            Some(&hist[(next + H - lag) % H])
        } else {
            None
        }
    });
    e.all(&mut acc);
    if H > 0 {
        state.history[next] = *xt;
        state.next = (next + 1) % H;
        state.seen = (seen + 1).min(H);
    }
    Vector::<T, O>::from(acc)
}

/// One `Conv1d` layer's static description: its activation `A` and its
/// geometry, so that a call names each size once, by what it is:
///
/// ```
/// use staticnet_runtime::kernels::{Conv1d, Dilation1d, Groups, PadBefore, SeqIn, SeqOut, Step, Window};
/// use staticnet_runtime::{activation::Relu, Conv1dParams, Sequence};
///
/// // 16 steps of 4 features, 8 filters of 3 taps 2 apart, causal.
/// type C = Conv1d<Relu, SeqIn<16, 4>, SeqOut<16, 8>, Window<3>, Step<1>, Dilation1d<2>, PadBefore<4>, Groups<1>>;
/// let p = Conv1dParams::<f32, 8, 12, 8>::zeros();
/// let y = C::forward(&p, &Sequence::<f32, 16, 4>::zeros());
/// assert_eq!(y[(7, 15)], 0.0);
/// ```
#[allow(clippy::type_complexity)] // a marker over the eight labelled parts
pub struct Conv1d<A, I, O, K, S, D, P, G>(PhantomData<(A, I, O, K, S, D, P, G)>);

impl<
        A: Activation,
        const S: usize,
        const F: usize,
        const OS: usize,
        const O: usize,
        const KW: usize,
        const ST: usize,
        const D: usize,
        const P: usize,
        const G: usize,
    >
    Conv1d<
        A,
        SeqIn<S, F>,
        SeqOut<OS, O>,
        Window<KW>,
        Step<ST>,
        Dilation1d<D>,
        PadBefore<P>,
        Groups<G>,
    >
{
    /// [`conv1d`]. `K` and `B` come from the parameters' type.
    #[inline(always)]
    pub fn forward<T: Float, const K: usize, const B: usize>(
        p: &Conv1dParams<T, O, K, B>,
        x: &Sequence<T, S, F>,
    ) -> Sequence<T, OS, O> {
        conv1d::<T, A, S, F, OS, O, KW, ST, D, P, G, K, B>(p, x)
    }

    /// [`conv1d_into`]: the output written into `y`.
    #[inline(always)]
    pub fn forward_into<T: Float, const K: usize, const B: usize>(
        p: &Conv1dParams<T, O, K, B>,
        x: &Sequence<T, S, F>,
        y: &mut Sequence<T, OS, O>,
    ) {
        conv1d_into::<T, A, S, F, OS, O, KW, ST, D, P, G, K, B>(p, x, y)
    }

    /// [`conv1d_backward`]: the parameter gradients into `g`, `dL/dx`
    /// returned.
    #[inline(always)]
    pub fn backward<T: Float, const K: usize, const B: usize>(
        p: &Conv1dParams<T, O, K, B>,
        x: &Sequence<T, S, F>,
        y: &Sequence<T, OS, O>,
        dy: &Sequence<T, OS, O>,
        g: &mut Conv1dParams<T, O, K, B>,
    ) -> Sequence<T, S, F> {
        conv1d_backward::<T, A, S, F, OS, O, KW, ST, D, P, G, K, B>(p, x, y, dy, g)
    }

    /// [`conv1d_backward_params`]: the parameter gradients only.
    #[inline(always)]
    pub fn backward_params<T: Float, const K: usize, const B: usize>(
        x: &Sequence<T, S, F>,
        y: &Sequence<T, OS, O>,
        dy: &Sequence<T, OS, O>,
        g: &mut Conv1dParams<T, O, K, B>,
    ) {
        conv1d_backward_params::<T, A, S, F, OS, O, KW, ST, D, P, G, K, B>(x, y, dy, g)
    }

    /// [`conv1d_step`] (stride 1, causal: `P = H = (KW − 1)·D`): one
    /// streaming step.
    #[inline(always)]
    pub fn step<T: Float, const K: usize, const B: usize, const H: usize>(
        p: &Conv1dParams<T, O, K, B>,
        x: &Vector<T, F>,
        state: &mut Conv1dState<T, F, H>,
    ) -> Vector<T, O> {
        const {
            assert!(
                ST == 1 && P == H,
                "Conv1d::step: only a stride-1 causal Conv1d streams"
            );
        };
        conv1d_step::<T, A, F, O, KW, D, H, G, K, B>(p, x, state)
    }

    /// [`conv1d_epilogue`] with `A` after a per-channel affine: the
    /// inference forward of `Conv1d → BatchNorm → A` in one loop.
    #[inline(always)]
    pub fn forward_affine<T: Float, const K: usize, const B: usize>(
        p: &Conv1dParams<T, O, K, B>,
        x: &Sequence<T, S, F>,
        affine: &ChannelAffine<T, O>,
    ) -> Sequence<T, OS, O> {
        conv1d_epilogue::<T, AffineThen<A, T, O>, S, F, OS, O, KW, ST, D, P, G, K, B>(
            p,
            x,
            &AffineThen::new(affine),
        )
    }

    /// [`conv1d_step_epilogue`] with `A` after a per-channel affine: one
    /// streaming step of `Conv1d → BatchNorm → A` (stride 1, causal).
    #[inline(always)]
    pub fn step_affine<T: Float, const K: usize, const B: usize, const H: usize>(
        p: &Conv1dParams<T, O, K, B>,
        x: &Vector<T, F>,
        state: &mut Conv1dState<T, F, H>,
        affine: &ChannelAffine<T, O>,
    ) -> Vector<T, O> {
        const {
            assert!(
                ST == 1 && P == H,
                "Conv1d::step_affine: only a stride-1 causal Conv1d streams"
            );
        };
        conv1d_step_epilogue::<T, AffineThen<A, T, O>, F, O, KW, D, H, G, K, B>(
            p,
            x,
            state,
            &AffineThen::new(affine),
        )
    }
}

/// [`conv1d`] with the epilogue `e` in place of the activation, applied to
/// each output step's `O` sums before they are stored (with
/// [`AffineThen`]: BatchNorm and an activation fused in).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv1d_epilogue<
    T: Float,
    E: Epilogue<T, O>,
    const S: usize,
    const F: usize,
    const OS: usize,
    const O: usize,
    const KW: usize,
    const ST: usize,
    const D: usize,
    const P: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    p: &Conv1dParams<T, O, K, B>,
    x: &Sequence<T, S, F>,
    e: &E,
) -> Sequence<T, OS, O> {
    let mut y = Sequence::<T, OS, O>::zeros();
    conv1d_epilogue_into::<T, E, S, F, OS, O, KW, ST, D, P, G, K, B>(p, x, e, &mut y);
    y
}

/// [`conv1d_epilogue`] writing its output into `y` (every value is
/// overwritten): the one loop behind [`conv1d`], [`conv1d_into`] and the
/// fused forward.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn conv1d_epilogue_into<
    T: Float,
    E: Epilogue<T, O>,
    const S: usize,
    const F: usize,
    const OS: usize,
    const O: usize,
    const KW: usize,
    const ST: usize,
    const D: usize,
    const P: usize,
    const G: usize,
    const K: usize,
    const B: usize,
>(
    p: &Conv1dParams<T, O, K, B>,
    x: &Sequence<T, S, F>,
    e: &E,
    y: &mut Sequence<T, OS, O>,
) {
    const { assert_geometry::<S, F, OS, O, KW, ST, D, G, K, B>() };
    let xs: &[[T; F]; S] = &x.data.0;
    for (i, yt) in y.data.0.iter_mut().enumerate() {
        let mut acc = output_step::<T, F, O, KW, G, K, B>(p, |j| {
            tap_index(i, j, ST, D, P, S).map(|t| &xs[t])
        });
        e.all(&mut acc);
        *yt = acc;
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index loops mirror the formulas
mod tests {
    use super::*;
    use crate::activation::{Linear, Relu, Sigmoid, Softmax, Tanh};
    use crate::init::Rng;
    use crate::kernels::testutil::{check_grad, dot, fill};
    use crate::Tensor;

    /// A hand-worked dilated causal case: one feature, one filter, kernel
    /// 3, dilation 2 (`H = P = 4`), weights `[1, 10, 100]`, bias 0.5, input
    /// `x = [1, 2, 3, 4, 5, 6]`:
    /// `y[i] = 1·x[i−4] + 10·x[i−2] + 100·x[i] + 0.5` (zero before the start):
    /// y = [100.5, 200.5, 310.5, 420.5, 531.5, 642.5].
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn dilated_causal_by_hand() {
        let mut p = Conv1dParams::<f64, 1, 3, 1>::zeros();
        p.weight[(0, 0)] = 1.0;
        p.weight[(0, 1)] = 10.0;
        p.weight[(0, 2)] = 100.0;
        p.bias[0] = 0.5;
        let x = Sequence::<f64, 6, 1>::from_row_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let y = conv1d::<f64, Linear, 6, 1, 6, 1, 3, 1, 2, 4, 1, 3, 1>(&p, &x);
        let want = [100.5, 200.5, 310.5, 420.5, 531.5, 642.5];
        assert_eq!(y.as_slice(), &want);
        // And step by step, exactly.
        let mut st = Conv1dState::<f64, 1, 4>::zeros();
        for t in 0..6 {
            let yt = conv1d_step::<f64, Linear, 1, 1, 3, 2, 4, 1, 3, 1>(
                &p,
                &Vector::<f64, 1>::new(x[(0, t)]),
                &mut st,
            );
            assert_eq!(yt[0], want[t], "step {t}");
        }
        // Without the bias (B = 0): 0.5 less.
        let pb = Conv1dParams::<f64, 1, 3, 0> {
            weight: p.weight,
            bias: Default::default(),
        };
        let y0 = conv1d::<f64, Linear, 6, 1, 6, 1, 3, 1, 2, 4, 1, 3, 0>(&pb, &x);
        let want0 = want.map(|v| v - 0.5);
        assert_eq!(y0.as_slice(), &want0);
    }

    /// Two groups, stride 2, `same`-style padding 1 before and 1 after:
    /// features (a, b), filters: f0 reads a with taps [1, 2, 3], f1 reads b
    /// with taps [−1, 0, 1]; x = a: [1, 2, 3, 4], b: [4, 3, 2, 1]; outputs
    /// at i = 0, 1 read padded positions {−1, 0, 1} and {1, 2, 3}:
    /// f0 = [0 + 2·1 + 3·2, 1·2 + 2·3 + 3·4] = [8, 20],
    /// f1 = [0 + 0 + 3, −3 + 0 + 1] = [3, −2].
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn groups_and_stride_by_hand() {
        let mut p = Conv1dParams::<f64, 2, 3, 2>::zeros();
        for j in 0..3 {
            p.weight[(0, j)] = (j + 1) as f64;
            p.weight[(1, j)] = j as f64 - 1.0;
        }
        let x = Sequence::<f64, 4, 2>::from_column_slice(&[1.0, 4.0, 2.0, 3.0, 3.0, 2.0, 4.0, 1.0]);
        let y = conv1d::<f64, Linear, 4, 2, 2, 2, 3, 2, 1, 1, 2, 3, 2>(&p, &x);
        assert_eq!(y.as_slice(), &[8.0, 3.0, 20.0, -2.0]);
    }

    macro_rules! grad_case {
        ($a:ty, $seed:expr, S=$s:literal, F=$f:literal, OS=$os:literal, O=$o:literal,
         KW=$kw:literal, ST=$st:literal, D=$d:literal, P=$p:literal, G=$g:literal, B=$b:literal) => {{
            const K: usize = $f / $g * $kw;
            let mut rng = Rng::new($seed);
            let mut p = Conv1dParams::<f64, $o, K, $b>::zeros();
            fill(&mut rng, p.weight.as_mut_slice());
            fill(&mut rng, p.bias.as_mut_slice());
            let mut x = Sequence::<f64, $s, $f>::zeros();
            fill(&mut rng, x.as_flat_mut());
            let mut r = Sequence::<f64, $os, $o>::zeros();
            fill(&mut rng, r.as_flat_mut());
            let fwd = |p: &Conv1dParams<f64, $o, K, $b>, x: &Sequence<f64, $s, $f>| {
                conv1d::<f64, $a, $s, $f, $os, $o, $kw, $st, $d, $p, $g, K, $b>(p, x)
            };
            let y = fwd(&p, &x);
            let mut g = Conv1dParams::zeros();
            let dx = conv1d_backward::<f64, $a, $s, $f, $os, $o, $kw, $st, $d, $p, $g, K, $b>(
                &p, &x, &y, &r, &mut g,
            );
            let mut g2 = Conv1dParams::zeros();
            conv1d_backward_params::<f64, $a, $s, $f, $os, $o, $kw, $st, $d, $p, $g, K, $b>(
                &x, &y, &r, &mut g2,
            );
            assert_eq!(g, g2, "backward_params differs from backward");
            let loss = |q: &(Conv1dParams<f64, $o, K, $b>, Sequence<f64, $s, $f>)| {
                dot(r.as_flat(), fwd(&q.0, &q.1).as_flat())
            };
            let pt = (p, x);
            let what = concat!(stringify!($a), " seed ", stringify!($seed));
            check_grad(
                what,
                &pt,
                |q| q.0.weight.as_mut_slice(),
                loss,
                g.weight.as_slice(),
            );
            check_grad(
                what,
                &pt,
                |q| q.0.bias.as_mut_slice(),
                loss,
                g.bias.as_slice(),
            );
            check_grad(what, &pt, |q| q.1.as_flat_mut(), loss, dx.as_flat());
        }};
    }

    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn conv1d_backward_matches_finite_differences() {
        // valid, k = 3
        grad_case!(
            Tanh,
            1,
            S = 7,
            F = 3,
            OS = 5,
            O = 4,
            KW = 3,
            ST = 1,
            D = 1,
            P = 0,
            G = 1,
            B = 4
        );
        // same with stride 2 (n = 7: out 4, total (4−1)·2 + 3 − 7 = 2, 1 before)
        grad_case!(
            Relu,
            2,
            S = 7,
            F = 2,
            OS = 4,
            O = 3,
            KW = 3,
            ST = 2,
            D = 1,
            P = 1,
            G = 1,
            B = 3
        );
        // causal, dilation 2 and 4
        grad_case!(
            Sigmoid,
            3,
            S = 9,
            F = 2,
            OS = 9,
            O = 2,
            KW = 3,
            ST = 1,
            D = 2,
            P = 4,
            G = 1,
            B = 2
        );
        grad_case!(
            Linear,
            4,
            S = 9,
            F = 2,
            OS = 9,
            O = 2,
            KW = 2,
            ST = 1,
            D = 4,
            P = 4,
            G = 1,
            B = 2
        );
        // groups 2, no bias, softmax across the filters of a step
        grad_case!(
            Softmax,
            5,
            S = 6,
            F = 4,
            OS = 4,
            O = 4,
            KW = 3,
            ST = 1,
            D = 1,
            P = 0,
            G = 2,
            B = 0
        );
        // groups 2 with dilation, stride 3 and explicit padding 2
        grad_case!(
            Tanh,
            6,
            S = 8,
            F = 2,
            OS = 3,
            O = 4,
            KW = 2,
            ST = 3,
            D = 2,
            P = 2,
            G = 2,
            B = 4
        );
    }

    /// The definition (PyTorch's formula), in f64, on a larger strided,
    /// dilated, grouped, padded case.
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn conv1d_matches_the_definition() {
        const S: usize = 11;
        const F: usize = 6;
        const O: usize = 4;
        const G: usize = 2;
        const KW: usize = 3;
        const K: usize = F / G * KW;
        // stride 2, dilation 2, padding 3 both sides: OS = (11 + 6 − 5) / 2 + 1 = 7.
        let mut rng = Rng::new(9);
        let mut p = Conv1dParams::<f64, O, K, O>::zeros();
        fill(&mut rng, p.weight.as_mut_slice());
        fill(&mut rng, p.bias.as_mut_slice());
        let mut x = Sequence::<f64, S, F>::zeros();
        fill(&mut rng, x.as_flat_mut());
        let y = conv1d::<f64, Linear, S, F, 7, O, KW, 2, 2, 3, G, K, O>(&p, &x);
        for o in 0..O {
            let g = o / (O / G);
            for i in 0..7 {
                let mut s = p.bias[o];
                for c in 0..F / G {
                    for j in 0..KW {
                        let t = (2 * i + 2 * j) as isize - 3;
                        if (0..S as isize).contains(&t) {
                            s += p.weight[(o, c * KW + j)] * x[(g * (F / G) + c, t as usize)];
                        }
                    }
                }
                assert!((y[(o, i)] - s).abs() < 1e-12, "{o},{i}");
            }
        }
    }

    /// Streaming equals the forward exactly, in f64 and f32, with every
    /// tap count and dilation that reaches back past the start.
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn step_equals_forward_exactly() {
        #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
        fn run<T: Float, A: Activation>(seed: u64) {
            let mut rng = Rng::new(seed);
            let mut p = Conv1dParams::<T, 3, 6, 3>::zeros();
            let mut v = [0.0; 18 + 3 + 20];
            fill(&mut rng, &mut v);
            for (d, &s) in p.weight.as_mut_slice().iter_mut().zip(&v[..18]) {
                *d = T::of_f64(s);
            }
            for (d, &s) in p.bias.as_mut_slice().iter_mut().zip(&v[18..21]) {
                *d = T::of_f64(s);
            }
            let x = Sequence::<T, 10, 2>::from_fn(|f, t| T::of_f64(v[21 + 2 * t + f]));
            // KW = 3, D = 3: H = P = 6.
            let y = conv1d::<T, A, 10, 2, 10, 3, 3, 1, 3, 6, 1, 6, 3>(&p, &x);
            let mut st = Conv1dState::<T, 2, 6>::zeros();
            for t in 0..10 {
                let xt = Vector::<T, 2>::from_fn(|f, _| x[(f, t)]);
                let yt = conv1d_step::<T, A, 2, 3, 3, 3, 6, 1, 6, 3>(&p, &xt, &mut st);
                for o in 0..3 {
                    assert!(yt[o] == y[(o, t)], "step {t} filter {o}");
                }
            }
        }
        run::<f64, Linear>(1);
        run::<f32, Tanh>(2);
        run::<f64, Softmax>(3);
        run::<f32, Relu>(4);
    }
}
