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

    /// Number of values (saturating: every planned shape is at most
    /// [`MAX_LEN`], so this never saturates there).
    pub fn len(&self) -> usize {
        self.dims()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .unwrap_or(usize::MAX)
    }

    /// "a vector", "a sequence", "an image", for hints.
    fn what(&self) -> &'static str {
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
/// strides at most [`layers::MAX_SIZE`] = 2^20, so a padded dimension is
/// below 2^27 and a sum of all parameter counts below 2^26).
pub const MAX_LEN: usize = 1 << 26;

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
    let mut input_misdeclared = false;
    let mut layer_decls: Vec<&LayerDecl> = Vec::new();
    if def.entries.is_empty() {
        cx.error_at(
            def.brace_span,
            format!(
                "`{}` is empty; write its input shape and then its layers, e.g. `input: [16], out: Dense(1)`",
                def.name
            ),
        );
        return None;
    }
    for (i, entry) in def.entries.iter().enumerate() {
        match entry {
            Entry::Input(inp) if inp.key == "input" => {
                if input_decl.is_some() {
                    cx.error_spanned(&inp.key, "`input` is given twice; remove this one");
                } else if i != 0 {
                    let first = match def.entries.first() {
                        Some(Entry::Layer(l)) => format!("; move it above `{}`", l.name),
                        _ => String::new(),
                    };
                    cx.error_spanned(
                        &inp.key,
                        format!("`input` must be the first entry, before the layers{first}"),
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
                input_misdeclared = true;
                cx.error_spanned(
                    &l.kind,
                    "`input` takes a shape, not a layer: `input: [n]` (vector), `[steps, features]` (sequence) or `[channels, height, width]` (image)",
                );
            }
            Entry::Layer(l) => layer_decls.push(l),
        }
    }
    let input = match input_decl {
        Some(inp) => input_shape(cx, inp),
        None if input_misdeclared => None,
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
        cx.error_spanned(
            &def.name,
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
    let mut total_params: u128 = 0;
    for decl in layer_decls {
        let spec = layers::resolve(cx, decl);
        let (Some(spec), Some(shape)) = (spec, current) else {
            ok = false;
            current = None; // later layers' arguments are still checked, not their shapes
            continue;
        };
        let count = params_wide(spec, shape);
        total_params += count;
        if count > MAX_LEN as u128 {
            cx.error_spanned(
                &decl.kind,
                format!("`{}` would have {count} parameters, more than staticnet accepts (at most {MAX_LEN}); use fewer units or filters, or shrink its input (e.g. with pooling)", decl.name),
            );
            ok = false;
            current = None;
            continue;
        }
        if total_params > MAX_LEN as u128 {
            cx.error_spanned(
                &decl.kind,
                format!("with `{}` the model has {total_params} parameters, more than staticnet accepts (at most {MAX_LEN}); make the layers smaller", decl.name),
            );
            ok = false;
            current = None;
            continue;
        }
        match output_shape(cx, decl, &spec, shape, prev) {
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

/// The model's input and output shapes as far as they can be known, for
/// the stub emitted beside errors: `None` where they cannot.
pub fn best_effort(def: &ModelDef) -> (Option<Shape>, Option<Shape>) {
    let scratch = Ctxt::new();
    let input = def.entries.iter().find_map(|e| match e {
        Entry::Input(inp) if inp.key == "input" => input_shape(&scratch, inp),
        _ => None,
    });
    let output = infer(&Ctxt::new(), def).map(|p| p.layers.last().map_or(p.input, |l| l.output));
    (input, output)
}

fn input_shape(cx: &Ctxt, inp: &InputDecl) -> Option<Shape> {
    let mut dims = Vec::new();
    let mut ok = true;
    for d in &inp.dims {
        match layers::size(cx, d, "each dimension of `input`") {
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
fn checked_len(cx: &Ctxt, decl: &LayerDecl, shape: Shape) -> Option<Shape> {
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

/// "the input is [..]" or "`conv1` outputs [..]", for errors.
fn source(prev: Option<&Planned>, shape: Shape) -> String {
    match prev {
        Some(p) => format!("`{}` outputs {shape}", p.decl.name),
        None => format!("the input is {shape}"),
    }
}

/// Returns the output shape (and Conv2d's top/left padding).
fn output_shape(
    cx: &Ctxt,
    decl: &LayerDecl,
    spec: &Spec,
    input: Shape,
    prev: Option<&Planned>,
) -> Option<(Shape, (usize, usize))> {
    let name = &decl.name;
    let kind = spec.kind_name();
    let from = source(prev, input);
    // The value the user wrote for an option, to underline it; the layer's
    // kind if it was not written (a default).
    let value_of = |option: &str| -> &dyn quote::ToTokens {
        match layers::arg_value(decl, option) {
            Some(v) => v,
            None => &decl.kind,
        }
    };
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
            // h, w <= MAX_LEN and each pad <= MAX_SIZE: no overflow.
            let (ph, pw) = (h + pt + pb, w + pl + pr);
            if kh > ph || kw > pw {
                let msg = if padding == Padding::Valid {
                    format!(
                        "the {kh}×{kw} kernel of `{name}` is larger than its input: {from}, so at most {h}×{w} fits; use a smaller kernel, or pad the input with `padding = same`"
                    )
                } else {
                    format!(
                        "the {kh}×{kw} kernel of `{name}` is larger than its padded input: {from}, padded to {ph}×{pw} by `padding = {}`; use a kernel of at most {ph}×{pw}, more padding, or `padding = same`",
                        layers::arg_value(decl, "padding").map_or_else(String::new, layers::show)
                    )
                };
                cx.error_spanned(value_of("kernel"), msg);
                return None;
            }
            let oh = (ph - kh) / sh + 1;
            let ow = (pw - kw) / sw + 1;
            return checked_len(cx, decl, Shape::Image(filters, oh, ow)).map(|s| (s, (pt, pl)));
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
                    value_of("size"),
                    format!("the {kh}×{kw} window of `{name}` is larger than its input: {from}; use a window of at most {h}×{w}, or remove `{name}`"),
                );
                return None;
            }
            Shape::Image(c, (h - kh) / sh + 1, (w - kw) / sw + 1)
        }
        (Spec::Conv2d { .. } | Spec::Pool { .. }, other) => {
            let hint = match prev {
                None => " declare the input as `[channels, height, width]`".to_string(),
                Some(p) if p.spec == Spec::Flatten => {
                    format!(" move `{name}` before `{}`", p.decl.name)
                }
                Some(_) => format!(
                    " convolution and pooling layers go before `Flatten` and `Dense`; move `{name}` up"
                ),
            };
            cx.error_spanned(
                &decl.kind,
                format!(
                    "`{kind}` needs an image [channels, height, width], but {from} ({});{hint}",
                    other.what()
                ),
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
        (Spec::Recurrent { .. }, other) => {
            let hint = match (prev, other) {
                (
                    Some(Planned {
                        spec:
                            Spec::Recurrent {
                                return_sequences: false,
                                ..
                            },
                        decl: p,
                        ..
                    }),
                    _,
                ) => format!(
                    " (its last hidden state only); set `return_sequences = true` on `{}`",
                    p.name
                ),
                (None, _) => "; declare the input as `[steps, features]`".to_string(),
                (Some(p), _) if p.spec == Spec::Flatten => format!(
                    "; `{}` flattened the sequence: remove it, or move `{name}` before it",
                    p.decl.name
                ),
                (Some(_), Shape::Image(..)) => format!(
                    "; recurrent layers take a sequence, so `{name}` cannot follow convolution or pooling layers"
                ),
                (Some(_), _) => format!(
                    "; recurrent layers go before the layers that make a vector, so move `{name}` up"
                ),
            };
            cx.error_spanned(
                &decl.kind,
                format!("`{kind}` needs a sequence [steps, features], but {from}{hint}"),
            );
            return None;
        }
        (Spec::Activation(_), s) => s,
    };
    checked_len(cx, decl, out).map(|s| (s, (0, 0)))
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
