//! Glue between a recurrent layer's every-step output and the last-state
//! output of `return_sequences = false`.

use crate::Float;
use nalgebra::{SMatrix, SVector};

/// The last step (column) of a sequence of states `[S, H]`.
#[inline]
pub fn last_step<T: Float, const H: usize, const S: usize>(h: &SMatrix<T, H, S>) -> SVector<T, H> {
    const { assert!(S > 0, "a sequence has at least one step") };
    h.column(S - 1).into_owned()
}

/// The gradient of every state given the gradient of the last one: zero for
/// every step but the last (backward of [`last_step`]).
#[inline]
pub fn last_step_grad<T: Float, const H: usize, const S: usize>(
    d: &SVector<T, H>,
) -> SMatrix<T, H, S> {
    const { assert!(S > 0, "a sequence has at least one step") };
    let mut out = SMatrix::<T, H, S>::zeros();
    out.set_column(S - 1, d);
    out
}
