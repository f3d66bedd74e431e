//! `Dense`: `y = act(W x + b)`, on a vector or on every step of a sequence.

use crate::{Activation, DenseParams, Float};
use nalgebra::{SMatrix, SVector};

/// `Dense` on a vector: `act(W x + b)`.
#[inline]
pub fn dense<T: Float, A: Activation, const I: usize, const O: usize>(
    p: &DenseParams<T, I, O>,
    x: &SVector<T, I>,
) -> SVector<T, O> {
    let mut y = p.bias;
    // Column-major W: add x[i] times column i; each column is contiguous, so
    // the inner loop runs over O consecutive values and vectorises.
    let w = p.weight.as_slice();
    for (i, &xi) in x.as_slice().iter().enumerate() {
        let col = &w[i * O..(i + 1) * O];
        for (yo, &wo) in y.as_mut_slice().iter_mut().zip(col) {
            *yo += wo * xi;
        }
    }
    A::apply(y.as_mut_slice());
    y
}

/// `Dense` applied to every step of a sequence `[S, I]` → `[S, O]`.
#[inline]
pub fn dense_seq<T: Float, A: Activation, const I: usize, const O: usize, const S: usize>(
    p: &DenseParams<T, I, O>,
    x: &SMatrix<T, I, S>,
) -> SMatrix<T, O, S> {
    let mut y = SMatrix::<T, O, S>::zeros();
    for t in 0..S {
        let xt: SVector<T, I> = x.column(t).into_owned();
        y.set_column(t, &dense::<T, A, I, O>(p, &xt));
    }
    y
}
