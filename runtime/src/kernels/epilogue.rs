//! Kernel epilogues: what a convolution or `Dense` kernel does to its output
//! sums in its own output loop, before it stores them.
//!
//! A kernel generic over an [`Epilogue`] calls it on each group of sums it
//! holds in registers — one output pixel's or step's `C` channels
//! ([`Epilogue::all`]), or a run of values of one channel
//! ([`Epilogue::channel`]) — so whatever the epilogue does costs no pass
//! over memory and no buffer of its own. Two epilogues exist:
//!
//! - [`Activate<A>`]: the activation alone, what every layer's own
//!   `activation = ..` is (the kernels' plain entry points use it);
//! - [`AffineThen<A>`]: a per-channel affine `y = scale_c · z + shift_c`
//!   and then the activation. BatchNorm with its stored statistics is such
//!   an affine ([`batchnorm_affine`](super::batchnorm_affine)); the
//!   generated inference forward hands it to the convolution or `Dense`
//!   before it, and the activation layer after it, so that
//!   `Conv2d → BatchNorm → Relu` runs as one loop.

use super::blas::madd;
use crate::{Activation, Float};
use core::marker::PhantomData;

/// What a kernel applies to its output sums before storing them; `C` is
/// the number of output channels (filters, units).
pub trait Epilogue<T: Float, const C: usize> {
    /// `true` if each value is transformed alone (given its channel), so a
    /// kernel may apply it to any run of one channel's values; `false` for
    /// `Softmax`, which needs every channel of a pixel or step together.
    const ELEMENTWISE: bool;
    /// Applies it to one output pixel's or step's `C` channel values.
    fn all(&self, v: &mut [T; C]);
    /// Applies it to values that all belong to channel `c` (a row of a
    /// channel-major image); element-wise epilogues only.
    fn channel(&self, c: usize, v: &mut [T]);
    /// What a hand-written target kernel may apply itself in registers:
    /// `SIMPLE_NONE` (it must call [`Epilogue::channel`]), `SIMPLE_LINEAR`
    /// (nothing to do) or `SIMPLE_RELU` (`x < 0 ? 0 : x`). A constant
    /// once inlined.
    #[doc(hidden)]
    #[inline(always)]
    fn simple() -> u8 {
        SIMPLE_NONE
    }
}

/// [`Epilogue::simple`]: a general epilogue.
pub(crate) const SIMPLE_NONE: u8 = 0;
/// [`Epilogue::simple`]: the identity.
pub(crate) const SIMPLE_LINEAR: u8 = 1;
/// [`Epilogue::simple`]: `relu`.
pub(crate) const SIMPLE_RELU: u8 = 2;

/// The activation `A` alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activate<A>(PhantomData<A>);

impl<A> Activate<A> {
    /// The epilogue (a zero-sized value).
    #[inline(always)]
    pub const fn new() -> Self {
        Activate(PhantomData)
    }
}

impl<T: Float, A: Activation, const C: usize> Epilogue<T, C> for Activate<A> {
    const ELEMENTWISE: bool = A::ELEMENTWISE;
    #[inline(always)]
    fn simple() -> u8 {
        use core::any::TypeId;
        if TypeId::of::<A>() == TypeId::of::<crate::activation::Linear>() {
            SIMPLE_LINEAR
        } else if TypeId::of::<A>() == TypeId::of::<crate::activation::Relu>() {
            SIMPLE_RELU
        } else {
            SIMPLE_NONE
        }
    }
    #[inline(always)]
    fn all(&self, v: &mut [T; C]) {
        A::apply(v);
    }
    #[inline(always)]
    fn channel(&self, _c: usize, v: &mut [T]) {
        A::apply(v);
    }
}

/// A per-channel affine map `y_c = scale_c · z_c + shift_c`, computed once
/// per call from a layer's parameters (BatchNorm's:
/// [`batchnorm_affine`](super::batchnorm_affine)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelAffine<T, const C: usize> {
    /// `scale_c`, one per channel.
    pub scale: [T; C],
    /// `shift_c`, one per channel.
    pub shift: [T; C],
}

impl<T: Float, const C: usize> ChannelAffine<T, C> {
    /// `y = scale_c · z + shift_c` for a value `z` of channel `c`.
    #[inline(always)]
    pub fn map(&self, c: usize, z: T) -> T {
        madd(self.scale[c], z, self.shift[c])
    }
}

/// The epilogue `act(scale_c · z + shift_c)`: a [`ChannelAffine`] and then
/// the activation `A`.
#[derive(Debug)]
pub struct AffineThen<'a, A, T, const C: usize> {
    affine: &'a ChannelAffine<T, C>,
    act: PhantomData<A>,
}

impl<'a, A, T, const C: usize> AffineThen<'a, A, T, C> {
    /// `affine`, then `A`.
    #[inline(always)]
    pub fn new(affine: &'a ChannelAffine<T, C>) -> Self {
        AffineThen {
            affine,
            act: PhantomData,
        }
    }
}

impl<T: Float, A: Activation, const C: usize> Epilogue<T, C> for AffineThen<'_, A, T, C> {
    const ELEMENTWISE: bool = A::ELEMENTWISE;
    #[inline(always)]
    fn all(&self, v: &mut [T; C]) {
        let ChannelAffine { scale, shift } = self.affine;
        for ((z, &s), &t) in v.iter_mut().zip(scale).zip(shift) {
            *z = madd(s, *z, t);
        }
        A::apply(v);
    }
    #[inline(always)]
    fn channel(&self, c: usize, v: &mut [T]) {
        let (s, t) = (self.affine.scale[c], self.affine.shift[c]);
        for z in v.iter_mut() {
            *z = madd(s, *z, t);
        }
        A::apply(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Relu, Softmax};

    #[test]
    fn affine_then_relu_by_hand() {
        let affine = ChannelAffine {
            scale: [2.0f64, -0.5],
            shift: [1.0, 0.25],
        };
        let e = AffineThen::<Relu, f64, 2>::new(&affine);
        // 2·3 + 1 = 7; −0.5·3 + 0.25 = −1.25 → 0.
        let mut v = [3.0, 3.0];
        e.all(&mut v);
        assert_eq!(v, [7.0, 0.0]);
        // Channel 1 only: −0.5·(−4) + 0.25 = 2.25; −0.5·1 + 0.25 → 0.
        let mut row = [-4.0, 1.0];
        e.channel(1, &mut row);
        assert_eq!(row, [2.25, 0.0]);
    }

    #[test]
    fn affine_then_softmax_groups_the_channels() {
        let affine = ChannelAffine {
            scale: [1.0f64, 1.0],
            shift: [0.0, 2.0f64.ln()],
        };
        let e = AffineThen::<Softmax, f64, 2>::new(&affine);
        const { assert!(!<AffineThen<Softmax, f64, 2> as Epilogue<f64, 2>>::ELEMENTWISE) };
        // e^0 : e^ln 2 = 1 : 2.
        let mut v = [0.0, 0.0];
        e.all(&mut v);
        assert!((v[0] - 1.0 / 3.0).abs() < 1e-15 && (v[1] - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn activate_is_the_activation() {
        let mut v = [-1.0f32, 2.0];
        Epilogue::<f32, 2>::all(&Activate::<Relu>::new(), &mut v);
        assert_eq!(v, [0.0, 2.0]);
    }
}
