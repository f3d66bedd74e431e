//! The macro on `proc_macro2` tokens: it must return tokens (code or
//! `compile_error!`) for any input, never panic.

use crate::expand::model;
use proc_macro2::TokenStream;
use proptest::prelude::*;
use std::str::FromStr;

const SEED_CNN: &str = "
    /// The textbook's Keras CNN.
    pub struct SeedCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(1, activation = sigmoid),
    }";

fn expand(src: &str) -> String {
    model(TokenStream::from_str(src).expect("test source tokenizes")).to_string()
}

#[test]
fn valid_model_expands_without_errors() {
    let out = expand(SEED_CNN);
    assert!(!out.contains("compile_error"), "{out}");
    assert!(out.contains("const PARAMS : usize = 33217"), "{out}");
}

#[test]
fn every_truncation_of_a_valid_model_is_an_error_not_a_panic() {
    let tokens: Vec<_> = TokenStream::from_str(SEED_CNN)
        .unwrap()
        .into_iter()
        .collect();
    for n in 0..tokens.len() {
        let ts: TokenStream = tokens[..n].iter().cloned().collect();
        let out = model(ts).to_string();
        assert!(
            out.contains("compile_error"),
            "prefix of {n} tokens gave no error: {out}"
        );
    }
}

/// Pieces that look like the DSL, so random streams reach deep into the
/// parser and the shape checks rather than failing on the first token.
const PIECES: &[&str] = &[
    "struct",
    "pub",
    "M",
    "{",
    "}",
    "input",
    ":",
    "[",
    "]",
    "(",
    ")",
    ",",
    "=",
    "0",
    "1",
    "2",
    "3",
    "7",
    "32",
    "100000000000000000000",
    "2.5",
    "true",
    "false",
    "Dense",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "Flatten",
    "Lstm",
    "Gru",
    "SimpleRnn",
    "Relu",
    "Softmax",
    "Conv2D",
    "kernel",
    "stride",
    "padding",
    "same",
    "valid",
    "activation",
    "relu",
    "softmax",
    "return_sequences",
    "units",
    "fc",
    "x",
    "#",
    "-",
    "\"relu\"",
    "r#type",
    "__x",
    "<",
    ">",
];

fn stream(picks: &[usize]) -> String {
    picks
        .iter()
        .map(|&i| PIECES[i % PIECES.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_token_streams_never_panic(picks in proptest::collection::vec(0usize..1000, 0..40)) {
        let src = stream(&picks);
        if let Ok(ts) = TokenStream::from_str(&src) {
            let _ = model(ts);
        }
    }

    #[test]
    fn random_layers_in_a_valid_frame_never_panic(picks in proptest::collection::vec(0usize..1000, 0..24)) {
        let src = format!("struct M {{ input: [3, 8, 8], a: Conv2d(4, kernel = 3), b: {} }}", stream(&picks));
        if let Ok(ts) = TokenStream::from_str(&src) {
            let out = model(ts).to_string();
            // Either real code or an error, never nothing.
            prop_assert!(out.contains("compile_error") || out.contains("impl"));
        }
    }
}
