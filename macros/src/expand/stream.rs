//! Streaming inference for sequence models: a `State` (all recurrent
//! states, zero at reset) and `step`, which feeds one time step through the
//! whole network, so an audio or control loop can run it sample by sample.
//!
//! After the `S`-th step of a sequence, `step` returns what `forward`
//! returns for the whole sequence (its last step, when the model returns
//! sequences). Generated only for models whose every layer works step by
//! step: a sequence input and no `Flatten`.

use super::{call, layer_span, lit};
use crate::ast::ModelDef;
use crate::layers::{Act, Cell, Spec};
use crate::shape::{Plan, Shape};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

fn act_type(a: Act) -> TokenStream {
    let id = Ident::new(a.type_name(), Span::call_site());
    quote!(a::#id)
}

/// `true` if the model can run one time step at a time.
pub fn streamable(plan: &Plan) -> bool {
    matches!(plan.input, Shape::Seq(..))
        && plan.layers.iter().all(|p| !matches!(p.spec, Spec::Flatten))
        && plan
            .layers
            .iter()
            .any(|p| matches!(p.spec, Spec::Recurrent { .. }))
}

pub fn state_name(def: &ModelDef) -> Ident {
    format_ident!("{}State", def.name)
}

/// The per-step feature count of a shape (a vector's length, a sequence's
/// features).
fn width(s: Shape) -> usize {
    match s {
        Shape::Vector(n) | Shape::Seq(_, n) => n,
        Shape::Image(..) => 0,
    }
}

pub fn expand(def: &ModelDef, plan: &Plan) -> TokenStream {
    if !streamable(plan) {
        return TokenStream::new();
    }
    let vis = &def.vis;
    let name = &def.name;
    let state = state_name(def);
    let mut fields = Vec::new();
    let mut zeros = Vec::new();
    let mut lines = Vec::new();
    for p in &plan.layers {
        let span = layer_span(p);
        let field = &p.decl.name;
        let n_in = lit(width(p.input));
        let line = match p.spec {
            Spec::Recurrent { cell, units, .. } => {
                let h = lit(units);
                let gh = lit(cell.gates() * units);
                let (ty, step, out) = match cell {
                    Cell::Simple(a) => {
                        let a = act_type(a);
                        (
                            quote_spanned!(span=> ::staticnet::kernels::SimpleRnnState<T, #h>),
                            call(
                                span,
                                quote!(k::simple_rnn_step::<T, #a, #n_in, #h>),
                                quote!(&self.#field, &x, &mut state.#field),
                            ),
                            quote!(state.#field),
                        )
                    }
                    Cell::Lstm => (
                        quote_spanned!(span=> ::staticnet::kernels::LstmState<T, #h>),
                        call(
                            span,
                            quote!(k::lstm_step::<T, #n_in, #h, #gh>),
                            quote!(&self.#field, &x, &mut state.#field),
                        ),
                        quote!(state.#field.h),
                    ),
                    Cell::Gru => (
                        quote_spanned!(span=> ::staticnet::kernels::GruState<T, #h>),
                        call(
                            span,
                            quote!(k::gru_step::<T, #n_in, #h, #gh>),
                            quote!(&self.#field, &x, &mut state.#field),
                        ),
                        quote!(state.#field),
                    ),
                };
                let doc = format!("`{field}`'s state.");
                fields.push(quote!(#[doc = #doc] pub #field: #ty,));
                zeros.push(quote!(#field: <#ty>::zeros(),));
                quote!(#step; let x = #out;)
            }
            Spec::Dense { units, act } => {
                let (a, o) = (act_type(act), lit(units));
                let c = call(
                    span,
                    quote!(k::dense::<T, #a, #n_in, #o>),
                    quote!(&self.#field, &x),
                );
                quote!(let x = #c;)
            }
            Spec::Activation(act) => {
                let a = act_type(act);
                let c = call(span, quote!(k::activate::<T, #a, #n_in, 1>), quote!(x));
                quote!(let x = #c;)
            }
            // `streamable` admits nothing else.
            _ => {
                quote_spanned!(span=> ::core::compile_error!("staticnet: internal error: layer cannot stream"))
            }
        };
        lines.push(line);
    }
    let f = lit(width(plan.input));
    let out = lit(plan.layers.last().map_or(0, |p| width(p.output)));
    let doc = format!(
        "The recurrent state of [`{name}`] for streaming inference with [`{name}::step`]; `zeros()` is the state before the first step."
    );
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #state<T: ::staticnet::Float = f32> {
            #(#fields)*
        }

        impl<T: ::staticnet::Float> #state<T> {
            /// The state before the first step.
            pub fn zeros() -> Self {
                Self { #(#zeros)* }
            }
            /// Resets to the state before the first step.
            pub fn reset(&mut self) {
                *self = Self::zeros();
            }
        }

        impl<T: ::staticnet::Float> #name<T> {
            /// Feeds one time step `x_t` through the network, updating
            /// `state`. After the last step of a sequence the result equals
            /// [`forward`](::staticnet::Model::forward) on the whole
            /// sequence (its last step, for a model that returns
            /// sequences). No heap, no std.
            #[inline]
            pub fn step(&self, state: &mut #state<T>, x_t: &::staticnet::Vector<T, #f>) -> ::staticnet::Vector<T, #out> {
                #[allow(unused_imports)]
                use ::staticnet::__private::{activation as a, kernels as k};
                let x = *x_t;
                #(#lines)*
                x
            }
        }
    }
}
