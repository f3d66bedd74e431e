//! Streaming inference for sequence models: a `State` (every stateful
//! layer's state, zero at reset) and `step`, which feeds one time step
//! through the whole network, so an audio or control loop can run it
//! sample by sample.
//!
//! After the `S`-th step of a sequence, `step` returns what `forward`
//! returns for the whole sequence (its last step, when the model returns
//! sequences). Generated only for models with a sequence input whose every
//! layer can run step by step ([`Layer::stream`](crate::layers::Layer::stream))
//! and at least one of which keeps state.

use super::local;
use crate::ast::ModelDef;
use crate::layers::StreamStep;
use crate::plan::{Fusion, Plan, Src};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// The step function's own parameters, which no node local may shadow.
const TAKEN: &[&str] = &["state", "x_t"];

pub fn state_name(def: &ModelDef) -> Ident {
    format_ident!("{}State", def.name)
}

pub fn expand(def: &ModelDef, plan: &Plan) -> TokenStream {
    if !matches!(plan.input, crate::shape::Shape::Seq(..)) {
        return TokenStream::new();
    }
    let mut fields = Vec::new();
    let mut zeros = Vec::new();
    let mut lines = Vec::new();
    let operand = |src: Src| match src {
        Src::Input => quote!(x_t),
        Src::Node(j) => {
            let l = local(&plan.nodes[j].decl.name, TAKEN);
            quote!(&#l)
        }
    };
    // The inference fusions whose producer streams fused, each with its
    // step (whose state is the producer's); the others run node by node.
    let mut fused: Vec<(Fusion, Option<StreamStep>)> = plan
        .inference_fusions()
        .into_iter()
        .filter_map(|f| {
            let (producer, src, affine) = f.parts(plan);
            let layer = &plan.nodes[f.producer].layer;
            let step = layer.stream_affine(&producer, &operand(src), &affine, f.act(plan))?;
            Some((f, Some(step)))
        })
        .collect();
    for (i, n) in plan.nodes.iter().enumerate() {
        if fused.iter().any(|(f, _)| f.hides(i)) {
            continue;
        }
        let site = plan.site(i);
        let (field, step) = match fused.iter_mut().find(|(f, _)| f.last() == i) {
            Some((f, step)) => (plan.nodes[f.producer].decl.name.clone(), step.take()),
            None => (site.name.clone(), None),
        };
        let step = if step.is_some() {
            step
        } else if n.layer.is_merge() {
            let xs: Vec<TokenStream> = n.inputs.iter().map(|&s| operand(s)).collect();
            n.layer.stream_merge(&site, &xs)
        } else {
            n.layer.stream(&site, &operand(n.inputs[0]))
        };
        let Some(step) = step else {
            return TokenStream::new();
        };
        if let Some(ty) = step.state {
            let doc = format!("`{field}`'s state.");
            fields.push(quote!(#[doc = #doc] pub #field: #ty,));
            zeros.push(quote!(#field: <#ty>::zeros(),));
        }
        let (run, output, l) = (step.run, step.output, local(&site.name, TAKEN));
        lines.push(quote!(#run let #l = #output;));
    }
    if fields.is_empty() {
        return TokenStream::new();
    }
    let vis = &def.vis;
    let name = &def.name;
    let state = state_name(def);
    let f = super::lit(plan.input.width());
    let out = super::lit(plan.output().width());
    let last = local(&plan.nodes[plan.last()].decl.name, TAKEN);
    let dispatch = super::dispatched(
        name,
        &quote::format_ident!("__step"),
        &[
            (quote::format_ident!("state"), quote!(&mut #state<T>)),
            (
                quote::format_ident!("x_t"),
                quote!(&::staticnet::Vector<T, #f>),
            ),
        ],
        &quote!(::staticnet::Vector<T, #out>),
    );
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
                #dispatch
            }

            /// The kernel calls of [`step`](Self::step), which runs them
            /// through run-time CPU dispatch.
            #[doc(hidden)]
            #[inline(always)]
            pub fn __step(&self, state: &mut #state<T>, x_t: &::staticnet::Vector<T, #f>) -> ::staticnet::Vector<T, #out> {
                #[allow(unused_imports)]
                use ::staticnet::__private::{activation as a, kernels as k};
                #(#lines)*
                #last
            }

            /// [`Self::__step`] with the kernels' AVX2 instantiation
            /// (`kernels::avx2`), for the copy compiled for AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[doc(hidden)]
            #[inline(always)]
            pub fn __step_avx2(&self, state: &mut #state<T>, x_t: &::staticnet::Vector<T, #f>) -> ::staticnet::Vector<T, #out> {
                #[allow(unused_imports)]
                use ::staticnet::__private::{activation as a, kernels::avx2 as k};
                #(#lines)*
                #last
            }
        }
    }
}
