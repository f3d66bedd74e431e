//! Forward (and backward) kernels, one file per layer kind.
//!
//! Every kernel is a free function generic over the float, the activation
//! and every size. The contract is the same for every layer kind:
//!
//! - **forward** takes the parameters (if any) and the input by reference
//!   and returns the output by value (what the generated inference
//!   `forward` chains); its **`_into`** form takes the same arguments and
//!   then `&mut` output, and overwrites every value of it — what the
//!   training forward calls to record straight into its tape, so a large
//!   output is never built on the stack and copied (in a debug build
//!   nothing elides that copy). The by-value form is the `_into` form on a
//!   zeroed local. Kinds whose output is one value per channel (the global
//!   pools, a recurrent layer's last step) have only the by-value form;
//! - **backward** takes the parameters, the input and output as the tape
//!   recorded them, `dL/dy` and the gradient accumulator, adds the
//!   parameter gradients into it and returns `dL/dx`;
//! - **backward_params** is the same without the parameters and without
//!   `dL/dx`, for a layer below which no gradient is needed.
//!
//! The image and sequence kernels also have entry points on a type that
//! names their geometry ([`Conv2d`], [`MaxPool2d`], [`AvgPool2d`],
//! [`Conv1d`], …; see `geometry.rs`), which is what the generated code
//! calls. Sizes that the macro has already checked are asserted again at
//! compile time (`const { assert!(..) }`) as a second net.

mod blas;
mod conv;
mod conv1d;
mod dense;
mod dense_batch;
mod depthwise;
mod elementwise;
mod geometry;
mod global_pool;
mod merge;
mod pool;
mod pool1d;
mod recurrent;
mod reshape;
mod sequence;
pub(crate) mod simd;
#[cfg(test)]
mod testutil;

pub use conv::*;
pub use conv1d::*;
pub use dense::*;
pub use dense_batch::*;
pub use depthwise::*;
pub use elementwise::*;
pub use geometry::{Dilation, Dilation1d, Groups, PadBefore, SeqIn, SeqOut, Step, Window};
pub use geometry::{In, Kernel, Out, Pad, Stride};
pub use global_pool::*;
pub use merge::*;
pub use pool::*;
pub use pool1d::*;
pub use recurrent::*;
pub use reshape::*;
pub use sequence::*;
mod batchnorm;
pub use batchnorm::*;
mod epilogue;
pub use epilogue::*;
mod dropout;
pub use dropout::*;
pub mod avx2;
pub(crate) mod dispatch;
pub(crate) mod thumb;
