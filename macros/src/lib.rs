//! The `model!` macro of [staticnet](https://docs.rs/staticnet).
//!
//! The pipeline is parse → check shapes → expand, one module each:
//! `ast`/`parse` read the DSL keeping every token's span, `layers`
//! resolves each layer's arguments, `shape` infers every layer's output
//! shape, `check` applies the cross-layer rules, and `expand` writes the
//! code. Errors are collected in a `ctxt::Ctxt` so the user sees all of
//! them at once; the macro never panics.

mod ast;
mod check;
mod ctxt;
mod expand;
mod layers;
mod parse;
mod shape;
mod symbol;
mod weights;

use proc_macro::TokenStream;

/// Compiles a layer list into a statically shaped network.
///
/// See the `staticnet` crate documentation for the DSL and the generated
/// API.
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    expand::model(input.into()).into()
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
