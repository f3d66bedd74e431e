//! `Reshape([dims])` and `Permute([axes])`: the bridges between images,
//! sequences and vectors (a CRNN's `Conv2d → Permute → Reshape → Gru`).
//!
//! `Reshape` keeps PyTorch's flat order (1, 2 or 3 dims give a vector, a
//! sequence or an image); `Permute` reorders the axes, 0-based, as
//! PyTorch's `x.permute(..)` without the batch axis. No tensors. Kernels:
//! `runtime/src/kernels/reshape.rs`.

use super::args::{self, Args, Signature};
use super::int8::{self, Int8Form};
use super::{lit, BackIo, Kind, Layer, ShapeCx, Site};
use crate::ast::Value;
use crate::expand::tensor_type;
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::quote;
use std::any::Any;

pub const RESHAPE: Kind = Kind {
    name: "Reshape",
    signature: Signature {
        positional: Some(("shape", "the target shape")),
        options: &[],
        example: "Reshape([8, 16])",
    },
    resolve: resolve_reshape,
};

pub const PERMUTE: Kind = Kind {
    name: "Permute",
    signature: Signature {
        positional: Some(("axes", "the order of the axes")),
        options: &[],
        example: "Permute([1, 0, 2])",
    },
    resolve: resolve_permute,
};

/// The list given as `what` of the layer, its items, or an error.
fn list<'a>(args: &Args<'a>, what: &str) -> Option<(&'a Value, &'a [Value])> {
    let name = args.name();
    let kind = args.kind();
    let example = if kind == "Permute" {
        "Permute([1, 0, 2])"
    } else {
        "Reshape([8, 16])"
    };
    let Some(v) = args.get(what) else {
        args.missing(format!(
            "`{name}` needs {}, e.g. `{name}: {example}`",
            if kind == "Permute" {
                "the order of the axes"
            } else {
                "the target shape"
            }
        ));
        return None;
    };
    match v {
        Value::List(_, items) if !items.is_empty() => Some((v, items)),
        other => {
            args.cx().error_spanned(
                other,
                format!(
                    "`{kind}` takes a list in brackets, e.g. `{name}: {example}`, found {} `{}`",
                    other.describe(),
                    args::show(other)
                ),
            );
            None
        }
    }
}

/// "the input" or "the output of `conv1`", for errors.
fn source(at: &ShapeCx) -> String {
    match at.prev {
        Some(p) => format!("the output of `{}`", p.decl.name),
        None => "the input".to_string(),
    }
}

pub struct Reshape {
    dims: Vec<usize>,
}

fn resolve_reshape(args: &Args) -> Option<Box<dyn Layer>> {
    let (v, items) = list(args, "shape")?;
    let name = args.name();
    let subject = format!("each dimension of `{name}`");
    let dims: Vec<Option<usize>> = items
        .iter()
        .map(|d| args::size(args.cx(), d, &subject))
        .collect();
    let dims: Option<Vec<usize>> = dims.into_iter().collect();
    let dims = dims?;
    if dims.len() > 3 {
        args.cx().error_spanned(
            v,
            format!(
                "`{name}` reshapes to {} dimensions; a shape has 1, 2 or 3: `[n]` (vector), `[steps, features]` (sequence) or `[channels, height, width]` (image)",
                dims.len()
            ),
        );
        return None;
    }
    Some(Box::new(Reshape { dims }))
}

impl Reshape {
    fn shape(&self) -> Option<Shape> {
        match self.dims[..] {
            [n] => Some(Shape::Vector(n)),
            [t, f] => Some(Shape::Seq(t, f)),
            [c, h, w] => Some(Shape::Image(c, h, w)),
            _ => None,
        }
    }
}

