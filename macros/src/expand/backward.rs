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

/// The recording forward.
fn forward_train(plan: &Plan) -> TokenStream {
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
                let a = act_type(act);
                let activate = match p.output {
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
                };
                quote!(tape.__logits = #call; tape.#name = #activate;)
            }
            _ => {
                let call = super::forward::layer_call(p, quote!(&#input), quote!(#input));
                quote!(tape.#name = #call;)
            }
        };
        lines.push(line);
    }
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

/// One layer's backward: `d` is dL/d(output); evaluates to dL/d(input).
/// With `logits`, the layer's own activation is treated as linear.
fn layer_backward(plan: &Plan, i: usize, logits: bool) -> TokenStream {
    let p = &plan.layers[i];
    let span = super::layer_span(p);
    let name = &p.decl.name;
    let input = input_ref(plan, i);
    let output = output_ref(plan, i);
    let act = |a: Act| act_type(if logits { Act::Linear } else { a });
    match (p.spec, p.input, p.output) {
        (Spec::Dense { units, act: a }, Shape::Vector(n), _) => {
            let (a, n, o) = (act(a), lit(n), lit(units));
            call(
                span,
                quote!(k::dense_backward::<T, #a, #n, #o>),
                quote!(&self.#name, &#input, &#output, &d, &mut grads.#name),
            )
        }
        (Spec::Dense { units, act: a }, Shape::Seq(s, n), _) => {
            let (a, n, o, s) = (act(a), lit(n), lit(units), lit(s));
            call(
                span,
                quote!(k::dense_seq_backward::<T, #a, #n, #o, #s>),
                quote!(&self.#name, &#input, &#output, &d, &mut grads.#name),
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
            call(
                span,
                quote!(k::conv2d_backward::<T, #a, #c, #h, #w, #o, #kh, #kw, #sh, #sw, #pt, #pl, #oh, #ow, #kk>),
                quote!(&self.#name, &#input, &#output, &d, &mut grads.#name),
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
            match cell {
                Cell::Simple(a) => {
                    let a = act_type(a);
                    call(
                        span,
                        quote!(k::simple_rnn_backward::<T, #a, #f, #h, #s>),
                        quote!(&self.#name, &#input, &tape.#cell_f, &#dys, &mut grads.#name),
                    )
                }
                Cell::Lstm => call(
                    span,
                    quote!(k::lstm_backward::<T, #f, #h, #gh, #s>),
                    quote!(&self.#name, &#input, &tape.#cell_f, &#dys, &mut grads.#name),
                ),
                Cell::Gru => call(
                    span,
                    quote!(k::gru_backward::<T, #f, #h, #gh, #s>),
                    quote!(&self.#name, &#input, &tape.#cell_f, &#dys, &mut grads.#name),
                ),
            }
        }
        _ => {
            quote_spanned!(span=> ::core::compile_error!("staticnet: internal error: unplanned layer"))
        }
    }
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

pub fn train_impl(def: &ModelDef, plan: &Plan) -> TokenStream {
    let name = &def.name;
    let tape = tape_name(def);
    let forward_train = forward_train(plan);
    let n = plan.layers.len();
    let body = |logits: bool| {
        let lines = (0..n).rev().map(|i| {
            let call = layer_backward(plan, i, logits && i == n - 1);
            quote!(let d = #call;)
        });
        quote! {
            #[allow(unused_imports)]
            use ::staticnet::__private::{activation as a, kernels as k};
            let d = *dy;
            #(#lines)*
            d
        }
    };
    let backward = body(false);
    let backward_logits = body(true);
    let out_act = Ident::new(output_activation(plan).type_name(), Span::call_site());
    let logits = logits_ref(plan);
    quote! {
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
                #backward
            }
            fn backward_logits(&self, tape: &Self::Tape, dy: &Self::Output, grads: &mut Self) -> Self::Input {
                #backward_logits
            }
        }
    }
}
