//! The merge layers, which read the nodes their positional arguments name:
//! `Add(a, b, ..)` and `Multiply(a, b, ..)` (equal shapes → the same
//! shape, option `activation`), `Concatenate(a, b, ..)` (images along
//! channels, vectors and sequences along features).
//!
//! No tensors. Kernels: `runtime/src/kernels/merge.rs`.

use super::activation::{apply, apply_backward, apply_in_place};
use super::args::{Args, Signature};
use super::int8::{self, Int8Form, Int8Tensor};
use super::{lit, Act, BackIo, Kind, Layer, ShapeCx, Site, StreamStep};
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::quote;
use std::any::Any;

/// The merge kinds' names (their positional arguments are input names).
pub const KINDS: &[&str] = &["Add", "Multiply", "Concatenate"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Multiply,
    Concatenate,
}

pub struct Merge {
    op: Op,
    act: Act,
}

pub const ADD: Kind = Kind {
    name: "Add",
    signature: Signature {
        positional: None,
        options: &["activation"],
        example: "Add(conv2, shortcut)",
    },
    resolve,
};

pub const MULTIPLY: Kind = Kind {
    name: "Multiply",
    signature: Signature {
        positional: None,
        options: &["activation"],
        example: "Multiply(gate, signal)",
    },
    resolve,
};

pub const CONCATENATE: Kind = Kind {
    name: "Concatenate",
    signature: Signature {
        positional: None,
        options: &[],
        example: "Concatenate(left, right)",
    },
    resolve,
};

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let op = match args.kind() {
        "Add" => Op::Add,
        "Multiply" => Op::Multiply,
        _ => Op::Concatenate,
    };
    let act = args.activation_or(Act::Linear)?;
    Some(Box::new(Merge { op, act }))
}

