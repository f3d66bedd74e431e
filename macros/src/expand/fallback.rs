//! What is emitted beside the errors: the struct with the name the user
//! chose, its constructors and implementations of `Model` and `Train`
//! whose bodies never run (the crate does not compile), so the rest of the
//! crate sees the macro's errors, not a cascade of "cannot find type", "no
//! function named `init`" or "no method named `forward`" errors
//! (thiserror's `fallback.rs` does the same for its traits).
//!
//! This mirrors the traits' required items: when `Model` or `Train` gains
//! one, add it here too (the `error-then-use` ui case fails until then).

use super::tensor_type;
use crate::ast::ModelDef;
use crate::plan;
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::quote;

pub fn expand(def: &ModelDef, err: syn::Error) -> TokenStream {
    let errors = err.to_compile_error();
    let attrs = def.attrs.iter().filter(|a| a.path().is_ident("doc"));
    let vis = &def.vis;
    let name = &def.name;
    let name_str = name.to_string();
    // Shapes that could not be worked out are stood in for by a vector of
    // one: code written against the model still type-checks, and code
    // that names a different tensor type gets one clear mismatch.
    let (input, output) = plan::best_effort(def);
    let input_ty = tensor_type(input.unwrap_or(Shape::Vector(1)));
    let output_ty = tensor_type(output.unwrap_or(Shape::Vector(1)));
    quote! {
        #errors
        #(#attrs)*
        #vis struct #name<T = f32>(::core::marker::PhantomData<T>);

        #[allow(dead_code)]
        impl<T: ::staticnet::Float> #name<T> {
            #vis fn zeros() -> Self {
                ::core::unreachable!()
            }
            #vis fn init(_seed: u64) -> Self {
                ::core::unreachable!()
            }
        }

        impl<T: ::staticnet::Float> ::staticnet::Train<T> for #name<T> {
            type Tape = ();
            const OUTPUT_ACTIVATION: ::staticnet::OutputActivation = ::staticnet::OutputActivation::Linear;
            fn new_tape() -> Self::Tape {}
            fn forward_train(&self, _: &Self::Input, _: &mut Self::Tape) -> Self::Output {
                ::core::unreachable!()
            }
            fn logits(_: &Self::Tape) -> Self::Output {
                ::core::unreachable!()
            }
            fn backward(&self, _: &Self::Tape, _: &Self::Output, _: &mut Self) -> Self::Input {
                ::core::unreachable!()
            }
            fn backward_logits(&self, _: &Self::Tape, _: &Self::Output, _: &mut Self) -> Self::Input {
                ::core::unreachable!()
            }
        }

        impl<T: ::staticnet::Float> ::staticnet::Model<T> for #name<T> {
            type Input = #input_ty;
            type Output = #output_ty;
            const NAME: &'static str = #name_str;
            const INPUT_SHAPE: &'static [usize] = &[];
            const LAYERS: &'static [::staticnet::LayerInfo] = &[];
            const PARAMS: usize = 0;
            const ACTIVATION_VALUES: usize = 0;
            const TENSORS: usize = 0;
            fn zeros() -> Self {
                ::core::unreachable!()
            }
            fn tensor(&self, _: usize) -> &[T] {
                &[]
            }
            fn tensor_mut(&mut self, _: usize) -> &mut [T] {
                &mut []
            }
            fn forward(&self, _: &Self::Input) -> Self::Output {
                ::core::unreachable!()
            }
            fn visit_params<'a>(&'a self, _: &mut dyn ::core::ops::FnMut(::staticnet::Param<'a, T>)) {}
            fn visit_params_mut<'a>(&'a mut self, _: &mut dyn ::core::ops::FnMut(::staticnet::ParamMut<'a, T>)) {}
            fn init_in(&mut self, _: u64) {}
        }
    }
}
