//! Shapes and their inference through the layer list.

use crate::ast::{InputDecl, LayerDecl};
use crate::ctxt::Ctxt;
use crate::layers::args;
use std::fmt;

/// A tensor shape of one sample (no batch dimension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `[n]`
    Vector(usize),
    /// `[steps, features]`
    Seq(usize, usize),
    /// `[channels, height, width]`
    Image(usize, usize, usize),
}

impl Shape {
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Vector(n) => vec![n],
            Shape::Seq(t, f) => vec![t, f],
            Shape::Image(c, h, w) => vec![c, h, w],
        }
    }

    /// Number of values (saturating: every planned shape is at most
    /// [`MAX_LEN`], so this never saturates there).
    pub fn len(&self) -> usize {
        self.dims()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .unwrap_or(usize::MAX)
    }

    /// The values per step: a vector's length, a sequence's features (an
    /// image has no steps: its channels).
    pub fn width(&self) -> usize {
        match *self {
            Shape::Vector(n) | Shape::Seq(_, n) => n,
            Shape::Image(c, ..) => c,
        }
    }

    /// "a vector", "a sequence", "an image", for hints.
    pub fn what(&self) -> &'static str {
        match self {
            Shape::Vector(_) => "a vector",
            Shape::Seq(..) => "a sequence",
            Shape::Image(..) => "an image",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims().iter().map(|d| d.to_string()).collect();
        write!(f, "[{}]", dims.join(", "))
    }
}

/// The largest tensor (in values) a layer may produce, and the most
/// parameters a layer or a whole model may have: far beyond any stack, and
/// small enough that no size arithmetic in the macro can overflow `usize`,
/// even on a 32-bit host (dimensions are at most this, sizes, padding and
/// strides at most [`args::MAX_SIZE`] = 2^20, so a padded dimension is
/// below 2^27 and a sum of all parameter counts below 2^26).
pub const MAX_LEN: usize = 1 << 26;

pub fn input_shape(cx: &Ctxt, inp: &InputDecl) -> Option<Shape> {
    let mut dims = Vec::new();
    let mut ok = true;
    for d in &inp.dims {
        match args::size(cx, d, "each dimension of `input`") {
            Some(n) => dims.push(n),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let shape = match dims[..] {
        [n] => Shape::Vector(n),
        [t, f] => Shape::Seq(t, f),
        [c, h, w] => Shape::Image(c, h, w),
        _ => {
            cx.error_at(
                inp.bracket_span,
                format!(
                    "an input shape has 1, 2 or 3 dimensions: `[n]` (vector), `[steps, features]` (sequence) or `[channels, height, width]` (image); found {}",
                    dims.len()
                ),
            );
            return None;
        }
    };
    let len = shape
        .dims()
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match len {
        Some(n) if n <= MAX_LEN => Some(shape),
        _ => {
            cx.error_at(
                inp.bracket_span,
                format!("an input of shape {shape} is too large for a statically allocated network (at most {MAX_LEN} values)"),
            );
            None
        }
    }
}

/// The layer's output shape, if it is small enough.
pub fn checked_len(cx: &Ctxt, decl: &LayerDecl, shape: Shape) -> Option<Shape> {
    let len = shape
        .dims()
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match len {
        Some(n) if n <= MAX_LEN => Some(shape),
        _ => {
            cx.error_spanned(
                &decl.kind,
                format!(
                    "`{}` would output a {shape} tensor, too large for a statically allocated network (at most {MAX_LEN} values); make it smaller",
                    decl.name
                ),
            );
            None
        }
    }
}
