//! Stand-alone activation layers (`Relu`, `Sigmoid`, `Tanh`, `Softmax`,
//! `Relu6`, `LeakyRelu`, `Elu`, `Gelu`, `Silu`, `HardSigmoid`,
//! `HardSwish`) and their backward passes, from the output or (for the
//! activations whose derivative needs it) from the input.

use crate::{Activation, Float, Image};
use nalgebra::SMatrix;

/// An activation layer on a vector or a sequence (`SMatrix<T, F, S>`): an
/// element-wise activation acts on every value; `Softmax` acts on each
/// column (the whole vector, or the features of one step).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate<T: Float, A: Activation, const F: usize, const S: usize>(
    mut x: SMatrix<T, F, S>,
) -> SMatrix<T, F, S> {
    activate_in_place::<T, A, F, S>(&mut x);
    x
}

/// [`activate`] of `x` written into `y`, for recording straight into a
/// tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate_into<T: Float, A: Activation, const F: usize, const S: usize>(
    x: &SMatrix<T, F, S>,
    y: &mut SMatrix<T, F, S>,
) {
    *y = *x;
    activate_in_place::<T, A, F, S>(y);
}

/// [`activate`] in place.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate_in_place<T: Float, A: Activation, const F: usize, const S: usize>(
    x: &mut SMatrix<T, F, S>,
) {
    if A::ELEMENTWISE {
        A::apply(x.as_mut_slice());
    } else {
        for col in x.as_mut_slice().chunks_exact_mut(F) {
            A::apply(col);
        }
    }
}

/// An activation layer on an image: element-wise activations act on every
/// value; `Softmax` acts across the channels of each pixel (Keras' default
/// axis, the channel axis).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate_image<T: Float, A: Activation, const C: usize, const H: usize, const W: usize>(
    mut x: Image<T, C, H, W>,
) -> Image<T, C, H, W> {
    activate_image_in_place::<T, A, C, H, W>(&mut x);
    x
}

/// [`activate_image`] of `x` written into `y`, for recording straight
/// into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate_image_into<
    T: Float,
    A: Activation,
    const C: usize,
    const H: usize,
    const W: usize,
>(
    x: &Image<T, C, H, W>,
    y: &mut Image<T, C, H, W>,
) {
    *y = *x;
    activate_image_in_place::<T, A, C, H, W>(y);
}

/// [`activate_image`] in place.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate_image_in_place<
    T: Float,
    A: Activation,
    const C: usize,
    const H: usize,
    const W: usize,
>(
    x: &mut Image<T, C, H, W>,
) {
    if A::ELEMENTWISE {
        A::apply(x.as_flattened_mut().as_flattened_mut());
    } else {
        for i in 0..H {
            for j in 0..W {
                let mut v = [T::zero(); C];
                for (vc, xc) in v.iter_mut().zip(x.iter()) {
                    *vc = xc[i][j];
                }
                A::apply(&mut v);
                for (&vc, xc) in v.iter().zip(x.iter_mut()) {
                    xc[i][j] = vc;
                }
            }
        }
    }
}

/// Backward of [`activate`]: `dL/dx` from the layer's output `y` and
/// `dy = dL/dy` (per column for `Softmax`).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate_backward<T: Float, A: Activation, const F: usize, const S: usize>(
    y: &SMatrix<T, F, S>,
    dy: &SMatrix<T, F, S>,
) -> SMatrix<T, F, S> {
    let mut dx = *dy;
    if A::ELEMENTWISE {
        A::backward(y.as_slice(), dx.as_mut_slice());
    } else {
        for (yc, dc) in y
            .as_slice()
            .chunks_exact(F)
            .zip(dx.as_mut_slice().chunks_exact_mut(F))
        {
            A::backward(yc, dc);
        }
    }
    dx
}

/// Backward of [`activate_image`]: `dL/dx` from the layer's output `y` and
/// `dy = dL/dy` (across the channels of each pixel for `Softmax`).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate_image_backward<
    T: Float,
    A: Activation,
    const C: usize,
    const H: usize,
    const W: usize,
