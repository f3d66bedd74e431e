//! Training code: the tape struct, the recording forward and backward.
//!
//! The tape keeps the model's input and every layer's output (the next
//! layer's input), plus each recurrent layer's gates and states; backward
//! walks the layers in reverse calling each kernel's `*_backward`.

use super::{call, lit, tensor_type};
use crate::ast::ModelDef;
use crate::layers::{Act, Cell, Spec};
use crate::shape::{Plan, Planned, Shape};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

fn act_type(a: Act) -> TokenStream {
    let id = Ident::new(a.type_name(), Span::call_site());
    quote!(a::#id)
}

/// The tape field holding a recurrent layer's gates and states.
fn cell_field(p: &Planned) -> Ident {
    format_ident!("__{}", p.decl.name)
}

fn returns_sequences(p: &Planned) -> bool {
    matches!(
        p.spec,
        Spec::Recurrent {
            return_sequences: true,
            ..
        }
    )
}

/// Where layer `i`'s output lives in the tape.
fn output_ref(plan: &Plan, i: usize) -> TokenStream {
    let p = &plan.layers[i];
    if returns_sequences(p) {
        let cell = cell_field(p);
        quote!(tape.#cell.h)
    } else {
        let name = &p.decl.name;
        quote!(tape.#name)
    }
}

/// Where layer `i`'s input lives in the tape.
fn input_ref(plan: &Plan, i: usize) -> TokenStream {
    if i == 0 {
        quote!(tape.input)
    } else {
        output_ref(plan, i - 1)
    }
}

fn cell_tape_type(p: &Planned) -> Option<TokenStream> {
    let span = super::layer_span(p);
    match (p.spec, p.input) {
        (Spec::Recurrent { cell, units, .. }, Shape::Seq(s, _)) => {
            let (h, gh, s) = (lit(units), lit(cell.gates() * units), lit(s));
            Some(match cell {
                Cell::Simple(_) => {
                    quote_spanned!(span=> ::staticnet::kernels::SimpleRnnTape<T, #h, #s>)
                }
                Cell::Lstm => quote_spanned!(span=> ::staticnet::kernels::LstmTape<T, #h, #gh, #s>),
                Cell::Gru => quote_spanned!(span=> ::staticnet::kernels::GruTape<T, #h, #gh, #s>),
            })
        }
        _ => None,
    }
}

pub fn tape_name(def: &ModelDef) -> Ident {
    format_ident!("{}Tape", def.name)
}

pub fn tape_struct(def: &ModelDef, plan: &Plan) -> TokenStream {
    let vis = &def.vis;
    let tape = tape_name(def);
    let input_ty = tensor_type(plan.input);
    let mut fields = Vec::new();
    let mut inits = Vec::new();
    for p in &plan.layers {
        let name = &p.decl.name;
        if let Some(ty) = cell_tape_type(p) {
            let cell = cell_field(p);
            let doc = format!("`{name}`'s gates and states, every step.");
            fields.push(quote!(#[doc = #doc] pub #cell: #ty,));
            inits.push(quote!(#cell: <#ty>::zeros(),));
        }
        if !returns_sequences(p) {
            let ty = tensor_type(p.output);
            let doc = format!("`{name}`'s output {}.", p.output);
            fields.push(quote!(#[doc = #doc] pub #name: #ty,));
            inits.push(quote!(#name: <#ty as ::staticnet::Tensor<T>>::zeros(),));
        }
    }
    if split_last_activation(plan).is_some() {
        let ty = tensor_type(plan.layers[plan.layers.len() - 1].output);
        fields.push(quote!(
            /// The last layer's pre-activation (its logits).
            pub __logits: #ty,
        ));
        inits.push(quote!(__logits: <#ty as ::staticnet::Tensor<T>>::zeros(),));
    }
    let doc = format!(
        "What [`{}`]'s training forward keeps for backward: the input and every layer's output (a recurrent layer's outputs live in its gate-and-state tape).",
        def.name
    );
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        #[allow(non_snake_case)]
        #vis struct #tape<T: ::staticnet::Float = f32> {
            /// The input.
            pub input: #input_ty,
            #(#fields)*
        }

        impl<T: ::staticnet::Float> #tape<T> {
            /// A zeroed tape.
            pub fn zeros() -> Self {
                Self {
                    input: <#input_ty as ::staticnet::Tensor<T>>::zeros(),
                    #(#inits)*
                }
            }
        }
    }
}

/// The last layer's activation applied to the logits in `tape.__logits`.
fn activate_logits(p: &Planned, act: Act) -> TokenStream {
    let a = act_type(act);
    match p.output {
        Shape::Vector(n) => {
            let n = lit(n);
            quote!(k::activate::<T, #a, #n, 1>(tape.__logits))
        }
        Shape::Seq(s, f) => {
            let (s, f) = (lit(s), lit(f));
            quote!(k::activate::<T, #a, #f, #s>(tape.__logits))
        }
        Shape::Image(c, h, w) => {
            let [c, h, w] = [c, h, w].map(lit);
            quote!(k::activate_image::<T, #a, #c, #h, #w>(tape.__logits))
        }
    }
}

/// The recording forward.
fn forward_train(plan: &Plan) -> TokenStream {
    let lines = forward_train_lines(plan);
    let out = output_ref(plan, plan.layers.len() - 1);
    quote! {
        fn forward_train(&self, input: &Self::Input, tape: &mut Self::Tape) -> Self::Output {
            #[allow(unused_imports)]
            use ::staticnet::__private::{activation as a, kernels as k};
            tape.input = *input;
            #(#lines)*
            #out
        }
    }
}

/// One statement per layer: run it on `tape`'s record of its input and
/// record its output (and gates) in `tape`.
fn forward_train_lines(plan: &Plan) -> Vec<TokenStream> {
    let mut lines = Vec::new();
    for (i, p) in plan.layers.iter().enumerate() {
        let span = super::layer_span(p);
        let input = input_ref(plan, i);
        let name = &p.decl.name;
        let line = match (p.spec, p.input) {
            (
                Spec::Recurrent {
                    cell,
                    units,
                    return_sequences,
                },
                Shape::Seq(s, f),
            ) => {
                let cell_f = cell_field(p);
                let [s, f, h, gh] = [s, f, units, cell.gates() * units].map(lit);
                let call = match cell {
                    Cell::Simple(act) => {
                        let a = act_type(act);
                        call(
                            span,
                            quote!(k::simple_rnn_train::<T, #a, #f, #h, #s>),
                            quote!(&self.#name, &#input, &mut tape.#cell_f),
                        )
                    }
                    Cell::Lstm => call(
                        span,
                        quote!(k::lstm_train::<T, #f, #h, #gh, #s>),
                        quote!(&self.#name, &#input, &mut tape.#cell_f),
                    ),
                    Cell::Gru => call(
                        span,
                        quote!(k::gru_train::<T, #f, #h, #gh, #s>),
                        quote!(&self.#name, &#input, &mut tape.#cell_f),
                    ),
                };
                if return_sequences {
                    quote!(#call;)
                } else {
                    quote!(#call; tape.#name = k::last_step::<T, #h, #s>(&tape.#cell_f.h);)
                }
            }
            _ if i + 1 == plan.layers.len() && split_last_activation(plan).is_some() => {
                // The last layer keeps its logits: computed linear, then
                // activated (losses from logits need them).
                let (linear, act) = split_last_activation(plan).unwrap_or((p.spec, Act::Linear));
                let lin = Planned { spec: linear, ..*p };
                let call = super::forward::layer_call(&lin, quote!(&#input), quote!(#input));
                let activate = activate_logits(p, act);
                quote!(tape.__logits = #call; tape.#name = #activate;)
            }
            _ => {
                let call = super::forward::layer_call(p, quote!(&#input), quote!(#input));
                quote!(tape.#name = #call;)
            }
        };
        lines.push(line);
    }
    lines
}

/// One layer's backward: `d` is dL/d(output); evaluates to dL/d(input).
/// With `logits`, the layer's own activation is treated as linear.
fn layer_backward(plan: &Plan, i: usize, logits: bool) -> TokenStream {
    backward_call(plan, i, logits, false).unwrap_or_else(|| {
        let span = super::layer_span(&plan.layers[i]);
        quote_spanned!(span=> ::core::compile_error!("staticnet: internal error: no backward"))
    })
}

/// Layer `i`'s backward without the input gradient (the kernels' `*_params`
/// forms), for the first layer with parameters in a training step; `None`
/// for a layer without parameters. Evaluates to nothing useful.
fn layer_backward_params(plan: &Plan, i: usize, logits: bool) -> Option<TokenStream> {
    backward_call(plan, i, logits, true)
}

/// The call of layer `i`'s backward kernel; with `params_only` its
/// `*_params` form, which the `Dense` and `Conv2d` kernels take without the
/// weights (they only need them for dL/d(input)).
fn backward_call(plan: &Plan, i: usize, logits: bool, params_only: bool) -> Option<TokenStream> {
    let p = &plan.layers[i];
    if params_only && !has_params(p) {
        return None;
    }
    let span = super::layer_span(p);
    let name = &p.decl.name;
    let input = input_ref(plan, i);
    let output = output_ref(plan, i);
    let act = |a: Act| act_type(if logits { Act::Linear } else { a });
    // A kernel with parameters: `kernel` or `kernel_params`, with the
    // weights first unless the params form of a layer without recurrence.
    let with_params = |kernel: &str, generics: TokenStream, recurrent: bool, rest: TokenStream| {
        let f = if params_only {
            format_ident!("{kernel}_params")
        } else {
            format_ident!("{kernel}")
        };
        let args = if params_only && !recurrent {
            rest
        } else {
            quote!(&self.#name, #rest)
        };
        call(span, quote!(k::#f::<#generics>), args)
    };
    Some(match (p.spec, p.input, p.output) {
        (Spec::Dense { units, act: a }, Shape::Vector(n), _) => {
            let (a, n, o) = (act(a), lit(n), lit(units));
            with_params(
                "dense_backward",
                quote!(T, #a, #n, #o),
                false,
                quote!(&#input, &#output, &d, &mut grads.#name),
            )
        }
        (Spec::Dense { units, act: a }, Shape::Seq(s, n), _) => {
            let (a, n, o, s) = (act(a), lit(n), lit(units), lit(s));
            with_params(
                "dense_seq_backward",
                quote!(T, #a, #n, #o, #s),
                false,
                quote!(&#input, &#output, &d, &mut grads.#name),
            )
        }
        (
            Spec::Conv2d {
                kernel: (kh, kw),
                stride: (sh, sw),
                act: a,
                ..
            },
            Shape::Image(c, h, w),
            Shape::Image(o, oh, ow),
        ) => {
            let (pt, pl) = p.pad_top_left;
            let a = act(a);
            let kk = lit(c * kh * kw);
            let [c, h, w, o, kh, kw, sh, sw, pt, pl, oh, ow] =
                [c, h, w, o, kh, kw, sh, sw, pt, pl, oh, ow].map(lit);
            with_params(
                "conv2d_backward",
                quote!(T, #a, #c, #h, #w, #o, #kh, #kw, #sh, #sw, #pt, #pl, #oh, #ow, #kk),
                false,
                quote!(&#input, &#output, &d, &mut grads.#name),
            )
        }
        (
            Spec::Pool {
                max,
                size: (kh, kw),
                stride: (sh, sw),
            },
            Shape::Image(c, h, w),
            Shape::Image(_, oh, ow),
        ) => {
            let f = Ident::new(
                if max {
                    "max_pool2d_backward"
                } else {
                    "avg_pool2d_backward"
                },
                span,
            );
            let [c, h, w, kh, kw, sh, sw, oh, ow] = [c, h, w, kh, kw, sh, sw, oh, ow].map(lit);
            call(
                span,
                quote!(k::#f::<T, #c, #h, #w, #kh, #kw, #sh, #sw, #oh, #ow>),
                quote!(&#input, &#output, &d),
            )
        }
        (Spec::Flatten, Shape::Image(c, h, w), Shape::Vector(n)) => {
            let [c, h, w, n] = [c, h, w, n].map(lit);
            call(
                span,
                quote!(k::flatten_image_backward::<T, #c, #h, #w, #n>),
                quote!(&d),
            )
        }
        (Spec::Flatten, Shape::Seq(s, f), Shape::Vector(n)) => {
            let [s, f, n] = [s, f, n].map(lit);
            call(
                span,
                quote!(k::flatten_seq_backward::<T, #f, #s, #n>),
                quote!(&d),
            )
        }
        (Spec::Flatten, Shape::Vector(_), _) => quote!(d),
        (Spec::Activation(_), _, _) if logits => quote!(d),
        (Spec::Activation(a), Shape::Vector(n), _) => {
            let (a, n) = (act_type(a), lit(n));
            call(
                span,
                quote!(k::activate_backward::<T, #a, #n, 1>),
                quote!(&#output, &d),
            )
        }
        (Spec::Activation(a), Shape::Seq(s, f), _) => {
            let (a, s, f) = (act_type(a), lit(s), lit(f));
            call(
                span,
                quote!(k::activate_backward::<T, #a, #f, #s>),
                quote!(&#output, &d),
            )
        }
        (Spec::Activation(a), Shape::Image(c, h, w), _) => {
            let a = act_type(a);
            let [c, h, w] = [c, h, w].map(lit);
            call(
                span,
                quote!(k::activate_image_backward::<T, #a, #c, #h, #w>),
                quote!(&#output, &d),
            )
        }
        (
            Spec::Recurrent {
                cell,
                units,
                return_sequences,
            },
            Shape::Seq(s, f),
            _,
        ) => {
            let cell_f = cell_field(p);
            let [s, f, h, gh] = [s, f, units, cell.gates() * units].map(lit);
            let dys = if return_sequences {
                quote!(d)
            } else {
                call(span, quote!(k::last_step_grad::<T, #h, #s>), quote!(&d))
            };
            let rest = quote!(&#input, &tape.#cell_f, &#dys, &mut grads.#name);
            match cell {
                Cell::Simple(a) => {
                    let a = act_type(a);
                    with_params("simple_rnn_backward", quote!(T, #a, #f, #h, #s), true, rest)
                }
                Cell::Lstm => with_params("lstm_backward", quote!(T, #f, #h, #gh, #s), true, rest),
                Cell::Gru => with_params("gru_backward", quote!(T, #f, #h, #gh, #s), true, rest),
            }
        }
        _ => {
            quote_spanned!(span=> ::core::compile_error!("staticnet: internal error: unplanned layer"))
        }
    })
}

/// Whether layer `i` has parameters (its backward must run in training).
fn has_params(p: &Planned) -> bool {
    matches!(
        p.spec,
        Spec::Dense { .. } | Spec::Conv2d { .. } | Spec::Recurrent { .. }
    )
}

/// For a last Dense or Conv2d layer with a non-linear activation: the same
/// layer made linear, and the activation. Its training forward keeps the
/// logits in the tape's `__logits`.
fn split_last_activation(plan: &Plan) -> Option<(Spec, Act)> {
    match plan.layers.last()?.spec {
        Spec::Dense { units, act } if act != Act::Linear => Some((
            Spec::Dense {
                units,
                act: Act::Linear,
            },
            act,
        )),
        Spec::Conv2d {
            filters,
            kernel,
            stride,
            padding,
            act,
        } if act != Act::Linear => Some((
            Spec::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                act: Act::Linear,
            },
            act,
        )),
        _ => None,
    }
}

/// Where the last layer's pre-activation lives in the tape.
fn logits_ref(plan: &Plan) -> TokenStream {
    let last = plan.layers.len() - 1;
    if split_last_activation(plan).is_some() {
        quote!(tape.__logits)
    } else if matches!(plan.layers[last].spec, Spec::Activation(_)) {
        input_ref(plan, last)
    } else {
        output_ref(plan, last)
    }
}

/// The activation a loss may skip: the last layer's, if it is Dense,
/// Conv2d or an activation layer.
fn output_activation(plan: &Plan) -> Act {
    match plan.layers.last().map(|p| p.spec) {
        Some(Spec::Dense { act, .. } | Spec::Conv2d { act, .. } | Spec::Activation(act)) => act,
        _ => Act::Linear,
    }
}

/// A `Dense` on a vector: the layer the batched training code runs with
/// the batched kernels (`kernels::dense_batch`); every other layer runs
/// sample by sample inside it.
fn batched_dense(p: &Planned) -> Option<(usize, usize, Act)> {
    match (p.spec, p.input) {
        (Spec::Dense { units, act }, Shape::Vector(n)) => Some((n, units, act)),
        _ => None,
    }
}

/// `[&x_0, …, &x_{K−1}]`: `field` (a `tape.…` path) of every tape.
fn each_tape(field: &TokenStream) -> TokenStream {
    quote!(::core::array::from_fn::<_, K, _>(|k| {
        let tape = &tapes[k];
        &#field
    }))
}

/// `forward_train_batch`, `backward_params_batch` and the hidden
/// `__backward_batch` behind it, for a model with a `Dense` on a vector;
/// `None` otherwise (the trait's sample-by-sample defaults are as fast).
fn batch_impl(plan: &Plan) -> Option<(TokenStream, TokenStream)> {
    if !plan.layers.iter().any(|p| batched_dense(p).is_some()) {
        return None;
    }
    let n = plan.layers.len();
    let lines = forward_train_lines(plan);
    let forward = plan
        .layers
        .iter()
        .zip(lines)
        .enumerate()
        .map(|(i, (p, line))| {
            let Some((ni, o, act)) = batched_dense(p) else {
                return quote!(for tape in tapes.iter_mut() { #line });
            };
            let span = super::layer_span(p);
            let name = &p.decl.name;
            let xs = each_tape(&input_ref(plan, i));
            let (ni, o) = (lit(ni), lit(o));
            if i + 1 == n && split_last_activation(plan).is_some() {
                let activate = activate_logits(p, act);
                let call = call(
                    span,
                    quote!(k::dense_batch::<T, a::Linear, #ni, #o, K>),
                    quote!(&self.#name, #xs),
                );
                quote! {
                    let zs = #call;
                    for (tape, z) in tapes.iter_mut().zip(zs) {
                        tape.__logits = z;
                        tape.#name = #activate;
                    }
                }
            } else {
                let a = act_type(act);
                let call = call(
                    span,
                    quote!(k::dense_batch::<T, #a, #ni, #o, K>),
                    quote!(&self.#name, #xs),
                );
                quote! {
                    let ys = #call;
                    for (tape, y) in tapes.iter_mut().zip(ys) {
                        tape.#name = y;
                    }
                }
            }
        });
    let out = output_ref(plan, n - 1);
    let forward = quote! {
        fn forward_train_batch<const K: usize>(
            &self,
            xs: [&Self::Input; K],
            tapes: &mut [Self::Tape; K],
        ) -> [Self::Output; K] {
            #[allow(unused_imports)]
            use ::staticnet::__private::{activation as a, kernels as k};
            for (tape, x) in tapes.iter_mut().zip(xs) {
                tape.input = *x;
            }
            #(#forward)*
            ::core::array::from_fn(|k| {
                let tape = &tapes[k];
                #out
            })
        }
    };

    // Nothing below the first layer with parameters needs a gradient.
    let first = plan.layers.iter().position(has_params);
    let backward = (first.unwrap_or(n)..n).rev().map(|i| {
        let p = &plan.layers[i];
        let last = i == n - 1;
        // Both forms when the last layer's activation is skipped for logits.
        let pick = |f: &dyn Fn(bool) -> TokenStream| {
            let (with_logits, plain) = (f(true), f(false));
            if last && with_logits.to_string() != plain.to_string() {
                quote!(if LOGITS { #with_logits } else { #plain })
            } else {
                plain
            }
        };
        if let Some((ni, o, act)) = batched_dense(p) {
            let span = super::layer_span(p);
            let name = &p.decl.name;
            let xs = each_tape(&input_ref(plan, i));
            let ys = each_tape(&output_ref(plan, i));
            let (ni, o) = (lit(ni), lit(o));
            let a = |logits: bool| act_type(if logits && last { Act::Linear } else { act });
            if Some(i) == first {
                let call = pick(&|logits| {
                    let a = a(logits);
                    call(
                        span,
                        quote!(k::dense_backward_batch_params::<T, #a, #ni, #o, K>),
                        quote!(#xs, #ys, &d, &mut grads.#name),
                    )
                });
                return quote! {
                    #call;
                    return;
                };
            }
            let call = pick(&|logits| {
                let a = a(logits);
                call(
                    span,
                    quote!(k::dense_backward_batch::<T, #a, #ni, #o, K>),
                    quote!(&self.#name, #xs, #ys, &d, &mut grads.#name),
                )
            });
            return quote!(let d = #call;);
        }
        let full = pick(&|logits| layer_backward(plan, i, logits && last));
        if Some(i) == first {
            let params = match layer_backward_params(plan, i, false) {
                Some(_) => pick(&|logits| {
                    let c = layer_backward_params(plan, i, logits && last);
                    quote!({ #c; })
                }),
                None => quote!({ #full; }),
            };
            return quote! {
                for k in 0..K {
                    let tape = &tapes[k];
                    let d = d[k];
                    #params
                }
                return;
            };
        }
        quote! {
            let d = ::core::array::from_fn::<_, K, _>(|k| {
                let tape = &tapes[k];
                let d = d[k];
                #full
            });
        }
    });
    let backward = quote! {
        /// The batched backward behind `backward_params_batch`: with
        /// `LOGITS` from the last layer's pre-activation.
        #[doc(hidden)]
        #[allow(unused_variables, unreachable_code, clippy::needless_range_loop)]
        fn __backward_batch<const K: usize, const LOGITS: bool>(
            &self,
            tapes: &[<Self as ::staticnet::Train<T>>::Tape; K],
            dys: &[<Self as ::staticnet::Model<T>>::Output; K],
            grads: &mut Self,
        ) {
            #[allow(unused_imports)]
            use ::staticnet::__private::{activation as a, kernels as k};
            let d = *dys;
            #(#backward)*
        }
    };
    Some((forward, backward))
}

pub fn train_impl(def: &ModelDef, plan: &Plan) -> TokenStream {
    let name = &def.name;
    let tape = tape_name(def);
    let forward_train = forward_train(plan);
    let n = plan.layers.len();
    // Below the first layer with parameters a training step needs no
    // gradient at all: without `DX` the backward stops there (and skips
    // that layer's input gradient where its kernel can).
    let first = plan.layers.iter().position(has_params);
    let lines = (0..n).rev().map(|i| {
        let last = i == n - 1;
        let call = |logits: bool| layer_backward(plan, i, logits && last);
        let full = if last && call(true).to_string() != call(false).to_string() {
            let (with_logits, plain) = (call(true), call(false));
            quote!(if LOGITS { #with_logits } else { #plain })
        } else {
            call(false)
        };
        if Some(i) != first {
            return quote!(let d = #full;);
        }
        let params = |logits: bool| layer_backward_params(plan, i, logits && last);
        match (params(true), params(false)) {
            (Some(with_logits), Some(plain)) => {
                let skip = if last && with_logits.to_string() != plain.to_string() {
                    quote!(if LOGITS { #with_logits; } else { #plain; })
                } else {
                    quote!(#plain;)
                };
                quote! {
                    if !DX {
                        #skip
                        return <<Self as ::staticnet::Model<T>>::Input as ::staticnet::Tensor<T>>::zeros();
                    }
                    let d = #full;
                }
            }
            _ => quote! {
                let d = #full;
                if !DX {
                    return <<Self as ::staticnet::Model<T>>::Input as ::staticnet::Tensor<T>>::zeros();
                }
            },
        }
    });
    let out_act = Ident::new(output_activation(plan).type_name(), Span::call_site());
    let logits = logits_ref(plan);
    let (batch_forward, batch_backward, batch_dispatch) = match batch_impl(plan) {
        Some((forward, backward)) => (
            forward,
            backward,
            quote! {
                fn backward_params_batch<const K: usize>(
                    &self,
                    tapes: &[Self::Tape; K],
                    dys: &[Self::Output; K],
                    wrt_logits: bool,
                    grads: &mut Self,
                ) {
                    if wrt_logits {
                        self.__backward_batch::<K, true>(tapes, dys, grads);
                    } else {
                        self.__backward_batch::<K, false>(tapes, dys, grads);
                    }
                }
            },
        ),
        None => Default::default(),
    };
    quote! {
        impl<T: ::staticnet::Float> #name<T> {
            /// Backward through the forward recorded in `tape`: with
            /// `LOGITS` from the last layer's pre-activation, with `DX`
            /// returning `dL/d(input)` (else zeros, and only the parameter
            /// gradients are computed).
            ///
            /// Not inlined: `backward_params` calls it twice (with and
            /// without `LOGITS`), and inlined into one frame (LTO) the two
            /// copies' buffers added up: 27.4 KiB of stack for the firmware
            /// CNN's train step against 19.8 KiB as a call.
            #[doc(hidden)]
            #[inline(never)]
            #[allow(unused_variables, clippy::let_and_return)]
            fn __backward<const LOGITS: bool, const DX: bool>(
                &self,
                tape: &<Self as ::staticnet::Train<T>>::Tape,
                dy: &<Self as ::staticnet::Model<T>>::Output,
                grads: &mut Self,
            ) -> <Self as ::staticnet::Model<T>>::Input {
                #[allow(unused_imports)]
                use ::staticnet::__private::{activation as a, kernels as k};
                let d = *dy;
                #(#lines)*
                d
            }

            #batch_backward
        }

        impl<T: ::staticnet::Float> ::staticnet::Train<T> for #name<T> {
            type Tape = #tape<T>;
            const OUTPUT_ACTIVATION: ::staticnet::OutputActivation = ::staticnet::OutputActivation::#out_act;
            fn new_tape() -> Self::Tape {
                #tape::zeros()
            }
            #forward_train
            fn logits(tape: &Self::Tape) -> Self::Output {
                #logits
            }
            fn backward(&self, tape: &Self::Tape, dy: &Self::Output, grads: &mut Self) -> Self::Input {
                self.__backward::<false, true>(tape, dy, grads)
            }
            fn backward_logits(&self, tape: &Self::Tape, dy: &Self::Output, grads: &mut Self) -> Self::Input {
                self.__backward::<true, true>(tape, dy, grads)
            }
            fn backward_params(&self, tape: &Self::Tape, dy: &Self::Output, wrt_logits: bool, grads: &mut Self) {
                if wrt_logits {
                    self.__backward::<true, false>(tape, dy, grads);
                } else {
                    self.__backward::<false, false>(tape, dy, grads);
                }
            }
            #batch_forward
            #batch_dispatch
        }
    }
}
