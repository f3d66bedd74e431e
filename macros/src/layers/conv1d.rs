//! `Conv1d(filters, kernel = k, stride = s, dilation = d, padding = valid |
//! same | causal | p, groups = g, bias = true, activation = ..)` on a
//! sequence `[t, f]` → `[t', filters]`: PyTorch's `Conv1d` on the
//! transposed `[f, t]` (our features are its channels).
//!
//! Tensors: `weight` `[filters, f/groups, k]`, `bias` `[filters]` (absent
//! with `bias = false`). `padding = same` follows TensorFlow (the odd
//! extra step after); `causal` pads `(k−1)·d` before and nothing after. A
//! stride-1 causal `Conv1d` streams: its state is a ring buffer of the last
//! `(k−1)·d` inputs. Kernels: `runtime/src/kernels/conv1d.rs`.

use super::args::{Args, Signature};
use super::{lit, Act, BackIo, Kind, Layer, ShapeCx, Site, StreamStep, TensorDecl};
use crate::ast::Value;
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use std::any::Any;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding1 {
    Valid,
    Same,
    Causal,
    Explicit(usize),
}

pub struct Conv1d {
    pub filters: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub padding: Padding1,
    pub groups: usize,
    pub bias: bool,
    pub act: Act,
    /// Zero steps before the input (found with the shape).
    pad_before: usize,
}

pub const KIND: Kind = Kind {
    name: "Conv1d",
    signature: Signature {
        positional: Some(("filters", "the number of filters")),
        options: &[
            "kernel",
            "stride",
            "dilation",
            "padding",
            "groups",
            "bias",
            "activation",
        ],
        example: "Conv1d(16, kernel = 3, padding = causal)",
    },
    resolve,
};

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let name = args.name();
    let filters = args.positional_size();
    let kernel = match args.get("kernel") {
        Some(v) => args.size(v, "kernel"),
        None => {
            args.missing(format!(
                "`{name}` needs a kernel size: add `kernel = 3`, e.g. `{name}: {}`",
                KIND.signature.example
            ));
            None
        }
    };
    let size_or = |option: &str| args.get(option).map_or(Some(1), |v| args.size(v, option));
    let stride = size_or("stride");
    let dilation = size_or("dilation");
    let groups = size_or("groups");
    let padding = args
        .get("padding")
        .map_or(Some(Padding1::Valid), |v| padding(args, v));
    let bias = args.bool_or("bias", true);
    let act = args.activation_or(Act::Linear);
    Some(Box::new(Conv1d {
        filters: filters?,
        kernel: kernel?,
        stride: stride?,
        dilation: dilation?,
        padding: padding?,
        groups: groups?,
        bias: bias?,
        act: act?,
        pad_before: 0,
    }))
}

/// `padding = valid | same | causal | p`.
fn padding(args: &Args, v: &Value) -> Option<Padding1> {
    const HELP: &str = "`padding` of a `Conv1d` takes `valid`, `same`, `causal` or an integer";
    let name = args.name();
    match v {
        Value::Ident(id) if id == "valid" => Some(Padding1::Valid),
        Value::Ident(id) if id == "same" => Some(Padding1::Same),
        Value::Ident(id) if id == "causal" => Some(Padding1::Causal),
        Value::Ident(id) => {
            let hint = crate::symbol::did_you_mean(
                &id.to_string(),
                ["valid", "same", "causal"].into_iter(),
            )
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
            args.cx().error_spanned(
                id,
                format!("unknown padding `{id}` in `{name}`; {hint}{HELP}"),
            );
            None
        }
        Value::Int(lit) if lit.suffix().is_empty() && lit.base10_digits() == "0" => {
            Some(Padding1::Explicit(0))
        }
        Value::Int(lit) if lit.base10_digits().starts_with('-') => {
            args.cx().error_spanned(
                lit,
                format!(
                    "`padding` of `{name}` cannot be negative, found {}",
                    lit.base10_digits()
                ),
            );
            None
        }
        Value::Int(_) => args.size(v, "padding").map(Padding1::Explicit),
        other => {
            args.cx().error_spanned(
                other,
                format!(
                    "{HELP}; `{name}` has `padding = {}` (a sequence has one axis, so no pair)",
                    super::args::show(other)
                ),
            );
            None
        }
    }
}

/// A layer that needs a sequence was given something else.
pub fn needs_sequence(at: &ShapeCx, kind: &str) {
    let name = &at.decl.name;
    let hint = match (at.prev, at.input) {
        (None, _) => " declare the input as `[steps, features]`".to_string(),
        (Some(p), Shape::Vector(_)) => format!(
            " `{}` outputs a vector; give it `return_sequences = true` if it is recurrent, or move `{name}` before it",
            p.decl.name
        ),
        (Some(_), _) => format!(" move `{name}` to where the model has a sequence"),
    };
    at.cx.error_spanned(
        &at.decl.kind,
        format!(
            "`{kind}` needs a sequence [steps, features], but {} ({});{hint}",
            at.from(),
            at.input.what()
        ),
    );
}

