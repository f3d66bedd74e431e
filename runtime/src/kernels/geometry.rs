//! Named sizes for the kernels' entry points.
//!
//! Array sizes must be const generic parameters on stable Rust, so a
//! kernel over an image needs a dozen of them. Instead of a positional
//! list, each layer kind's kernel file defines a type whose parameters are
//! these labelled parts, and the generated code names the geometry once,
//! readably:
//!
//! ```ignore
//! let conv1 = k::Conv2d::<a::Relu, k::In<1, 10, 10>, k::Out<32, 8, 8>,
//!     k::Kernel<3, 3>, k::Stride<1, 1>, k::Pad<0, 0>>::forward(&self.conv1, input);
//! ```
//!
//! The parts carry no data. The macro has checked that they agree (that
//! `Out` is what `In`, `Kernel`, `Stride` and `Pad` give); the kernels
//! assert at compile time what they rely on.

/// An input `[channels, height, width]`.
pub struct In<const C: usize, const H: usize, const W: usize>;

/// An output `[channels, height, width]`.
pub struct Out<const C: usize, const H: usize, const W: usize>;

/// A window `height × width` (a convolution's kernel, a pooling window).
pub struct Kernel<const H: usize, const W: usize>;

/// The step between windows, rows and columns.
pub struct Stride<const H: usize, const W: usize>;

/// The zero rows on top and columns on the left (the bottom and right
/// padding is whatever the output size implies).
pub struct Pad<const TOP: usize, const LEFT: usize>;

/// The spacing between a kernel's taps, rows and columns (1: adjacent).
pub struct Dilation<const H: usize, const W: usize>;

// The parts of the 1-D kernels (`Conv1d`, `MaxPool1d`, `AvgPool1d`) on a
// sequence `[steps, features]`.

/// An input sequence `[steps, features]`.
pub struct SeqIn<const STEPS: usize, const FEATURES: usize>;

/// An output sequence `[steps, features]`.
pub struct SeqOut<const STEPS: usize, const FEATURES: usize>;

/// A 1-D window of `K` taps (a `Conv1d` kernel, a 1-D pooling window).
pub struct Window<const K: usize>;

/// The step between 1-D windows.
pub struct Step<const S: usize>;

/// The spacing between the taps of a window (1: adjacent).
pub struct Dilation1d<const D: usize>;

/// The zero steps before a sequence (the padding after is whatever the
/// output length implies).
pub struct PadBefore<const P: usize>;

/// The number of groups the channels are split into (1: every filter
/// reads every input channel).
pub struct Groups<const G: usize>;
