//! Shapes and their inference through the layer list.

use crate::ast::{Entry, InputDecl, LayerDecl, ModelDef};
use crate::ctxt::Ctxt;
use crate::layers::{self, Padding, Spec};
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

    pub fn len(&self) -> usize {
        self.dims().iter().product()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims().iter().map(|d| d.to_string()).collect();
        write!(f, "[{}]", dims.join(", "))
    }
}

/// The largest tensor (in values) a layer may produce: far beyond any
/// stack, and small enough that no size arithmetic can overflow.
const MAX_LEN: usize = 1 << 26;

/// One layer with its resolved arguments and shapes.
pub struct Planned<'a> {
    pub decl: &'a LayerDecl,
    pub spec: Spec,
    pub input: Shape,
    pub output: Shape,
    /// Conv2d only: zero rows on top and columns on the left.
    pub pad_top_left: (usize, usize),
}

pub struct Plan<'a> {
    pub input: Shape,
    pub layers: Vec<Planned<'a>>,
}

/// Reads the input shape and infers every layer's output. Records every
/// error it finds; returns `None` if any layer could not be planned.
pub fn infer<'a>(cx: &Ctxt, def: &'a ModelDef) -> Option<Plan<'a>> {
    let mut input_decl: Option<&InputDecl> = None;
    let mut layer_decls: Vec<&LayerDecl> = Vec::new();
    for (i, entry) in def.entries.iter().enumerate() {
        match entry {
            Entry::Input(inp) if inp.key == "input" => {
                if input_decl.is_some() {
                    cx.error_spanned(&inp.key, "`input` is given twice");
                } else if i != 0 {
                    cx.error_spanned(
                        &inp.key,
                        "`input` must be the first entry, before the layers",
                    );
                }
                input_decl.get_or_insert(inp);
            }
            Entry::Input(inp) => {
                cx.error_spanned(
                    &inp.key,
                    format!(
                        "only `input` takes a shape `[..]`; `{}` needs a layer kind, e.g. `{}: Dense(64)`",
                        inp.key, inp.key
                    ),
                );
            }
            Entry::Layer(l) if l.name == "input" => {
                cx.error_spanned(
                    &l.kind,
                    "`input` takes a shape: `input: [n]` (vector), `[steps, features]` (sequence) or `[channels, height, width]` (image)",
                );
            }
            Entry::Layer(l) => layer_decls.push(l),
        }
    }
    let input = match input_decl {
        Some(inp) => input_shape(cx, inp),
        None => {
            cx.error_spanned(
                &def.name,
                format!(
                    "`{}` has no `input`; start the layer list with its shape, e.g. `input: [1, 28, 28]` (image [channels, height, width]), `input: [32, 8]` (sequence [steps, features]) or `input: [16]` (vector)",
                    def.name
                ),
            );
            None
        }
    };
    if layer_decls.is_empty() && input_decl.is_some() {
        cx.error_at(
            def.brace_span,
            format!(
                "`{}` has no layers; add at least one after `input`, e.g. `out: Dense(1)`",
                def.name
            ),
        );
    }

    let mut ok = input.is_some();
    let mut current = input;
    let mut layers = Vec::new();
    let mut prev: Option<&Planned> = None;
    for decl in layer_decls {
        let spec = layers::resolve(cx, decl);
        let (Some(spec), Some(shape)) = (spec, current) else {
            ok = false;
            current = None; // later layers' arguments are still checked, not their shapes
            continue;
        };
        let from = match prev {
            Some(p) => format!("`{}` outputs {}", p.decl.name, shape),
            None => format!("the input is {shape}"),
        };
        let count = params_wide(spec, shape);
        if count > MAX_LEN as u128 {
            cx.error_spanned(
                &decl.kind,
                format!("`{}` would have {count} parameters, too many for a statically allocated network", decl.name),
            );
            ok = false;
            current = None;
            continue;
        }
        match output_shape(cx, decl, &spec, shape, &from, prev) {
            Some((output, pad_top_left)) => {
                layers.push(Planned {
                    decl,
                    spec,
                    input: shape,
                    output,
                    pad_top_left,
                });
                current = Some(output);
                prev = layers.last();
            }
            None => {
                ok = false;
                current = None;
            }
        }
    }
    if ok && !cx.has_errors() {
        Some(Plan {
            input: input?,
            layers,
        })
    } else {
        None
    }
}

