//! staticnet compiles a declarative neural-network layer list into plain,
//! statically shaped Rust at compile time.
//!
//! ```
//! use staticnet::{model, Model};
//!
//! model! {
//!     /// The textbook's Keras CNN.
//!     pub struct SeedCnn {
//!         input: [1, 10, 10],
//!         conv1: Conv2d(32, kernel = 3, activation = relu),
//!         pool1: MaxPool2d(2),
//!         flat:  Flatten,
//!         fc1:   Dense(64, activation = relu),
//!         out:   Dense(1, activation = sigmoid),
//!     }
//! }
//!
//! let net = SeedCnn::<f32>::init(42);
//! let x = [[[0.5f32; 10]; 10]; 1];
//! let y = net.forward(&x);
//! assert!(y[0] > 0.0 && y[0] < 1.0);
//! assert_eq!(SeedCnn::<f32>::PARAMS, 33_217);
//! ```
//!
//! The DSL — every layer, option, default, shape rule, PyTorch tensor
//! name and compile error, the graph syntax, `#[weights]` and the
//! generated API — is documented, with tested examples, in [`dsl`].
//!
//! # Debug builds
//!
//! The code `model!` generates (and the generic kernels it calls) is
//! compiled into your crate and runs 100–235× slower at opt-level 0, the
//! default of `cargo build` and `cargo run`. Keep debug info and
//! assertions but optimise:
//!
//! ```toml
//! [profile.dev]
//! opt-level = 1
//! ```
//!
//! (`[profile.dev.package."*"]` optimises only your dependencies, not the
//! crate the model is generated in.)
//!
//! # Run-time CPU dispatch
//!
//! A default `cargo build --release` targets x86-64's SSE2 baseline. With
//! the `std` feature (the default) on x86-64, every generated `forward` and
//! streaming `step` is compiled a second time for AVX2 + FMA and picks that
//! copy at run time when the CPU has them ([`dispatch`]). The convolutions,
//! pooling, BatchNorm and the per-sample `Dense` give bit-identical results
//! in both copies; the recurrent cells and the batched `Dense` fuse their
//! multiply-adds in the AVX2 copy, so there the results differ in the last
//! bits (within 1e-5 of the largest value in `f32`, `tests/dispatch.rs`).
//! On a CPU with AVX-512, the AVX2 copy runs its recurrent kernels in
//! functions compiled for AVX-512 (the same results bit for bit; [`dispatch::avx512`], `STATICNET_NO_AVX512=1` to keep them on
//! AVX2). `-C target-cpu=native` still compiles one copy for
//! the build machine. `STATICNET_NO_DISPATCH=1` in the environment (or
//! [`dispatch::set_enabled`]`(false)`) keeps the baseline copy. Firmware
//! (`no_std`) builds have one copy, chosen at compile time.
//!
//! # Large models
//!
//! A model is a plain value: `init`, `zeros` and `Weights::load` return it
//! on the stack and need [`Model::STACK_BYTES`] of it (more in a debug
//! build), against 2 MiB for a spawned thread, usually 8 MiB for `main`.
//! When [`Model::TOO_BIG_FOR_STACK`] (past 1 MiB; the summary says so, and
//! `model!` marks such a model's `init` and `zeros` deprecated so rustc
//! warns at the call) use [`Model::boxed_init`], [`Model::boxed_zeros`],
//! [`Weights::boxed_load`] and the optimizers' `boxed_zeroed`, which
//! allocate on the heap directly and never build the value on the stack.
//! [`dsl`, "Large models and the stack"](dsl#large-models-and-the-stack)
//! has the details.
#![cfg_attr(not(feature = "std"), no_std)]

pub use staticnet_macros::model;

/// The DSL reference.
pub mod dsl {
    #![doc = include_str!("dsl.md")]
}
pub use staticnet_runtime::*;

/// Items the generated code names; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use staticnet_runtime::activation;
    pub use staticnet_runtime::embedded;
    pub use staticnet_runtime::kernels;
    pub use staticnet_runtime::nalgebra;
}