impl Conv1d {
    /// The receptive field of one output: `(k − 1)·d + 1` steps.
    fn span(&self) -> usize {
        (self.kernel - 1) * self.dilation + 1
    }

    /// Weights per filter: `(f / groups) · k`.
    fn per_filter(&self, f: usize) -> usize {
        f / self.groups * self.kernel
    }

    /// `k::Conv1d::<act, k::SeqIn<..>, k::SeqOut<..>, k::Window<..>,
    /// k::Step<..>, k::Dilation1d<..>, k::PadBefore<..>, k::Groups<..>>`.
    fn kernels(&self, s: &Site, linear: bool) -> TokenStream {
        self.kernels_act(s, self.act.unless(linear))
    }

    /// [`Conv1d::kernels`] with the activation `act` (a fused one).
    fn kernels_act(&self, s: &Site, act: Act) -> TokenStream {
        let (Shape::Seq(t, f), Shape::Seq(ot, o)) = (s.input, s.output) else {
            return quote_spanned!(s.span=> ::core::compile_error!("staticnet: internal error: Conv1d off a sequence"));
        };
        let a = act.ty();
        let [t, f, ot, o, k, st, d, p, g] = [
            t,
            f,
            ot,
            o,
            self.kernel,
            self.stride,
            self.dilation,
            self.pad_before,
            self.groups,
        ]
        .map(lit);
        quote! {
            k::Conv1d::<#a, k::SeqIn<#t, #f>, k::SeqOut<#ot, #o>, k::Window<#k>, k::Step<#st>, k::Dilation1d<#d>, k::PadBefore<#p>, k::Groups<#g>>
        }
    }

    /// Whether the layer runs step by step: stride 1 and causal — or a
    /// pointwise (1×1, `(k − 1)·d = 0`) convolution without padding, which
    /// is causal whatever its `padding` says (`valid`, `same` and `0` all
    /// pad nothing): WaveNets' mixes and rechannels are written so.
    fn streams(&self) -> bool {
        let pointwise = self.span() == 1
            && matches!(
                self.padding,
                Padding1::Valid | Padding1::Same | Padding1::Explicit(0)
            );
        self.stride == 1 && (self.padding == Padding1::Causal || pointwise)
    }
}

