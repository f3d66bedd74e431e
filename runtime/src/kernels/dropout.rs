//! `Dropout(rate)` in the layer-major training forward: PyTorch's inverted
//! dropout. In [`DropoutMode::Draw`] each value is kept with probability
//! `1 − rate` and scaled by `1/(1 − rate)`, else zeroed; the mask
//! (`0` or `1/(1 − rate)` per value) is recorded in the tape, and the
//! backward is `dx = mask ⊙ dy`. [`DropoutMode::Replay`] multiplies by the
//! mask already in the tape; [`DropoutMode::Identity`] (evaluation) sets
//! it to ones. Outside the layer-major training forward (inference, the
//! one-sample `forward_train`) Dropout is the identity.

use crate::mode::DropoutMode;
use crate::{Float, Rng, Tensor};

/// The training forward of one sample: writes `mask` (per `mode`, drawing
/// from `rng` in [`DropoutMode::Draw`]: value `i` is dropped when the
/// generator's next uniform in `[0, 1)` is below `rate`) and `y = mask ⊙
/// x`. Every value of `mask` and `y` is written.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dropout_train_into<T: Float, X: Tensor<T>>(
    x: &X,
    rate: f64,
    mode: DropoutMode,
    rng: &mut Rng,
    mask: &mut X,
    y: &mut X,
) {
    let m = mask.as_flat_mut();
    match mode {
        DropoutMode::Draw => {
            let keep = T::one() / (T::one() - T::of_f64(rate));
            for v in m.iter_mut() {
                *v = if rng.uniform() < rate {
                    T::zero()
                } else {
                    keep
                };
            }
        }
        DropoutMode::Replay => {}
        DropoutMode::Identity => m.fill(T::one()),
    }
    for ((yv, &xv), &mv) in y
        .as_flat_mut()
        .iter_mut()
        .zip(x.as_flat())
        .zip(mask.as_flat())
    {
        *yv = xv * mv;
    }
}

/// Backward of [`dropout_train_into`]: `dx = mask ⊙ dy`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dropout_backward<T: Float, X: Tensor<T>>(mask: &X, dy: &X) -> X {
    let mut dx = *dy;
    for (d, &m) in dx.as_flat_mut().iter_mut().zip(mask.as_flat()) {
        *d *= m;
    }
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::SVector;

    #[test]
    fn by_hand() {
        let x = SVector::<f64, 4>::from([1.0, -2.0, 3.0, 4.0]);
        let mut mask = SVector::from([0.0, 2.0, 2.0, 0.0]);
        let mut y = SVector::zeros();
        let mut rng = Rng::new(1);
        dropout_train_into(&x, 0.5, DropoutMode::Replay, &mut rng, &mut mask, &mut y);
        assert_eq!(y.as_slice(), &[0.0, -4.0, 6.0, 0.0]);
        let dx = dropout_backward(&mask, &SVector::from([1.0, 1.0, -1.0, 1.0]));
        assert_eq!(dx.as_slice(), &[0.0, 2.0, -2.0, 0.0]);
        dropout_train_into(&x, 0.5, DropoutMode::Identity, &mut rng, &mut mask, &mut y);
        assert_eq!((y, mask), (x, SVector::repeat(1.0)));
    }

    #[test]
    fn draws_keep_one_minus_rate_scaled() {
        // 40 000 values at rate 0.3: the kept fraction is 0.7 within five
        // standard deviations (√(0.21/40000) ≈ 0.0023), every kept value
        // is x/0.7, and the same seed draws the same mask.
        let x = SVector::<f64, 400>::repeat(1.0);
        let (mut mask, mut y) = (SVector::zeros(), SVector::zeros());
        let mut rng = Rng::new(7);
        let mut kept = 0usize;
        let mut first = SVector::zeros();
        for draw in 0..100 {
            dropout_train_into(&x, 0.3, DropoutMode::Draw, &mut rng, &mut mask, &mut y);
            if draw == 0 {
                first = mask;
            }
            for &v in y.iter() {
                assert!(v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-15, "{v}");
                kept += usize::from(v != 0.0);
            }
        }
        let frac = kept as f64 / 40_000.0;
        assert!((frac - 0.7).abs() < 5.0 * 0.0023, "kept {frac}");
        let mut again = Rng::new(7);
        dropout_train_into(&x, 0.3, DropoutMode::Draw, &mut again, &mut mask, &mut y);
        assert_eq!(mask, first);
    }
}
