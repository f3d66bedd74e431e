//! Code generation, layer-agnostic: each driver walks the plan's graph and
//! asks every node's [`Layer`](crate::layers::Layer) for its part. The
//! struct and its parameters (`params`), the inference forward
//! (`forward`), training (`backward`: tape, recording forward, backward
//! and their batched forms), streaming (`stream`), the summary constants
//! (`summary`), compiled-in weights (`weights`), and the stub emitted
//! beside errors (`fallback`).

mod backward;
mod fallback;
mod forward;
mod int8;
mod int8_ptq;
mod layer_major;
mod params;
mod stream;
mod summary;
mod weights;

use crate::ast::ModelDef;
use crate::check;
use crate::ctxt::Ctxt;
use crate::plan::{self, Plan};
use crate::shape::Shape;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

/// The whole macro on `proc_macro2` tokens: never panics; on any error
/// returns `compile_error!`s plus a stub of the struct.
pub fn model(input: TokenStream) -> TokenStream {
    let mut def: ModelDef = match syn::parse2(input) {
        Ok(def) => def,
        Err(e) => return e.to_compile_error(),
    };
    let weights = match crate::weights::take(&mut def) {
        Ok(w) => w,
        Err(e) => return fallback::expand(&def, e),
    };
    let int8 = match int8::take(&mut def) {
        Ok(a) => a,
        Err(e) => return fallback::expand(&def, e),
    };
    match try_model(&def, weights.as_ref(), int8.as_ref()) {
        Ok(ts) => ts,
        Err(e) => fallback::expand(&def, e),
    }
}

fn try_model(
    def: &ModelDef,
    weights: Option<&crate::weights::WeightsAttr>,
    int8: Option<&int8::Int8Attr>,
) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let plan = plan::infer(&cx, def);
    check::all(&cx, def);
    if let Some(plan) = &plan {
        params::trainable(&cx, plan);
    }
    cx.check()?;
    let Some(plan) = plan else {
        return Err(syn::Error::new(
            def.name.span(),
            "the model could not be planned",
        ));
    };
    let mut out = all(def, &plan);
    if let Some(attr) = weights {
        out.extend(weights::expand(def, &plan, attr));
    }
    if let Some(attr) = int8 {
        out.extend(int8::expand(def, &plan, attr));
    }
    Ok(out)
}

fn all(def: &ModelDef, plan: &Plan) -> TokenStream {
    let strukt = params::strukt(def, plan);
    let inherent = params::inherent(def, plan);
    let model_impl = model_impl(def, plan);
    let tape = backward::tape_struct(def, plan);
    let train = backward::train_impl(def, plan);
    let stream = stream::expand(def, plan);
    quote! {
        #strukt
        #inherent
        #model_impl
        #tape
        #train
        #stream
    }
}

fn model_impl(def: &ModelDef, plan: &Plan) -> TokenStream {
    let name = &def.name;
    let input_ty = tensor_type(plan.input);
    let output_ty = tensor_type(plan.output());
    let consts = summary::consts(def, plan);
    let (forward, forward_inner) = forward::forward(def, plan);
    let visit = params::visit(plan, false);
    let visit_mut = params::visit(plan, true);
    let init = params::init_in(plan);
    let zeros = params::zeros(plan);
    let tensors = params::tensor_access(plan);
    let buffers = params::visit_buffers(plan);
    let frozen = params::frozen_layers(plan);
    quote! {
        impl<T: ::staticnet::Float> ::staticnet::Model<T> for #name<T> {
            type Input = #input_ty;
            type Output = #output_ty;
            #consts
            #tensors
            #zeros
            #forward
            fn visit_params<'a>(&'a self, f: &mut dyn ::core::ops::FnMut(::staticnet::Param<'a, T>)) {
                #visit
            }
            fn visit_params_mut<'a>(&'a mut self, f: &mut dyn ::core::ops::FnMut(::staticnet::ParamMut<'a, T>)) {
                #visit_mut
            }
            #init
            #buffers
            #frozen
        }
        #forward_inner
    }
}

