//! Puts the board's memory map where cortex-m-rt's link.x looks for
//! `memory.x`. It is kept as `mps2.x` in the crate: GNU ld would find a
//! `memory.x` in the crate root before this copy.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("mps2.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=mps2.x");
    println!("cargo:rerun-if-changed=build.rs");
}
