//! The inference forward: one kernel call per node, each spanned at the
//! layer it comes from, each output bound to the layer's name.

use crate::plan::{Plan, Src};
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
    let inherent = quote! {
        impl<T: ::staticnet::Float> #name<T> {
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
