//! Forward (and backward) kernels, one file per layer kind.
//!
//! Every kernel is a free function generic over the float, the activation
//! and every size, returning its output by value; the generated `forward`
//! chains them. The image kernels also have entry points on a type that
//! names their geometry ([`Conv2d`], [`MaxPool2d`], [`AvgPool2d`]; see `geometry.rs`), which
//! is what the generated code calls. Sizes that the macro has already checked are asserted again
//! at compile time (`const { assert!(..) }`) as a second net.

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
