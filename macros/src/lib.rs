//! The `model!` macro of [staticnet](https://docs.rs/staticnet).
//!
//! The pipeline is parse → plan → check → expand: `ast`/`parse` read the
//! DSL keeping every token's span; `plan` builds the graph of nodes, each
//! with its inputs, its resolved layer and its shapes; `check` applies the
//! cross-layer rules; `expand` writes the code. Everything the macro knows
//! about one layer kind is in one file of `layers/` (its options, shape
//! rule, tensors and code for every mode); `plan` and `expand` are
//! layer-agnostic drivers. Errors are collected in a `ctxt::Ctxt` so the
//! user sees all of them at once; the macro never panics.

mod ast;
mod check;
mod ctxt;
mod expand;
mod layers;
mod parse;
mod plan;
mod shape;
mod symbol;
mod weights;

use proc_macro::TokenStream;

/// Compiles a layer list into a statically shaped network.
///
/// ```text
/// model! {
///     pub struct SeedCnn {
///         input: [1, 10, 10],                       // [channels, height, width]
///         conv1: Conv2d(32, kernel = 3, activation = relu),
///         pool1: MaxPool2d(2),
///         flat:  Flatten,
///         fc1:   Dense(64, activation = relu),
///         out:   Dense(1, activation = sigmoid),
///     }
/// }
/// ```
///
/// With `#[int8 = "model_int8.safetensors"]` (a full-int8 TensorFlow Lite
/// model converted by `tools/tflite_to_safetensors.py`) the same definition
/// also gives `NameInt8`, the model on TFLite's int8 kernels, its file
/// checked against the layers at compile time and compiled in:
///
/// ```text
/// model! {
///     #[int8 = "kws_int8.safetensors"]
///     pub struct Kws {
///         input: [1, 49, 10],
///         conv2d: Conv2d(64, kernel = (10, 4), stride = (2, 2), padding = same, activation = relu),
///         ..
///         dense: Dense(12),
///         softmax: Softmax,
///     }
/// }
/// static NET: KwsInt8 = KwsInt8::WEIGHTS;
/// let y: [i8; 12] = NET.forward(&KwsInt8::quantize_input(&mfcc)); // TFLite Micro's, bit for bit
/// ```
///
/// The reference — every layer kind with its options, defaults, shape
/// rule and PyTorch tensors, the activations, the graph syntax,
/// `#[weights]`, `#[int8]`, what is generated and every compile error — is the
/// `staticnet::dsl` module of the `staticnet` crate
/// (<https://docs.rs/staticnet/latest/staticnet/dsl/>), where its examples
/// run as doctests (a proc-macro crate's doctests cannot use its own
/// macro). Use the macro through `staticnet::model`: the code it
/// generates names `::staticnet::..`.
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    expand::model(input.into()).into()
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
