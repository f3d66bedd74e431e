//! The golden-expansion check: every `model! { .. }` written in the
//! project's tests, examples and benchmarks is expanded and compared,
//! pretty-printed, with a committed file in `macros/golden/`.
//!
//! It makes a change of the macro's code generation visible as a diff a
//! person reads (as trybuild's `.stderr` files do for diagnostics): a
//! refactor that should not change the generated code must leave every
//! file unchanged. After an intended change, regenerate with
//! `STATICNET_GOLDEN=overwrite cargo test -p staticnet-macros golden` and
//! read the diff before committing it.
//!
//! `#[weights = ..]` is removed before expanding: its constants hold one
//! literal per weight and are checked by the tests that load them.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The source files whose models are checked, relative to the workspace.
const SOURCES: &[&str] = &[
    "tests/common/models.rs",
    "examples/seed_cnn.rs",
    "examples/digits.rs",
    "examples/forecast.rs",
    "examples/from_pytorch.rs",
    "examples/firmware/src/lib.rs",
    "benches/forward.rs",
    "benches/step.rs",
    "benches/train.rs",
    "benches/bnfuse.rs",
    "tests/bnfuse.rs",
];

/// Every `model! { .. }` body in `ts`, searched at any depth; bodies that
/// use `macro_rules!` metavariables (`$x`) are skipped.
fn model_bodies(ts: TokenStream, out: &mut Vec<TokenStream>) {
    let tokens: Vec<TokenTree> = ts.into_iter().collect();
    for (i, tt) in tokens.iter().enumerate() {
        if let TokenTree::Group(g) = tt {
            let is_model = i >= 2
                && matches!(&tokens[i - 2], TokenTree::Ident(id) if id == "model")
                && matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == '!');
            if is_model && g.delimiter() == Delimiter::Brace {
                if !g.stream().to_string().contains('$') {
                    out.push(g.stream());
                }
            } else {
                model_bodies(g.stream(), out);
            }
        }
    }
}

/// Removes a leading `#[weights ..]` attribute's tokens from a model body.
fn without_weights(body: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = body.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if let (TokenTree::Punct(p), Some(TokenTree::Group(g))) = (&tokens[i], tokens.get(i + 1)) {
            let is_weights = p.as_char() == '#'
                && g.delimiter() == Delimiter::Bracket
                && matches!(g.stream().into_iter().next(), Some(TokenTree::Ident(id)) if id == "weights");
            if is_weights {
                i += 2;
                continue;
            }
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out.into_iter().collect()
}

/// The model's struct name: the identifier after `struct`.
fn model_name(body: &TokenStream) -> String {
    let mut after_struct = false;
    for tt in body.clone() {
        match tt {
            TokenTree::Ident(id) if after_struct => return id.to_string(),
            TokenTree::Ident(id) if id == "struct" => after_struct = true,
            _ => {}
        }
    }
    "Unnamed".to_string()
}

/// The expansion as readable Rust (or, if it does not parse as items, its
/// tokens, so the check still compares something exact).
fn pretty(ts: TokenStream) -> String {
    match syn::parse2::<syn::File>(ts.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => ts.to_string(),
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn golden_expansions() {
    let root = workspace();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let overwrite = std::env::var("STATICNET_GOLDEN").is_ok_and(|v| v == "overwrite");
    let mut failures = Vec::new();
    let mut count = 0;
    for source in SOURCES {
        let text = std::fs::read_to_string(root.join(source))
            .unwrap_or_else(|e| panic!("cannot read {source}: {e}"));
        let ts = TokenStream::from_str(&text)
            .unwrap_or_else(|e| panic!("{source} does not tokenize: {e}"));
        let mut bodies = Vec::new();
        model_bodies(ts, &mut bodies);
        assert!(!bodies.is_empty(), "{source} has no model! to check");
        let mut expected = String::new();
        for body in bodies {
            let name = model_name(&body);
            let out = crate::expand::model(without_weights(body));
            expected.push_str(&format!("// ---- {name} ----\n{}\n", pretty(out)));
            count += 1;
        }
        let file = golden.join(format!(
            "{}.rs",
            source.replace('/', "__").trim_end_matches(".rs")
        ));
        if overwrite {
            std::fs::create_dir_all(&golden).expect("create macros/golden");
            std::fs::write(&file, &expected).expect("write golden file");
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(committed) if committed == expected => {}
            Ok(committed) => {
                let line = committed
                    .lines()
                    .zip(expected.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(committed.lines().count().min(expected.lines().count()));
                failures.push(format!(
                    "{}: differs from line {} (expected `{}`, generated `{}`)",
                    file.display(),
                    line + 1,
                    committed.lines().nth(line).unwrap_or("<end>"),
                    expected.lines().nth(line).unwrap_or("<end>")
                ));
            }
            Err(_) => failures.push(format!("{} is missing", file.display())),
        }
    }
    assert!(count > 80, "only {count} models found");
    assert!(
        failures.is_empty(),
        "the generated code changed (regenerate with STATICNET_GOLDEN=overwrite and review the diff):\n{}",
        failures.join("\n")
    );
}
