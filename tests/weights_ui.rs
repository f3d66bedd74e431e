//! The compile-fail cases of `#[weights = ..]` (tests/ui/weights-*.rs).
//!
//! `tests/ui.rs` runs every `tests/ui/*.rs`; this driver runs only the
//! weights cases, so they also run where that file does not exist yet, and
//! skips them when it does (no double work).

#[test]
fn weights_ui() {
    if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/ui.rs")
        .exists()
    {
        return;
    }
    trybuild::TestCases::new().compile_fail("tests/ui/weights-*.rs");
}