fn input_shape(cx: &Ctxt, inp: &InputDecl) -> Option<Shape> {
    let mut dims = Vec::new();
    let mut ok = true;
    for d in &inp.dims {
        match layers::size(cx, d, "an input dimension") {
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
    checked_len(cx, &inp.key, shape)
}

fn checked_len(cx: &Ctxt, at: &dyn quote::ToTokens, shape: Shape) -> Option<Shape> {
    let len = shape
        .dims()
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match len {
        Some(n) if n <= MAX_LEN => Some(shape),
        _ => {
            cx.error_spanned(
                at,
                format!("a {shape} tensor is too large for a statically allocated network"),
            );
            None
        }
    }
}

/// Returns the output shape (and Conv2d's top/left padding).
fn output_shape(
    cx: &Ctxt,
    decl: &LayerDecl,
    spec: &Spec,
    input: Shape,
    from: &str,
    prev: Option<&Planned>,
) -> Option<(Shape, (usize, usize))> {
    let name = &decl.name;
    let kind = spec.kind_name();
    let out = match (*spec, input) {
        (Spec::Dense { units, .. }, Shape::Vector(_)) => Shape::Vector(units),
        (Spec::Dense { units, .. }, Shape::Seq(t, _)) => Shape::Seq(t, units),
        (Spec::Dense { .. }, Shape::Image(..)) => {
            cx.error_spanned(
                &decl.kind,
                format!("`Dense` needs a vector, but {from}; add `flat: Flatten` before `{name}`"),
            );
            return None;
        }
        (
            Spec::Conv2d {
                filters,
                kernel: (kh, kw),
                stride: (sh, sw),
                padding,
                ..
            },
            Shape::Image(_, h, w),
        ) => {
            let (pt, pb, pl, pr) = match padding {
                Padding::Valid => (0, 0, 0, 0),
                Padding::Explicit(ph, pw) => (ph, ph, pw, pw),
                Padding::Same => {
                    let (t, b) = same_padding(h, kh, sh);
                    let (l, r) = same_padding(w, kw, sw);
                    (t, b, l, r)
                }
            };
            let (ph, pw) = (h + pt + pb, w + pl + pr);
            if kh > ph || kw > pw {
                let padded = if pt + pb + pl + pr > 0 {
                    format!(" (padded to {ph}×{pw})")
                } else {
                    String::new()
                };
                cx.error_spanned(
                    &decl.kind,
                    format!(
                        "the {kh}×{kw} kernel of `{name}` does not fit its input: {from}{padded}; use a smaller kernel or `padding = same`"
                    ),
                );
                return None;
            }
            let oh = (ph - kh) / sh + 1;
            let ow = (pw - kw) / sw + 1;
            return checked_len(cx, &decl.kind, Shape::Image(filters, oh, ow))
                .map(|s| (s, (pt, pl)));
        }
        (
            Spec::Pool {
                size: (kh, kw),
                stride: (sh, sw),
                ..
            },
            Shape::Image(c, h, w),
        ) => {
            if kh > h || kw > w {
                cx.error_spanned(
                    &decl.kind,
                    format!("the {kh}×{kw} window of `{name}` does not fit its input: {from}; use a smaller window"),
                );
                return None;
            }
            Shape::Image(c, (h - kh) / sh + 1, (w - kw) / sw + 1)
        }
        (Spec::Conv2d { .. } | Spec::Pool { .. }, _) => {
            cx.error_spanned(
                &decl.kind,
                format!("`{kind}` needs an image [channels, height, width], but {from}"),
            );
            return None;
        }
        (Spec::Flatten, s) => Shape::Vector(s.len()),
        (
            Spec::Recurrent {
                units,
                return_sequences,
                ..
            },
            Shape::Seq(t, _),
        ) => {
            if return_sequences {
                Shape::Seq(t, units)
            } else {
                Shape::Vector(units)
            }
        }
        (Spec::Recurrent { .. }, Shape::Vector(_)) => {
            let hint = match prev {
                Some(p)
                    if matches!(
                        p.spec,
                        Spec::Recurrent {
                            return_sequences: false,
                            ..
                        }
                    ) =>
                {
                    format!(
                        " (its last hidden state only); set `return_sequences = true` on `{}`",
                        p.decl.name
                    )
                }
                Some(_) => String::new(),
                None => "; declare the input as `[steps, features]`".to_string(),
            };
            cx.error_spanned(
                &decl.kind,
                format!("`{kind}` needs a sequence [steps, features], but {from}{hint}"),
            );
            return None;
        }
        (Spec::Recurrent { .. }, Shape::Image(..)) => {
            cx.error_spanned(
                &decl.kind,
                format!("`{kind}` needs a sequence [steps, features], but {from}"),
            );
            return None;
        }
        (Spec::Activation(_), s) => s,
    };
    checked_len(cx, &decl.kind, out).map(|s| (s, (0, 0)))
}

/// TensorFlow's `same`: output `ceil(n / s)`, the odd extra padding at the
/// end (bottom/right). Returns (before, after).
fn same_padding(n: usize, k: usize, s: usize) -> (usize, usize) {
    let out = n.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// Parameter count of a layer with this spec and input (in `u128`, so the
/// count of an absurd layer is reported rather than overflowing).
fn params_wide(spec: Spec, input: Shape) -> u128 {
    match (spec, input) {
        (Spec::Dense { units, .. }, Shape::Vector(i) | Shape::Seq(_, i)) => {
            (i as u128 + 1) * units as u128
        }
        (
            Spec::Conv2d {
                filters,
                kernel: (kh, kw),
                ..
            },
            Shape::Image(c, ..),
        ) => (c as u128 * kh as u128 * kw as u128 + 1) * filters as u128,
        (Spec::Recurrent { cell, units, .. }, Shape::Seq(_, f)) => {
            let gh = cell.gates() as u128 * units as u128;
            gh * (f as u128 + units as u128 + 2)
        }
        _ => 0,
    }
}

/// Parameter count of a planned layer (checked small at planning time).
pub fn params(p: &Planned) -> usize {
    params_wide(p.spec, p.input) as usize
}
