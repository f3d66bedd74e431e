//! Glue between a recurrent layer's every-step output and the last-state
//! output of `return_sequences = false`.

use crate::Float;
use nalgebra::{SMatrix, SVector};

/// The last step (column) of a sequence of states `[S, H]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn last_step<T: Float, const H: usize, const S: usize>(h: &SMatrix<T, H, S>) -> SVector<T, H> {
    const { assert!(S > 0, "a sequence has at least one step") };
    h.column(S - 1).into_owned()
}

/// The gradient of every state given the gradient of the last one: zero for
/// every step but the last (backward of [`last_step`]).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn last_step_grad<T: Float, const H: usize, const S: usize>(
    d: &SVector<T, H>,
) -> SMatrix<T, H, S> {
    const { assert!(S > 0, "a sequence has at least one step") };
    let mut out = SMatrix::<T, H, S>::zeros();
    out.set_column(S - 1, d);
    out
}

/// A zeroed record of a training tape: any tensor, or a recurrent layer's
/// record of gates and states. The generated `Tape::zeros` builds every
/// field through it, whatever the field's kind.
pub trait TapeRecord<T: Float>: Sized {
    /// The all-zero record (overwritten by the training forward).
    fn zeroed() -> Self;
}

impl<T: Float, X: crate::Tensor<T>> TapeRecord<T> for X {
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
    fn zeroed() -> Self {
        X::zeros()
    }
}

impl<T: Float, const H: usize, const GH: usize, const S: usize> TapeRecord<T>
    for super::LstmTape<T, H, GH, S>
{
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
    fn zeroed() -> Self {
        Self::zeros()
    }
}

impl<T: Float, const H: usize, const GH: usize, const S: usize> TapeRecord<T>
    for super::GruTape<T, H, GH, S>
{
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
    fn zeroed() -> Self {
        Self::zeros()
    }
}

impl<T: Float, const H: usize, const S: usize> TapeRecord<T> for super::SimpleRnnTape<T, H, S> {
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
    fn zeroed() -> Self {
        Self::zeros()
    }
}