>(
    y: &Image<T, C, H, W>,
    dy: &Image<T, C, H, W>,
) -> Image<T, C, H, W> {
    let mut dx = *dy;
    if A::ELEMENTWISE {
        A::backward(
            y.as_flattened().as_flattened(),
            dx.as_flattened_mut().as_flattened_mut(),
        );
    } else {
        for i in 0..H {
            for j in 0..W {
                let mut yv = [T::zero(); C];
                let mut dv = [T::zero(); C];
                for ((a, b), (yc, dc)) in yv
                    .iter_mut()
                    .zip(dv.iter_mut())
                    .zip(y.iter().zip(dx.iter()))
                {
                    *a = yc[i][j];
                    *b = dc[i][j];
                }
                A::backward(&yv, &mut dv);
                for (&b, dc) in dv.iter().zip(dx.iter_mut()) {
                    dc[i][j] = b;
                }
            }
        }
    }
    dx
}

/// Backward of [`activate`] for an element-wise activation whose
/// derivative needs its input (`gelu`, `silu`, `hard_swish`; see
/// [`Activation::NEEDS_INPUT`]): `dL/dx` from the input `x` and
/// `dy = dL/dy`. Also the first half of the backward of a `Dense` with
/// such an activation fused in, `x` then being its pre-activation.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate_backward_input<T: Float, A: Activation, const F: usize, const S: usize>(
    x: &SMatrix<T, F, S>,
    dy: &SMatrix<T, F, S>,
) -> SMatrix<T, F, S> {
    const {
        assert!(
            A::ELEMENTWISE,
            "the backward from the input is element-wise"
        )
    }
    let mut dx = *dy;
    A::backward_from_input(x.as_slice(), dx.as_mut_slice());
    dx
}

/// Backward of [`activate_image`] from the input, as
/// [`activate_backward_input`] (element-wise activations).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn activate_image_backward_input<
    T: Float,
    A: Activation,
    const C: usize,
    const H: usize,
    const W: usize,
>(
    x: &Image<T, C, H, W>,
    dy: &Image<T, C, H, W>,
) -> Image<T, C, H, W> {
    const {
        assert!(
            A::ELEMENTWISE,
            "the backward from the input is element-wise"
        )
    }
    let mut dx = *dy;
    A::backward_from_input(
        x.as_flattened().as_flattened(),
        dx.as_flattened_mut().as_flattened_mut(),
    );
    dx
}

