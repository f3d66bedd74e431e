//! The inference forward: one kernel call per node, each spanned at the
//! layer it comes from, each output bound to the layer's name.

use crate::plan::{Fusion, Plan, Src};
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::quote;

/// A node's input as the inference forward sees it: `input` (a reference)
/// or an earlier node's local.
fn operand(plan: &Plan, src: Src) -> (TokenStream, TokenStream) {
    match src {
        Src::Input => (quote!(input), quote!(*input)),
        Src::Node(j) => {
            let name = &plan.nodes[j].decl.name;
            (quote!(&#name), quote!(#name))
        }
    }
}

/// `Model::forward`, which dispatches (see [`super::dispatched`]) to the
/// model's inherent `__forward` holding the kernel calls.
pub fn forward(def: &crate::ast::ModelDef, plan: &Plan) -> (TokenStream, TokenStream) {
    let fusions = plan.inference_fusions();
    let flat_into = flattened_in_place(plan, &fusions);
    let lines: Vec<TokenStream> = plan
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            // A fused chain (a convolution or `Dense`, BatchNorm, an
            // activation) is one kernel call bound to its last node's name;
            // the nodes inside it have no value of their own.
            if fusions.iter().any(|f| f.hides(i)) {
                return TokenStream::new();
            }
            // A `Flatten` whose input layer wrote into its vector (below).
            if flat_into.iter().any(|&(_, f, _)| f == i) {
                return TokenStream::new();
            }
            if let Some((_, f, into)) = flat_into.iter().find(|&&(p, _, _)| p == i) {
                let flat = &plan.nodes[*f].decl.name;
                let n = plan.nodes[*f].output;
                let Shape::Image(c, h, w) = plan.nodes[*f].input else {
                    return TokenStream::new();
                };
                let [c, h, w, len] = [c, h, w, c * h * w].map(crate::layers::lit);
                let ty = super::tensor_type(n);
                return quote! {
                    let mut #flat = <#ty>::zeros();
                    if let ::core::option::Option::Some(__image) =
                        k::image_of_mut::<T, #c, #h, #w, #len>(&mut #flat)
                    {
                        #into
                    }
                };
            }
            let site = plan.site(i);
            let fused = fusions.iter().find(|f| f.last() == i);
            let call = if let Some(f) = fused {
                let (producer, src, affine) = f.parts(plan);
                let x = operand(plan, src).0;
                plan.nodes[f.producer]
                    .layer
                    .forward_affine(&producer, &x, &affine, f.act(plan))
            } else if n.layer.is_merge() {
                let xs: Vec<TokenStream> = n.inputs.iter().map(|&s| operand(plan, s).0).collect();
                n.layer.forward_merge(&site, &xs, false)
            } else {
                let (by_ref, by_val) = operand(plan, n.inputs[0]);
                n.layer.forward(&site, &by_ref, &by_val, false)
            };
            let name = &site.name;
            quote!(let #name = #call;)
        })
        .collect();
    let out = &plan.nodes[plan.last()].decl.name;
    let name = &def.name;
    let (input_ty, output_ty) = (
        super::tensor_type(plan.input),
        super::tensor_type(plan.output()),
    );
    let inner = quote::format_ident!("__forward");
    let body = super::dispatched(
        name,
        &inner,
        &[(quote::format_ident!("input"), quote!(&#input_ty))],
        &output_ty,
    );
    let trait_fn = quote! {
        #[inline]
        fn forward(&self, input: &Self::Input) -> Self::Output {
            #body
        }
    };
    // A sequence model also has an inherent `forward`, which shadows the
    // trait's for method calls: bounded by `AsSequence`, it takes the plain
    // array of steps too, and a value of the wrong shape is reported in the
    // DSL's `[steps, features]` order (the trait's `Self::Input` would be
    // printed as nalgebra's features-first `Matrix`).
    let by_steps = match plan.input {
        crate::shape::Shape::Seq(t, f) => {
            let (tl, fl) = (super::lit(t), super::lit(f));
            let doc = format!(
                " [`Model::forward`](::staticnet::Model::forward) on a sequence of \
                 [steps, features] = [{t}, {f}]: a `Sequence<T, {t}, {f}>` (no copy) or \
                 the plain array of its steps, `[[T; {f}]; {t}]` (copied once). A value \
                 of another shape is a compile error naming both in that order."
            );
            // The bound is spanned at `input: [..]`, so rustc's "required
            // by this bound" points at the declaration of the shape.
            let span = def
                .entries
                .iter()
                .find_map(|e| match e {
                    crate::ast::Entry::Input(i) => Some(i.bracket_span),
                    crate::ast::Entry::Layer(_) => None,
                })
                .unwrap_or(def.brace_span);
            let bound = quote::quote_spanned!(span=> ::staticnet::AsSequence<T, #tl, #fl>);
            quote! {
                #[doc = #doc]
                #[inline]
                pub fn forward<X: #bound>(
                    &self,
                    input: &X,
                ) -> #output_ty {
                    input.with_sequence(|input| <Self as ::staticnet::Model<T>>::forward(self, input))
                }
            }
        }
        _ => TokenStream::new(),
    };
    let inherent = quote! {
        impl<T: ::staticnet::Float> #name<T> {
            #by_steps

            /// The kernel calls of [`Model::forward`](::staticnet::Model::forward),
            /// which runs them through run-time CPU dispatch.
            #[doc(hidden)]
            #[inline(always)]
            pub fn __forward(&self, input: &#input_ty) -> #output_ty {
                #[allow(unused_imports)]
                use ::staticnet::__private::{activation as a, kernels as k};
                #(#lines)*
                #out
            }

            /// [`Self::__forward`] with the kernels' AVX2 instantiation
            /// (`kernels::avx2`), for the copy compiled for AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[doc(hidden)]
            #[inline(always)]
            pub fn __forward_avx2(&self, input: &#input_ty) -> #output_ty {
                #[allow(unused_imports)]
                use ::staticnet::__private::{activation as a, kernels::avx2 as k};
                #(#lines)*
                #out
            }
        }
    };
    (trait_fn, inherent)
}

/// The layers whose output only a `Flatten` of an image reads, with that
/// `Flatten` and the layer's `_into` call writing into the flattened
/// vector seen as the image (`k::image_of_mut`, the same memory): the
/// inference forward then never copies the image into the vector (2 KB
/// of `memcpy` in the textbook CNN). `(layer, flatten, call)`; fused
/// chains and layers without an `_into` form keep the copy.
fn flattened_in_place(plan: &Plan, fusions: &[Fusion]) -> Vec<(usize, usize, TokenStream)> {
    (0..plan.nodes.len())
        .filter_map(|p| {
            let f = plan.sole_reader(p)?;
            let n = &plan.nodes[p];
            if !plan.nodes[f].layer.is_flat_view(plan.nodes[f].input)
                || n.layer.is_merge()
                || n.inputs.len() != 1
                || fusions.iter().any(|fu| fu.hides(p) || fu.last() == p)
            {
                return None;
            }
            let (by_ref, by_val) = operand(plan, n.inputs[0]);
            let into = n.layer.forward_into(
                &plan.site(p),
                &by_ref,
                &by_val,
                &quote!((*__image)),
                false,
            )?;
            Some((p, f, into))
        })
        .collect()
}