impl Merge {
    fn verb(&self) -> &'static str {
        match self.op {
            Op::Add => "adds",
            Op::Multiply => "multiplies",
            Op::Concatenate => "joins",
        }
    }

    /// The joined shape of `a` and `b`, if they fit.
    fn join(a: Shape, b: Shape) -> Option<Shape> {
        match (a, b) {
            (Shape::Vector(x), Shape::Vector(y)) => Some(Shape::Vector(x + y)),
            (Shape::Seq(t, x), Shape::Seq(u, y)) if t == u => Some(Shape::Seq(t, x + y)),
            (Shape::Image(c, h, w), Shape::Image(d, i, v)) if (h, w) == (i, v) => {
                Some(Shape::Image(c + d, h, w))
            }
            _ => None,
        }
    }

    /// The gradient at the merge's sum or product: through its activation
    /// unless `linear`.
    fn grad_at_merge(
        &self,
        s: &Site,
        output: &TokenStream,
        grad: &TokenStream,
        linear: bool,
    ) -> TokenStream {
        match self.act.unless(linear) {
            Act::Linear => quote!(#grad),
            act => apply_backward(s, act, s.output, output, grad),
        }
    }

    /// `k::add::<T, _, N>([&a, &b])` or `k::multiply::<..>`.
    fn combine(&self, s: &Site, xs: &[TokenStream]) -> TokenStream {
        let n = lit(xs.len());
        match self.op {
            Op::Add => s.call(quote!(k::add::<T, _, #n>), quote!([#(#xs),*])),
            _ => s.call(quote!(k::multiply::<T, _, #n>), quote!([#(#xs),*])),
        }
    }

    /// `k::add_into::<T, _, N>([&a, &b], &mut out);` or `multiply_into`.
    fn combine_into(&self, s: &Site, xs: &[TokenStream], out: &TokenStream) -> TokenStream {
        let n = lit(xs.len());
        let call = match self.op {
            Op::Add => s.call(
                quote!(k::add_into::<T, _, #n>),
                quote!([#(#xs),*], &mut #out),
            ),
            _ => s.call(
                quote!(k::multiply_into::<T, _, #n>),
                quote!([#(#xs),*], &mut #out),
            ),
        };
        quote!(#call;)
    }

    /// The concatenation of `xs` (by reference), folded left to right.
    fn concatenate(&self, s: &Site, xs: &[TokenStream]) -> TokenStream {
        let mut acc = xs[0].clone();
        let mut shape = s.inputs[0];
        for (x, &next) in xs.iter().zip(&s.inputs).skip(1) {
            let joined = Self::join(shape, next).unwrap_or(shape);
            acc = self.concat_call(s, shape, next, joined, &acc, x, None);
            acc = quote!(&#acc);
            shape = joined;
        }
        quote!(*#acc)
    }

    /// [`Self::concatenate`] with its last join written into the place
    /// `out`: a statement.
    fn concatenate_into(&self, s: &Site, xs: &[TokenStream], out: &TokenStream) -> TokenStream {
        let last = xs.len() - 1;
        let mut acc = xs[0].clone();
        let mut shape = s.inputs[0];
        for (k, (x, &next)) in xs.iter().zip(&s.inputs).enumerate().skip(1) {
            let joined = Self::join(shape, next).unwrap_or(shape);
            if k == last {
                let call = self.concat_call(s, shape, next, joined, &acc, x, Some(out));
                return quote!(#call;);
            }
            acc = self.concat_call(s, shape, next, joined, &acc, x, None);
            acc = quote!(&#acc);
            shape = joined;
        }
        quote!(#out = *#acc;)
    }

    /// One join of `x` and `y` (by reference), by value or, with `into`,
    /// written into that place.
    #[allow(clippy::too_many_arguments)]
    fn concat_call(
        &self,
        s: &Site,
        a: Shape,
        b: Shape,
        joined: Shape,
        x: &TokenStream,
        y: &TokenStream,
        into: Option<&TokenStream>,
    ) -> TokenStream {
        let (suffix, out) = match into {
            Some(out) => ("_into", quote!(, &mut #out)),
            None => ("", TokenStream::new()),
        };
        match (a, b, joined) {
            (Shape::Image(ca, h, w), Shape::Image(cb, ..), Shape::Image(c, ..)) => {
                let [ca, cb, c, h, w] = [ca, cb, c, h, w].map(lit);
                let f = quote::format_ident!("concat_channels{}", suffix);
                s.call(
                    quote!(k::#f::<T, #ca, #cb, #c, #h, #w>),
                    quote!(#x, #y #out),
                )
            }
            _ => {
                let (fa, fb, f, t) = (
                    lit(a.width()),
                    lit(b.width()),
                    lit(joined.width()),
                    lit(steps(joined)),
                );
                let k = quote::format_ident!("concat_features{}", suffix);
                s.call(quote!(k::#k::<T, #fa, #fb, #f, #t>), quote!(#x, #y #out))
            }
        }
    }

    /// dL/d(input `i`) of a concatenation with output gradient `grad`:
    /// split off from the end, one join at a time.
    fn split(&self, s: &Site, grad: &TokenStream, i: usize) -> TokenStream {
        // The shapes of the partial joins: joined[k] = inputs 0..=k.
        let mut joined = vec![s.inputs[0]];
        for &next in &s.inputs[1..] {
            let last = joined[joined.len() - 1];
            joined.push(Self::join(last, next).unwrap_or(last));
        }
        let mut d = quote!(#grad);
        // Walk down from the last join to the one that added input `i`.
        for k in (1..s.inputs.len()).rev() {
            let (a, b, j) = (joined[k - 1], s.inputs[k], joined[k]);
            let call = match (a, b, j) {
                (Shape::Image(ca, h, w), Shape::Image(cb, ..), Shape::Image(c, ..)) => {
                    let [ca, cb, c, h, w] = [ca, cb, c, h, w].map(lit);
                    s.call(
                        quote!(k::concat_channels_backward::<T, #ca, #cb, #c, #h, #w>),
                        quote!(&#d),
                    )
                }
                _ => {
                    let (fa, fb, f, t) = (
                        lit(a.width()),
                        lit(b.width()),
                        lit(j.width()),
                        lit(steps(j)),
                    );
                    s.call(
                        quote!(k::concat_features_backward::<T, #fa, #fb, #f, #t>),
                        quote!(&#d),
                    )
                }
            };
            if k == i {
                return quote!(#call.1);
            }
            d = quote!(#call.0);
        }
        d
    }
}

/// The steps of a vector (1) or sequence.
fn steps(s: Shape) -> usize {
    match s {
        Shape::Seq(t, _) => t,
        _ => 1,
    }
}

impl Layer for Merge {
    fn kind(&self) -> &'static str {
        match self.op {
            Op::Add => "Add",
            Op::Multiply => "Multiply",
            Op::Concatenate => "Concatenate",
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        Some(at.input)
    }

    fn is_merge(&self) -> bool {
        true
    }

    fn merge_shape(&mut self, at: &ShapeCx, inputs: &[(String, Shape)]) -> Option<Shape> {
        let name = &at.decl.name;
        let (first, mut shape) = (&inputs[0].0, inputs[0].1);
        for (other, s) in &inputs[1..] {
            let fits = match self.op {
                Op::Concatenate => Self::join(shape, *s),
                _ => (shape == *s).then_some(shape),
            };
            match fits {
                Some(joined) => shape = joined,
                None => {
                    let rule = match self.op {
                        Op::Concatenate => "the inputs of `Concatenate` must have equal shapes except along the joined axis (an image's channels, a vector's or sequence's features)".to_string(),
                        _ => format!("the inputs of `{}` must have the same shape", self.kind()),
                    };
                    at.cx.error_spanned(
                        &at.decl.kind,
                        format!(
                            "`{name}` {} `{first}` {} and `{other}` {s}: {rule}",
                            self.verb(),
                            inputs[0].1
                        ),
                    );
                    return None;
                }
            }
        }
        Some(shape)
    }

    fn activation(&self) -> Act {
        self.act
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        linear: bool,
    ) -> TokenStream {
        self.forward_merge(s, std::slice::from_ref(x), linear)
    }

    fn forward_merge(&self, s: &Site, xs: &[TokenStream], linear: bool) -> TokenStream {
        let merged = match self.op {
            Op::Concatenate => self.concatenate(s, xs),
            _ => self.combine(s, xs),
        };
        match self.act.unless(linear) {
            Act::Linear => merged,
            act => apply(s, act, s.output, &merged),
        }
    }

    fn forward_merge_into(
        &self,
        s: &Site,
        xs: &[TokenStream],
        out: &TokenStream,
        linear: bool,
    ) -> Option<TokenStream> {
        let merged = match self.op {
            Op::Concatenate => self.concatenate_into(s, xs, out),
            _ => self.combine_into(s, xs, out),
        };
        Some(match self.act.unless(linear) {
            Act::Linear => merged,
            act => {
                let activate = apply_in_place(s, act, s.output, out);
                quote!(#merged #activate)
            }
        })
    }

    fn backward(&self, s: &Site, io: &BackIo, linear: bool) -> TokenStream {
        self.backward_merge(
            s,
            std::slice::from_ref(&io.input),
            &io.output,
            &io.grad,
            linear,
        )
        .into_iter()
        .next()
        .unwrap_or_default()
    }

    fn backward_merge(
        &self,
        s: &Site,
        inputs: &[TokenStream],
        output: &TokenStream,
        grad: &TokenStream,
        linear: bool,
    ) -> Vec<TokenStream> {
        let g = self.grad_at_merge(s, output, grad, linear);
        let n = lit(inputs.len());
        (0..inputs.len())
            .map(|i| match self.op {
                Op::Add => g.clone(),
                Op::Multiply => {
                    let i = lit(i);
                    let xs = inputs.iter().map(|x| quote!(&#x));
                    s.call(
                        quote!(k::multiply_backward::<T, _, #n>),
                        quote!([#(#xs),*], &#g, #i),
                    )
                }
                Op::Concatenate => self.split(s, grad, i),
            })
            .collect()
    }

    fn stream(&self, s: &Site, x: &TokenStream) -> Option<StreamStep> {
        self.stream_merge(s, std::slice::from_ref(x))
    }

    fn stream_merge(&self, s: &Site, xs: &[TokenStream]) -> Option<StreamStep> {
        // One step of each input is a vector: the merge of the vectors.
        let step = Site {
            name: s.name.clone(),
            span: s.span,
            input: Shape::Vector(s.input.width()),
            output: Shape::Vector(s.output.width()),
            inputs: s.inputs.iter().map(|i| Shape::Vector(i.width())).collect(),
        };
        Some(StreamStep {
            state: None,
            run: TokenStream::new(),
            output: self.forward_merge(&step, xs, false),
        })
    }

    fn int8_form(&self, s: &Site) -> Int8Form {
        if self.op != Op::Add {
            return Int8Form::Unsupported(None);
        }
        if s.inputs.len() != 2 {
            return Int8Form::Unsupported(Some(format!(
                "TFLite's int8 Add takes two inputs, not {}: chain two-input `Add`s",
                s.inputs.len()
            )));
        }
        match int8::unfusable("Add", self.act) {
            Some(why) => Int8Form::Unsupported(Some(why)),
            None => Int8Form::Kernel,
        }
    }

    fn int8_tensors(&self, _s: &Site) -> Vec<Int8Tensor> {
        [
            "input1_zero_point",
            "input2_zero_point",
            "left_shift",
            "input1_multiplier",
            "input1_shift",
            "input2_multiplier",
            "input2_shift",
            "output_multiplier",
            "output_shift",
            "output_zero_point",
            "activation_min",
            "activation_max",
        ]
        .into_iter()
        .map(Int8Tensor::scalar)
        .collect()
    }

    fn int8_param_type(&self, _s: &Site) -> Option<TokenStream> {
        Some(quote!(::staticnet::quant::QAddParams))
    }

    fn int8_param_value(&self, _s: &Site, t: &dyn Fn(&str) -> TokenStream) -> Option<TokenStream> {
        let [z1, z2, ls, m1, s1, m2, s2, mo, so, zo, lo, hi] = [
            "input1_zero_point",
            "input2_zero_point",
            "left_shift",
            "input1_multiplier",
            "input1_shift",
            "input2_multiplier",
            "input2_shift",
            "output_multiplier",
            "output_shift",
            "output_zero_point",
            "activation_min",
            "activation_max",
        ]
        .map(t);
        Some(quote!(q::QAddParams {
            input1_zero_point: #z1,
            input2_zero_point: #z2,
            left_shift: #ls,
            input1_multiplier: #m1,
            input1_shift: #s1,
            input2_multiplier: #m2,
            input2_shift: #s2,
            output_multiplier: #mo,
            output_shift: #so,
            output_zero_point: #zo,
            min: #lo,
            max: #hi,
        }))
    }

    fn int8_forward_into(
        &self,
        s: &Site,
        xs: &[TokenStream],
        out: &TokenStream,
        _t: &dyn Fn(&str) -> TokenStream,
    ) -> TokenStream {
        let (p, a, b) = (s.params(), &xs[0], &xs[1]);
        let call = match s.output {
            Shape::Image(..) => s.call(
                quote!(q::add_image_int8_into),
                quote!(&#p, #a, #b, &mut #out),
            ),
            other => {
                let (a, b) = (int8::flat(a, other), int8::flat(b, other));
                let y = int8::flat_mut(out, other);
                s.call(quote!(q::add_int8_into), quote!(&#p, #a, #b, #y))
            }
        };
        quote!(#call;)
    }
}