impl Layer for Conv1d {
    fn kind(&self) -> &'static str {
        "Conv1d"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        let Shape::Seq(n, f) = at.input else {
            needs_sequence(at, "Conv1d");
            return None;
        };
        let name = &at.decl.name;
        let from = at.from();
        let mut ok = true;
        let g = self.groups;
        let (bad_f, bad_o) = (!f.is_multiple_of(g), !self.filters.is_multiple_of(g));
        if bad_f || bad_o {
            let what = match (bad_f, bad_o) {
                (true, true) => format!(
                    "its {f} input features ({from}) or its {} filters",
                    self.filters
                ),
                (true, false) => format!("its {f} input features ({from})"),
                _ => format!("its {} filters", self.filters),
            };
            at.cx.error_spanned(
                at.value_of("groups"),
                format!(
                    "`groups = {g}` of `{name}` does not divide {what}; groups must divide both the features and the filters"
                ),
            );
            ok = false;
        }
        // kernel, dilation <= MAX_SIZE: the span is below 2^40 on 64-bit
        // hosts; checked on 32-bit ones.
        let Some(span) = (self.kernel - 1)
            .checked_mul(self.dilation)
            .and_then(|v| v.checked_add(1))
        else {
            at.cx.error_spanned(
                at.value_of("kernel"),
                format!("the kernel of `{name}` with its dilation spans too many steps"),
            );
            return None;
        };
        let (before, after) = match self.padding {
            Padding1::Valid => (0, 0),
            Padding1::Explicit(p) => (p, p),
            Padding1::Causal => (span - 1, 0),
            Padding1::Same => super::conv2d::same_padding(n, span, self.stride),
        };
        let padded = n + before + after;
        if span > padded {
            let reach = if self.dilation > 1 {
                format!(" ({} taps {} steps apart)", self.kernel, self.dilation)
            } else {
                String::new()
            };
            let msg = if self.padding == Padding1::Valid {
                format!(
                    "the kernel of `{name}` spans {span} steps{reach}, more than its input: {from}; use a smaller kernel or dilation, or pad the input with `padding = same` or `padding = causal`"
                )
            } else {
                format!(
                    "the kernel of `{name}` spans {span} steps{reach}, more than its padded input: {from}, padded to {padded} steps by `padding = {}`; use a smaller kernel or dilation, or more padding",
                    super::arg_value(at.decl, "padding").map_or_else(String::new, super::args::show)
                )
            };
            at.cx.error_spanned(at.value_of("kernel"), msg);
            return None;
        }
        if !ok {
            return None;
        }
        self.pad_before = before;
        Some(Shape::Seq((padded - span) / self.stride + 1, self.filters))
    }

    fn param_count(&self, input: Shape) -> u128 {
        let Shape::Seq(_, f) = input else { return 0 };
        let w = self.per_filter(f) as u128 * self.filters as u128;
        w + if self.bias { self.filters as u128 } else { 0 }
    }

    fn param_type(&self, s: &Site) -> Option<TokenStream> {
        let Shape::Seq(_, f) = s.input else {
            return None;
        };
        let (o, k) = (lit(self.filters), lit(self.per_filter(f)));
        let b = lit(if self.bias { self.filters } else { 0 });
        Some(quote_spanned!(s.span=> ::staticnet::Conv1dParams<T, #o, #k, #b>))
    }

    fn param_block(&self) -> Option<TokenStream> {
        Some(quote!(::staticnet::Conv1dParams))
    }

    fn tensors(&self, s: &Site) -> Vec<TensorDecl> {
        let Shape::Seq(_, f) = s.input else {
            return Vec::new();
        };
        let mut t = vec![TensorDecl {
            member: "weight",
            suffix: "weight",
            shape: vec![self.filters, f / self.groups, self.kernel],
        }];
        if self.bias {
            t.push(TensorDecl {
                member: "bias",
                suffix: "bias",
                shape: vec![self.filters],
            });
        }
        t
    }

    fn init(&self, s: &Site) -> Option<TokenStream> {
        let p = s.params();
        let window = lit(self.kernel);
        Some(quote!(#p.init_keras(&mut rng, #window);))
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
        let kernels = self.kernels(s, linear);
        let p = s.params();
        s.call(quote!(#kernels::forward), quote!(&#p, #x))
    }

    fn forward_into(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        out: &TokenStream,
        linear: bool,
    ) -> Option<TokenStream> {
        let kernels = self.kernels(s, linear);
        let p = s.params();
        let call = s.call(quote!(#kernels::forward_into), quote!(&#p, #x, &mut #out));
        Some(quote!(#call;))
    }

    fn absorbs_affine(&self) -> bool {
        self.act == Act::Linear
    }

    fn stream_affine(
        &self,
        s: &Site,
        x: &TokenStream,
        affine: &TokenStream,
        act: Act,
    ) -> Option<StreamStep> {
        if !self.streams() {
            return None;
        }
        let Shape::Seq(_, f) = s.input else {
            return None;
        };
        let (name, p) = (&s.name, s.params());
        let kernels = self.kernels_act(s, act);
        let (f, h) = (lit(f), lit(self.span() - 1));
        Some(StreamStep {
            state: Some(quote_spanned!(s.span=> ::staticnet::kernels::Conv1dState<T, #f, #h>)),
            run: TokenStream::new(),
            output: s.call(
                quote!(#kernels::step_affine),
                quote!(&#p, #x, &mut state.#name, &#affine),
            ),
        })
    }

    fn forward_affine(
        &self,
        s: &Site,
        x: &TokenStream,
        affine: &TokenStream,
        act: Act,
    ) -> TokenStream {
        let kernels = self.kernels_act(s, act);
        let p = s.params();
        s.call(quote!(#kernels::forward_affine), quote!(&#p, #x, &#affine))
    }

    fn has_params(&self) -> bool {
        true
    }

    fn backward(&self, s: &Site, io: &BackIo, linear: bool) -> TokenStream {
        let kernels = self.kernels(s, linear);
        let (p, gr) = (s.params(), s.grads());
        let BackIo {
            input,
            output,
            grad,
        } = io;
        s.call(
            quote!(#kernels::backward),
            quote!(&#p, &#input, &#output, &#grad, &mut #gr),
        )
    }

    fn backward_params(&self, s: &Site, io: &BackIo, linear: bool) -> Option<TokenStream> {
        let kernels = self.kernels(s, linear);
        let gr = s.grads();
        let BackIo {
            input,
            output,
            grad,
        } = io;
        Some(s.call(
            quote!(#kernels::backward_params),
            quote!(&#input, &#output, &#grad, &mut #gr),
        ))
    }

    fn stream(&self, s: &Site, x: &TokenStream) -> Option<StreamStep> {
        if !self.streams() {
            return None;
        }
        let Shape::Seq(_, f) = s.input else {
            return None;
        };
        let (name, p) = (&s.name, s.params());
        let kernels = self.kernels(s, false);
        let (f, h) = (lit(f), lit(self.span() - 1));
        Some(StreamStep {
            state: Some(quote_spanned!(s.span=> ::staticnet::kernels::Conv1dState<T, #f, #h>)),
            run: TokenStream::new(),
            output: s.call(quote!(#kernels::step), quote!(&#p, #x, &mut state.#name)),
        })
    }
}
