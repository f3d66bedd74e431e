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
//! See the README for the DSL, the generated API and the PyTorch naming.
#![cfg_attr(not(feature = "std"), no_std)]

pub use staticnet_macros::model;
pub use staticnet_runtime::*;

/// Items the generated code names; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use staticnet_runtime::activation;
    pub use staticnet_runtime::kernels;
    pub use staticnet_runtime::nalgebra;
}
