//! Compile-fail cases, one per diagnostic of `model!`, and compile-and-run
//! cases covering every layer and option. `TRYBUILD=overwrite cargo test
//! --test ui` regenerates the `.stderr` files; read each before committing.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
