//! The macro on `proc_macro2` tokens: it must return tokens (code or
//! `compile_error!`) for any input, never panic.

use crate::expand::model;
use proc_macro2::{Delimiter, TokenStream, TokenTree};
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

/// Valid models that between them use every layer and option form; the
/// mutation tests start from these.
const VALID: &[&str] = &[
    SEED_CNN,
    "pub struct Forecaster {
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        g: Gru(units = 16, return_sequences = true),
        per_step: Dense(4, activation = tanh),
        r: SimpleRnn(8, activation = relu),
        head: Dense(1),
    }",
    "struct Everything {
        input: [2, 9, 7],
        c1: Conv2d(3, kernel = (3, 2), stride = (2, 1), padding = same, activation = tanh),
        p1: AvgPool2d((2, 1), stride = 1),
        c2: Conv2d(filters = 2, kernel = 2, stride = 2, padding = (1, 0), activation = softmax),
        c3: Conv2d(2, kernel = 1, padding = 1),
        p2: MaxPool2d(size = 2),
        s: Sigmoid,
        f: Flatten,
        d: Dense(units = 6, activation = softmax),
        r: Relu,
        t: Tanh,
        m: Softmax,
    }",
];

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
    fn mutated_valid_models_give_code_or_an_error(
        which in 0..VALID.len(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut tokens = flat_tokens(VALID[which]);
        for m in &mutations {
            mutate(&mut tokens, m);
        }
        let src = tokens.join(" ");
        // Mutations that unbalance a delimiter cannot reach a macro.
        if let Ok(ts) = TokenStream::from_str(&src) {
            assert_code_or_error(&src, model(ts))?;
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

/// The macro's output is always either items (the model) or
/// `compile_error!`s with a stub, and both parse as a Rust file.
fn assert_code_or_error(src: &str, out: TokenStream) -> Result<(), TestCaseError> {
    let text = out.to_string();
    prop_assert!(
        text.contains("compile_error") || text.contains("impl"),
        "neither code nor an error for `{}`: {}",
        src,
        text
    );
    prop_assert!(
        syn::parse2::<syn::File>(out).is_ok(),
        "output does not parse as items for `{}`: {}",
        src,
        text
    );
    Ok(())
}

/// A valid model as a flat list of tokens, delimiters as their own
/// entries, so mutations reach inside argument lists and tuples.
fn flat_tokens(src: &str) -> Vec<String> {
    fn walk(ts: TokenStream, out: &mut Vec<String>) {
        for tt in ts {
            match tt {
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::None => ("", ""),
                    };
                    out.push(open.to_string());
                    walk(g.stream(), out);
                    out.push(close.to_string());
                }
                other => out.push(other.to_string()),
            }
        }
    }
    let mut out = Vec::new();
    walk(
        TokenStream::from_str(src).expect("valid models tokenize"),
        &mut out,
    );
    out
}

/// Integers that probe every bound: zero, one, the size cap and just past
/// it, the tensor cap, the 32-bit and 64-bit limits, and beyond `u128`.
const NASTY_INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "1048576",
    "1048577",
    "67108864",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "3usize",
    "2.0",
    "-1",
];

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Replace the token at the index with an integer (from `NASTY_INTS`
    /// or any `u64`).
    Int(usize, Result<usize, u64>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<usize>(), 0..NASTY_INTS.len()).prop_map(|(a, i)| Mutation::Int(a, Ok(i))),
        (any::<usize>(), any::<u64>()).prop_map(|(a, n)| Mutation::Int(a, Err(n))),
    ]
}

fn mutate(tokens: &mut Vec<String>, m: &Mutation) {
    let len = tokens.len();
    if len == 0 {
        return;
    }
    match *m {
        Mutation::Delete(i) => {
            tokens.remove(i % len);
        }
        Mutation::Duplicate(i) => {
            let t = tokens[i % len].clone();
            tokens.insert(i % len, t);
        }
        Mutation::Swap(a, b) => tokens.swap(a % len, b % len),
        Mutation::Int(i, Ok(k)) => tokens[i % len] = NASTY_INTS[k].to_string(),
        Mutation::Int(i, Err(n)) => tokens[i % len] = n.to_string(),
    }
}

#[test]
fn every_integer_replaced_by_a_boundary_value_is_code_or_an_error() {
    for src in VALID {
        let tokens = flat_tokens(src);
        for (i, t) in tokens.iter().enumerate() {
            if !t.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            for nasty in NASTY_INTS {
                let mut m = tokens.clone();
                m[i] = nasty.to_string();
                let src = m.join(" ");
                let ts = TokenStream::from_str(&src).expect("still balanced");
                assert_code_or_error(&src, model(ts)).unwrap();
            }
        }
    }
}

#[test]
fn boundary_sizes_are_accepted_or_rejected_as_documented() {
    // 2^20 units is the largest size; 2^20 + 1 is rejected as a size.
    let at_cap = expand("struct M { input: [1], d: Dense(1048576) }");
    assert!(!at_cap.contains("compile_error"), "{at_cap}");
    let past = expand("struct M { input: [1], d: Dense(1048577) }");
    assert!(past.contains("at most 1048576"), "{past}");
    let huge = expand("struct M { input: [1], d: Dense(340282366920938463463374607431768211456) }");
    assert!(huge.contains("more than staticnet accepts"), "{huge}");
    // Many layers each under the per-layer cap must not overflow the total.
    let layers: String = (0..80).map(|i| format!("d{i}: Dense(8000),")).collect();
    let many = expand(&format!("struct M {{ input: [8000], {layers} }}"));
    assert!(many.contains("the model has"), "{many}");
}

/// Every message names the layer it is about, so a user with twenty
/// layers knows which one to fix.
#[test]
fn errors_name_their_layer() {
    let cases = [
        "fc1: Dense(0)",
        "fc1: Dense(10, activaton = relu)",
        "fc1: Dense(10, activation = foo)",
        "fc1: Dense(10, activation = \"relu\")",
        "fc1: Dense(activation = relu, 10)",
        "fc1: Dense(10, 20)",
        "fc1: Dense(10, activation = relu, activation = tanh)",
        "fc1: Dense",
        "fc1: Dence(10)",
        "fc1: LSTM(10)",
        "fc1: Lstm(10, return_sequences = 1)",
        "fc1: Conv2d(4)",
        "fc1: Conv2d(4, kernel = 0)",
        "fc1: Conv2d(4, kernel = 3, padding = 3.5)",
        "fc1: Conv2d(4, kernel = 3, padding = sam)",
        "fc1: MaxPool2d(2, stride = 0)",
        "fc1: Flatten(1)",
        "fc1: SimpleRnn(4, activation = softmax)",
        "fc1: Dense(10usize)",
    ];
    for layer in cases {
        let out = expand(&format!("struct M {{ input: [4], {layer}, }}"));
        assert!(out.contains("compile_error"), "{layer}: {out}");
        for message in out.split("compile_error").skip(1) {
            assert!(message.contains("`fc1"), "{layer}: {message}");
        }
    }
}