/// `acc += g`, element by element: a node read by several layers gets
/// the sum of the gradients its readers send back.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn accumulate<T: Float, X: crate::Tensor<T>>(acc: &mut X, g: &X) {
    for (a, &b) in acc.as_flat_mut().iter_mut().zip(g.as_flat()) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{
        Elu, Gelu, HardSigmoid, HardSwish, LeakyRelu, Linear, Relu, Relu6, Sigmoid, Silu, Softmax,
        Tanh,
    };
    use crate::init::Rng;
    use crate::kernels::testutil::close_rel;
    use crate::kernels::testutil::{check_grad, dot, fill};
    use crate::Tensor;
    use nalgebra::SVector;

    #[test]
    fn elementwise_by_hand() {
        let x = SVector::<f32, 4>::new(-2.0, -0.0, 0.5, 3.0);
        close_rel(
            activate::<f32, Relu, 4, 1>(x).as_slice(),
            &[0.0, 0.0, 0.5, 3.0],
            0.0,
        );
        close_rel(
            activate::<f32, Linear, 4, 1>(x).as_slice(),
            &[-2.0, 0.0, 0.5, 3.0],
            0.0,
        );
        let sig = [-2.0f64, 0.0, 0.5, 3.0].map(|z| 1.0 / (1.0 + (-z).exp()));
        close_rel(activate::<f32, Sigmoid, 4, 1>(x).as_slice(), &sig, 2e-7);
        let th = [-2.0f64, 0.0, 0.5, 3.0].map(f64::tanh);
        close_rel(activate::<f32, Tanh, 4, 1>(x).as_slice(), &th, 2e-7);
        // relu keeps NaN, as torch.relu does.
        let n = activate::<f32, Relu, 1, 1>(SVector::<f32, 1>::new(f32::NAN));
        assert!(n[0].is_nan());
    }

    /// softmax([1, 2, 3]) = [1, e, e²] / (1 + e + e²), and adding 1000 to
    /// every input changes nothing (a naive exp would overflow to inf/inf).
    #[test]
    fn softmax_on_a_vector_and_large_inputs() {
        let e = 1f64.exp();
        let s = 1.0 + e + e * e;
        let want = [1.0 / s, e / s, e * e / s];
        for shift in [0.0, 1000.0, -1000.0] {
            let x = SVector::<f64, 3>::new(1.0 + shift, 2.0 + shift, 3.0 + shift);
            close_rel(activate::<f64, Softmax, 3, 1>(x).as_slice(), &want, 1e-15);
            let x32 = x.map(|v| v as f32);
            close_rel(activate::<f32, Softmax, 3, 1>(x32).as_slice(), &want, 1e-6);
        }
        // [1000, 0]: e^-1000 underflows to 0, the result is [1, 0], no NaN.
        let y = activate::<f32, Softmax, 2, 1>(SVector::<f32, 2>::new(1000.0, 0.0));
        assert_eq!(y.as_slice(), &[1.0, 0.0]);
    }

    #[test]
    fn softmax_per_step_of_a_sequence() {
        // [S, F] = [2, 2]: steps [0, ln 3] -> [1/4, 3/4], [1000, 1000] -> [1/2, 1/2].
        let x = SMatrix::<f32, 2, 2>::new(0.0, 1000.0, 3f32.ln(), 1000.0);
        let y = activate::<f32, Softmax, 2, 2>(x);
        close_rel(y.as_slice(), &[0.25, 0.75, 0.5, 0.5], 1e-6);
    }

    #[test]
    fn softmax_across_channels_of_an_image() {
        // 3 channels, 1×2 pixels. Pixel 0: [0, ln 2, ln 5] -> [1, 2, 5] / 8.
        // Pixel 1: [1000, 999, -1000] -> [1, 1/e, 0] / (1 + 1/e).
        let x: Image<f32, 3, 1, 2> = [
            [[0.0, 1000.0]],
            [[2f32.ln(), 999.0]],
            [[5f32.ln(), -1000.0]],
        ];
        let y = activate_image::<f32, Softmax, 3, 1, 2>(x);
        let ie = (-1f64).exp();
        let want = [
            1.0 / 8.0,
            1.0 / (1.0 + ie),
            2.0 / 8.0,
            ie / (1.0 + ie),
            5.0 / 8.0,
            0.0,
        ];
        close_rel(y.as_flat(), &want, 1e-6);
        // Element-wise activations act on every value.
        let r = activate_image::<f32, Relu, 3, 1, 2>(x);
        assert_eq!(
            r,
            [[[0.0, 1000.0]], [[2f32.ln(), 999.0]], [[5f32.ln(), 0.0]]]
        );
    }

    fn vec_grad<A: Activation, const F: usize, const S: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let mut x = SMatrix::<f64, F, S>::zeros();
        fill(&mut rng, x.as_mut_slice());
        x *= 3.0;
        let mut r = SMatrix::<f64, F, S>::zeros();
        fill(&mut rng, r.as_mut_slice());
        let y = activate::<f64, A, F, S>(x);
        let dx = activate_backward::<f64, A, F, S>(&y, &r);
        let loss =
            |q: &SMatrix<f64, F, S>| dot(r.as_slice(), activate::<f64, A, F, S>(*q).as_slice());
        check_grad(A::NAME, &x, |q| q.as_mut_slice(), loss, dx.as_slice());
    }

    fn image_grad<A: Activation, const C: usize, const H: usize, const W: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let mut x = <Image<f64, C, H, W> as Tensor<f64>>::zeros();
        fill(&mut rng, x.as_flat_mut());
        let mut r = x;
        fill(&mut rng, r.as_flat_mut());
        let y = activate_image::<f64, A, C, H, W>(x);
        let dx = activate_image_backward::<f64, A, C, H, W>(&y, &r);
        let loss = |q: &Image<f64, C, H, W>| {
            dot(r.as_flat(), activate_image::<f64, A, C, H, W>(*q).as_flat())
        };
        check_grad(A::NAME, &x, |q| q.as_flat_mut(), loss, dx.as_flat());
    }

    #[test]
    fn activation_backward_matches_finite_differences() {
        for seed in 0..3 {
            vec_grad::<Linear, 5, 1>(seed);
            vec_grad::<Relu, 5, 3>(seed);
            vec_grad::<Sigmoid, 5, 3>(seed);
            vec_grad::<Tanh, 5, 3>(seed);
            vec_grad::<Softmax, 5, 1>(seed);
            vec_grad::<Softmax, 4, 3>(seed);
            image_grad::<Relu, 2, 3, 2>(seed);
            image_grad::<Tanh, 2, 3, 2>(seed);
            image_grad::<Softmax, 3, 2, 2>(seed);
        }
    }

    /// As [`vec_grad`] for an activation whose derivative needs its
    /// input, through [`activate_backward_input`]; inputs in [-6, 6).
    fn vec_grad_input<A: Activation, const F: usize, const S: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let mut x = SMatrix::<f64, F, S>::zeros();
        fill(&mut rng, x.as_mut_slice());
        x *= 6.0;
        let mut r = SMatrix::<f64, F, S>::zeros();
        fill(&mut rng, r.as_mut_slice());
        let dx = activate_backward_input::<f64, A, F, S>(&x, &r);
        let loss =
            |q: &SMatrix<f64, F, S>| dot(r.as_slice(), activate::<f64, A, F, S>(*q).as_slice());
        check_grad(A::NAME, &x, |q| q.as_mut_slice(), loss, dx.as_slice());
    }

    fn image_grad_input<A: Activation, const C: usize, const H: usize, const W: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let mut x = <Image<f64, C, H, W> as Tensor<f64>>::zeros();
        fill(&mut rng, x.as_flat_mut());
        for v in x.as_flat_mut() {
            *v *= 5.0;
        }
        let mut r = x;
        fill(&mut rng, r.as_flat_mut());
        let dx = activate_image_backward_input::<f64, A, C, H, W>(&x, &r);
        let loss = |q: &Image<f64, C, H, W>| {
            dot(r.as_flat(), activate_image::<f64, A, C, H, W>(*q).as_flat())
        };
        check_grad(A::NAME, &x, |q| q.as_flat_mut(), loss, dx.as_flat());
    }

    /// `α = 0.2` and `α = 0.5` as the DSL writes them.
    const A02: u64 = 0.2f64.to_bits();
    const A05: u64 = 0.5f64.to_bits();

    #[test]
    fn new_activations_backward_match_finite_differences() {
        // Random inputs in [-3, 3) (vec_grad) or [-6, 6): the chance of
        // one within 2e-4 of a kink (0, ±3, 6) is about 1e-3 per value,
        // and these seeds have none.
        for seed in 0..3 {
            vec_grad::<Relu6, 5, 3>(seed);
            vec_grad::<LeakyRelu<A02>, 5, 3>(seed);
            vec_grad::<Elu<A05>, 5, 3>(seed);
            vec_grad::<HardSigmoid, 5, 3>(seed);
            image_grad::<Elu<{ crate::activation::ELU_ALPHA }>, 2, 3, 2>(seed);
            vec_grad_input::<Gelu, 5, 3>(seed);
            vec_grad_input::<Silu, 5, 3>(seed);
            vec_grad_input::<HardSwish, 5, 3>(seed);
            image_grad_input::<Gelu, 2, 3, 2>(seed);
            image_grad_input::<HardSwish, 2, 3, 2>(seed);
            // The default `backward_from_input` (recompute, then from the
            // output) of an output-derivative activation.
            vec_grad_input::<Elu<A05>, 4, 2>(seed);
            vec_grad_input::<Tanh, 4, 2>(seed);
        }
    }

    #[test]
    fn accumulate_sums_every_value() {
        let mut acc: Image<f64, 2, 1, 2> = [[[1.0, -2.0]], [[0.5, 4.0]]];
        accumulate(&mut acc, &[[[0.25, 2.0]], [[-0.5, 1.0]]]);
        assert_eq!(acc, [[[1.25, 0.0]], [[0.0, 5.0]]]);
    }
}