impl Layer for Reshape {
    fn kind(&self) -> &'static str {
        "Reshape"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        let out = self.shape()?;
        let (n, m) = (
            at.input.len(),
            self.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)),
        );
        if m != Some(n) {
            let count = m.map_or("too many".to_string(), |m| m.to_string());
            at.cx.error_spanned(
                at.value_of("shape"),
                format!(
                    "`{}` cannot reshape {} {} ({n} values) to {out} ({count} values); the element counts must be equal",
                    at.decl.name,
                    source(at),
                    at.input
                ),
            );
            return None;
        }
        Some(out)
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        x_val: &TokenStream,
        _linear: bool,
    ) -> TokenStream {
        if s.input == s.output {
            return x_val.clone();
        }
        let (a, b) = (tensor_type(s.input), tensor_type(s.output));
        s.call(quote!(k::reshape::<T, #a, #b>), quote!(#x))
    }

    fn forward_into(
        &self,
        s: &Site,
        x: &TokenStream,
        x_val: &TokenStream,
        out: &TokenStream,
        _linear: bool,
    ) -> Option<TokenStream> {
        if s.input == s.output {
            return Some(quote!(#out = #x_val;));
        }
        let (a, b) = (tensor_type(s.input), tensor_type(s.output));
        let call = s.call(quote!(k::reshape_into::<T, #a, #b>), quote!(#x, &mut #out));
        Some(quote!(#call;))
    }

    fn backward(&self, s: &Site, io: &BackIo, _linear: bool) -> TokenStream {
        let d = &io.grad;
        if s.input == s.output {
            return d.clone();
        }
        let (a, b) = (tensor_type(s.input), tensor_type(s.output));
        s.call(quote!(k::reshape::<T, #b, #a>), quote!(&#d))
    }

    fn int8_form(&self, s: &Site) -> Int8Form {
        if matches!(s.input, Shape::Seq(..)) || matches!(s.output, Shape::Seq(..)) {
            return Int8Form::Unsupported(Some(
                "int8 models take vectors and images, not sequences".into(),
            ));
        }
        Int8Form::Kernel
    }

    fn int8_forward_into(
        &self,
        s: &Site,
        xs: &[TokenStream],
        out: &TokenStream,
        _t: &dyn Fn(&str) -> TokenStream,
    ) -> TokenStream {
        // Moves nothing but the type: the flat order is PyTorch's (the
        // converter permuted the next Dense's columns for TFLite's NHWC).
        let x = int8::flat(&xs[0], s.input);
        let y = int8::flat_mut(out, s.output);
        let call = s.call(quote!(q::reshape_int8_into), quote!(#x, #y));
        quote!(#call;)
    }
}

pub struct Permute {
    axes: Vec<usize>,
}

/// An axis: a non-negative integer without suffix.
fn axis(args: &Args, v: &Value) -> Option<usize> {
    let name = args.name();
    if let Value::Int(l) = v {
        if l.suffix().is_empty() && !l.base10_digits().starts_with('-') {
            if let Ok(a) = l.base10_parse::<usize>() {
                return Some(a);
            }
        }
    }
    args.cx().error_spanned(
        v,
        format!(
            "each axis of `{name}` must be an axis number counted from 0, found {} `{}`",
            v.describe(),
            args::show(v)
        ),
    );
    None
}

fn resolve_permute(args: &Args) -> Option<Box<dyn Layer>> {
    let (_, items) = list(args, "axes")?;
    let axes: Vec<Option<usize>> = items.iter().map(|a| axis(args, a)).collect();
    let axes: Option<Vec<usize>> = axes.into_iter().collect();
    Some(Box::new(Permute { axes: axes? }))
}

impl Permute {
    fn identity(&self) -> bool {
        self.axes.iter().enumerate().all(|(i, &a)| i == a)
    }
}

fn show_axes(a: &[usize]) -> String {
    let v: Vec<String> = a.iter().map(ToString::to_string).collect();
    format!("[{}]", v.join(", "))
}

impl Layer for Permute {
    fn kind(&self) -> &'static str {
        "Permute"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        let name = &at.decl.name;
        let dims = at.input.dims();
        let n = dims.len();
        let here = at.value_of("axes");
        let given = show_axes(&self.axes);
        let order: Vec<usize> = (0..n).collect();
        let example = match n {
            1 => "[0]",
            2 => "[1, 0]",
            _ => "[1, 0, 2]",
        };
        if self.axes.len() != n {
            at.cx.error_spanned(
                here,
                format!(
                    "`{name}` permutes {} {}, which has {n} axes, but {given} names {}; give an order of all {n} axes, e.g. `Permute({example})`",
                    source(at),
                    at.input,
                    self.axes.len()
                ),
            );
            return None;
        }
        let mut sorted = self.axes.clone();
        sorted.sort_unstable();
        if sorted != order {
            let keras = sorted.iter().enumerate().all(|(i, &a)| a == i + 1);
            let hint = if keras {
                format!(
                    "; axes count from 0 here, without a batch axis (Keras' `Permute` counts from 1): write `Permute({})`",
                    show_axes(&self.axes.iter().map(|a| a - 1).collect::<Vec<_>>())
                )
            } else {
                format!(", e.g. `Permute({example})`")
            };
            at.cx.error_spanned(
                here,
                format!(
                    "{given} in `{name}` is not a permutation of the axes {} of {}: name each axis exactly once{hint}",
                    show_axes(&order),
                    at.input
                ),
            );
            return None;
        }
        let out: Vec<usize> = self.axes.iter().map(|&a| dims[a]).collect();
        Some(match out[..] {
            [n] => Shape::Vector(n),
            [t, f] => Shape::Seq(t, f),
            [c, h, w] => Shape::Image(c, h, w),
            _ => return None,
        })
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        x_val: &TokenStream,
        _linear: bool,
    ) -> TokenStream {
        if self.identity() {
            return x_val.clone();
        }
        match (s.input, s.output) {
            (Shape::Image(c, h, w), Shape::Image(o0, o1, o2)) => {
                let [c, h, w, o0, o1, o2] = [c, h, w, o0, o1, o2].map(lit);
                let [a0, a1, a2] = [self.axes[0], self.axes[1], self.axes[2]].map(lit);
                s.call(
                    quote!(k::permute_image::<T, #c, #h, #w, #a0, #a1, #a2, #o0, #o1, #o2>),
                    quote!(#x),
                )
            }
            (Shape::Seq(t, f), _) => {
                let (t, f) = (lit(t), lit(f));
                s.call(quote!(k::permute_seq::<T, #f, #t>), quote!(#x))
            }
            _ => x_val.clone(),
        }
    }

    fn forward_into(
        &self,
        s: &Site,
        x: &TokenStream,
        x_val: &TokenStream,
        out: &TokenStream,
        _linear: bool,
    ) -> Option<TokenStream> {
        if self.identity() {
            return Some(quote!(#out = #x_val;));
        }
        let call = match (s.input, s.output) {
            (Shape::Image(c, h, w), Shape::Image(o0, o1, o2)) => {
                let [c, h, w, o0, o1, o2] = [c, h, w, o0, o1, o2].map(lit);
                let [a0, a1, a2] = [self.axes[0], self.axes[1], self.axes[2]].map(lit);
                s.call(
                    quote!(k::permute_image_into::<T, #c, #h, #w, #a0, #a1, #a2, #o0, #o1, #o2>),
                    quote!(#x, &mut #out),
                )
            }
            (Shape::Seq(t, f), _) => {
                let (t, f) = (lit(t), lit(f));
                s.call(
                    quote!(k::permute_seq_into::<T, #f, #t>),
                    quote!(#x, &mut #out),
                )
            }
            _ => quote!(#out = #x_val),
        };
        Some(quote!(#call;))
    }

    fn backward(&self, s: &Site, io: &BackIo, _linear: bool) -> TokenStream {
        let d = &io.grad;
        if self.identity() {
            return d.clone();
        }
        match (s.input, s.output) {
            (Shape::Image(c, h, w), Shape::Image(o0, o1, o2)) => {
                let [c, h, w, o0, o1, o2] = [c, h, w, o0, o1, o2].map(lit);
                let [a0, a1, a2] = [self.axes[0], self.axes[1], self.axes[2]].map(lit);
                s.call(
                    quote!(k::permute_image_backward::<T, #c, #h, #w, #a0, #a1, #a2, #o0, #o1, #o2>),
                    quote!(&#d),
                )
            }
            (Shape::Seq(t, f), _) => {
                let (t, f) = (lit(t), lit(f));
                s.call(quote!(k::permute_seq::<T, #t, #f>), quote!(&#d))
            }
            _ => d.clone(),
        }
    }
}