/// `::staticnet::Vector<T, N>` and friends.
pub(crate) fn tensor_type(s: Shape) -> TokenStream {
    match s {
        Shape::Vector(n) => {
            let n = lit(n);
            quote!(::staticnet::Vector<T, #n>)
        }
        Shape::Seq(t, f) => {
            let (t, f) = (lit(t), lit(f));
            quote!(::staticnet::Sequence<T, #t, #f>)
        }
        Shape::Image(c, h, w) => {
            let (c, h, w) = (lit(c), lit(h), lit(w));
            quote!(::staticnet::Image<T, #c, #h, #w>)
        }
    }
}

/// The body of a generated method that runs its real body, `inner` (an
/// inherent `#[inline(always)]` method of the model taking `&self` and
/// `args`), through run-time CPU dispatch (`staticnet::dispatch`): on
/// x86-64, when the CPU has AVX2 and FMA, `<inner>_avx2` (the same kernel
/// calls with `kernels::avx2` as `k`: the kernels' AVX2 instantiation,
/// their AVX register blocking and fused multiply-adds) inside a function
/// compiled for them, into which every kernel inlines; else `inner`. `params` are the
/// arguments' names and types, `ret` the return type (all spelled without
/// `Self`, as the nested function needs).
pub(crate) fn dispatched(
    model: &Ident,
    inner: &Ident,
    params: &[(Ident, TokenStream)],
    ret: &TokenStream,
) -> TokenStream {
    let names: Vec<&Ident> = params.iter().map(|(n, _)| n).collect();
    let decls = params.iter().map(|(n, ty)| quote!(#n: #ty));
    let inner_avx2 = quote::format_ident!("{}_avx2", inner);
    quote! {
        #[cfg(target_arch = "x86_64")]
        {
            /// The same kernel calls compiled for AVX2 and FMA.
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<T: ::staticnet::Float>(model: &#model<T>, #(#decls),*) -> #ret {
                model.#inner_avx2(#(#names),*)
            }
            if ::staticnet::dispatch::avx2() {
                // SAFETY: `avx2()` returned true only because the CPU
                // running this has AVX2 and FMA (`is_x86_feature_detected!`),
                // the features `avx2` is compiled for.
                return unsafe { avx2(self, #(#names),*) };
            }
        }
        self.#inner(#(#names),*)
    }
}

/// The two copies of a training method run once per batch
/// (`forward_train_layers`, `backward_layers`), for run-time CPU dispatch
/// (`staticnet::dispatch`) at the same depth as inference's [`dispatched`]:
/// nested functions `base` (the baseline copy, never inlined, so the
/// caller's frame does not also hold it) and, on x86-64, `avx2` (compiled
/// for AVX2 and FMA, into which `avx2_body`, a call of an
/// `#[inline(always)]` method whose kernels come from `kernels::avx2`,
/// inlines). Both take `model: &Model<T>`, `params` and the generic
/// parameters `generics` (e.g. `const DX: bool`), and return `ret`.
/// [`dispatch_call`] calls the right one.
pub(crate) fn dispatched_per_batch(
    model: &Ident,
    generics: &TokenStream,
    params: &[(Ident, TokenStream)],
    ret: &TokenStream,
    base_body: &TokenStream,
    avx2_body: &TokenStream,
) -> TokenStream {
    let decls: Vec<TokenStream> = params.iter().map(|(n, ty)| quote!(#n: #ty)).collect();
    quote! {
        /// The baseline copy.
        #[cfg_attr(target_arch = "x86_64", inline(never))]
        fn base<T: ::staticnet::Float, #generics>(model: &#model<T>, #(#decls),*) -> #ret {
            #base_body
        }
        /// The same compiled for AVX2 and FMA, with the kernels' AVX2
        /// instantiation.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<T: ::staticnet::Float, #generics>(model: &#model<T>, #(#decls),*) -> #ret {
            #avx2_body
        }
    }
}

/// The call of [`dispatched_per_batch`]'s `avx2` copy where
/// `staticnet::dispatch::avx2()` (asked once per call: per batch), else of
/// `base`, with generic arguments `args` and arguments `names` (`self`
/// first).
pub(crate) fn dispatch_call(args: &TokenStream, names: &[Ident]) -> TokenStream {
    quote! {
        match () {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `avx2()` returned true only because the CPU running
            // this has AVX2 and FMA (`is_x86_feature_detected!`), the
            // features `avx2` is compiled for.
            () if ::staticnet::dispatch::avx2() => unsafe { avx2::<T, #args>(self, #(#names),*) },
            () => base::<T, #args>(self, #(#names),*),
        }
    }
}

/// An unsuffixed integer literal.
pub(crate) fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// The local variable generated code binds a node's output to: the
/// layer's name, unless that is one of `taken` (the function's own
/// parameters), then `__<name>` (no layer name begins with `__`, so this
/// never meets another layer's).
pub(crate) fn local(name: &Ident, taken: &[&str]) -> Ident {
    if taken.iter().any(|t| name == t) {
        quote::format_ident!("__{}", name)
    } else {
        name.clone()
    }
}

/// A layer's location with the macro's own hygiene: generated code can
/// point errors at the layer while its names (`self`, `T`, locals) still
/// resolve as the macro wrote them, even when the DSL came through a
/// `macro_rules!`.
pub(crate) fn layer_span(decl: &crate::ast::LayerDecl) -> proc_macro2::Span {
    decl.kind.span().resolved_at(proc_macro2::Span::call_site())
}

/// `callee(args)` with the callee (the kernel path and its sizes) located at
/// the layer, so a type error in it points there.
pub(crate) fn call(span: proc_macro2::Span, callee: TokenStream, args: TokenStream) -> TokenStream {
    let callee = respan(callee, span);
    quote!(#callee(#args))
}

fn respan(ts: TokenStream, span: proc_macro2::Span) -> TokenStream {
    ts.into_iter()
        .map(|tt| match tt {
            proc_macro2::TokenTree::Group(g) => {
                let mut ng = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                ng.set_span(span);
                proc_macro2::TokenTree::Group(ng)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}
