//! Stand-alone activation layers (`Relu`, `Sigmoid`, `Tanh`, `Softmax`).

use crate::{Activation, Float, Image};
use nalgebra::SMatrix;

/// An activation layer on a vector or a sequence (`SMatrix<T, F, S>`): an
/// element-wise activation acts on every value; `Softmax` acts on each
/// column (the whole vector, or the features of one step).
#[inline]
pub fn activate<T: Float, A: Activation, const F: usize, const S: usize>(
    mut x: SMatrix<T, F, S>,
) -> SMatrix<T, F, S> {
    if A::ELEMENTWISE {
        A::apply(x.as_mut_slice());
    } else {
        for col in x.as_mut_slice().chunks_exact_mut(F) {
            A::apply(col);
        }
    }
    x
}

/// An activation layer on an image: element-wise activations act on every
/// value; `Softmax` acts across the channels of each pixel (Keras' default
/// axis, the channel axis).
#[inline]
pub fn activate_image<T: Float, A: Activation, const C: usize, const H: usize, const W: usize>(
    mut x: Image<T, C, H, W>,
) -> Image<T, C, H, W> {
    if A::ELEMENTWISE {
        A::apply(x.as_flattened_mut().as_flattened_mut());
    } else {
        for i in 0..H {
            for j in 0..W {
                let mut v = [T::zero(); C];
                for c in 0..C {
                    v[c] = x[c][i][j];
                }
                A::apply(&mut v);
                for c in 0..C {
                    x[c][i][j] = v[c];
                }
            }
        }
    }
    x
}
