//! A `#![no_std]`, heap-free static library that runs staticnet models,
//! callable from C.
//!
//! Building this crate is the proof: it links no `std` (a second
//! `panic_impl` lang item would be a build error next to the
//! `#[panic_handler]` below) and `.ci/run` checks with `nm` that the static
//! library references no allocator.
//!
//! The caller owns each model's storage: `staticnet_*_size()` bytes, aligned
//! to `staticnet_*_align()`, zero-filled (a C `static` is), initialised in
//! place by `staticnet_*_init`. Nothing is built on the heap and no large
//! model is built on the stack.
//!
//! Why not a Rust `static`: the generated struct has no `const`
//! constructor (`zeros()` and `init()` are not `const fn`, and `init_in`
//! needs `&mut`), so a `static` model could only be written by spelling out
//! every field with nalgebra's `const fn SMatrix::from_array_storage`, and a
//! mutable one would need `static mut` (`unsafe`) or a lock. Compiled-in
//! weights (issue 5) need the macro to generate such a `const` constructor.
//!
//! Every pointer crosses the boundary as an `Option<&T>` / `Option<&mut T>`
//! of a fixed-size array or model, which the C ABI passes as a plain
//! (nullable) pointer: a null pointer arrives as `None` and is rejected with
//! a negative return value, and the lengths are in the types, so the Rust
//! side needs no `unsafe`. The C caller must pass pointers to memory of the
//! documented size; that contract is the C side's.
//!
//! ```c
//! size_t staticnet_cnn_size(void);
//! size_t staticnet_cnn_align(void);
//! int32_t staticnet_cnn_init(void *net, uint64_t seed);
//! int32_t staticnet_cnn_forward(const void *net, const float input[100], float out[1]);
//! size_t staticnet_lstm_size(void);
//! size_t staticnet_lstm_align(void);
//! int32_t staticnet_lstm_init(void *net, uint64_t seed);
//! int32_t staticnet_lstm_forward(const void *net, const float input[256], float out[1]);
//! ```
#![no_std]
#![deny(unsafe_code)]

use staticnet::{model, Model, Tensor};

model! {
    /// The textbook's Keras CNN (W1).
    pub struct SeedCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(1, activation = sigmoid),
    }
}

model! {
    /// One LSTM layer with a linear head on its last state (W2).
    pub struct LstmNet {
        input: [32, 8],
        lstm1: Lstm(32),
        head:  Dense(1),
    }
}

/// Returned for success.
pub const OK: i32 = 0;
/// Returned when a pointer is null.
pub const ERR_NULL: i32 = -1;

/// Values of one CNN input, `[1, 10, 10]` in PyTorch (row-major) order.
pub const CNN_INPUT_LEN: usize = <<SeedCnn as Model<f32>>::Input as Tensor<f32>>::LEN;
/// Values of one LSTM input, `[32, 8]` (step-major, as PyTorch's `batch_first` rows).
pub const LSTM_INPUT_LEN: usize = <<LstmNet as Model<f32>>::Input as Tensor<f32>>::LEN;

/// Runs `net` on `input` (PyTorch flat order) and writes the output to `out`.
fn run<M: Model<f32>, const I: usize, const O: usize>(
    net: Option<&M>,
    input: Option<&[f32; I]>,
    out: Option<&mut [f32; O]>,
) -> i32 {
    let (Some(net), Some(input), Some(out)) = (net, input, out) else {
        return ERR_NULL;
    };
    const {
        assert!(I == <M::Input as Tensor<f32>>::LEN);
        assert!(O == <M::Output as Tensor<f32>>::LEN);
    };
    let mut x = M::Input::zeros();
    x.as_flat_mut().copy_from_slice(input);
    out.copy_from_slice(net.forward(&x).as_flat());
    OK
}

pub use ffi::*;

// SAFETY (of `#[no_mangle]`, the only `unsafe` thing here, which rustc counts
// under `unsafe_code`): exported names must not clash with another symbol in
// the final link; every one starts with `staticnet_` and is defined once.
// No `unsafe` block is needed: pointers arrive as `Option<&T>`.
#[allow(unsafe_code)]
mod ffi {
    use super::*;

    /// Bytes of storage a CNN needs (its parameters, 131 KB in f32).
    #[no_mangle]
    pub extern "C" fn staticnet_cnn_size() -> usize {
        core::mem::size_of::<SeedCnn<f32>>()
    }

    /// Alignment the CNN's storage needs.
    #[no_mangle]
    pub extern "C" fn staticnet_cnn_align() -> usize {
        core::mem::align_of::<SeedCnn<f32>>()
    }

    /// Initialises the CNN in `net` (zero-filled storage of
    /// `staticnet_cnn_size()` bytes, or a model initialised before) in place
    /// from `seed` with Keras' initializers. Returns 0, or -1 if `net` is null.
    #[no_mangle]
    pub extern "C" fn staticnet_cnn_init(net: Option<&mut SeedCnn<f32>>, seed: u64) -> i32 {
        match net {
            Some(net) => {
                net.init_in(seed);
                OK
            }
            None => ERR_NULL,
        }
    }

    /// Runs the CNN on one `[1, 10, 10]` image and writes its sigmoid output to
    /// `out[0]`. Returns 0, or -1 if a pointer is null.
    #[no_mangle]
    pub extern "C" fn staticnet_cnn_forward(
        net: Option<&SeedCnn<f32>>,
        input: Option<&[f32; CNN_INPUT_LEN]>,
        out: Option<&mut [f32; 1]>,
    ) -> i32 {
        run(net, input, out)
    }

    /// Bytes of storage an LSTM model needs.
    #[no_mangle]
    pub extern "C" fn staticnet_lstm_size() -> usize {
        core::mem::size_of::<LstmNet<f32>>()
    }

    /// Alignment the LSTM model's storage needs.
    #[no_mangle]
    pub extern "C" fn staticnet_lstm_align() -> usize {
        core::mem::align_of::<LstmNet<f32>>()
    }

    /// Initialises the LSTM model in `net` in place; see [`staticnet_cnn_init`].
    #[no_mangle]
    pub extern "C" fn staticnet_lstm_init(net: Option<&mut LstmNet<f32>>, seed: u64) -> i32 {
        match net {
            Some(net) => {
                net.init_in(seed);
                OK
            }
            None => ERR_NULL,
        }
    }

    /// Runs the LSTM model on one `[32, 8]` sequence (step-major) and writes its
    /// output to `out[0]`. Returns 0, or -1 if a pointer is null.
    #[no_mangle]
    pub extern "C" fn staticnet_lstm_forward(
        net: Option<&LstmNet<f32>>,
        input: Option<&[f32; LSTM_INPUT_LEN]>,
        out: Option<&mut [f32; 1]>,
    ) -> i32 {
        run(net, input, out)
    }
}

/// Nothing in forward panics on valid input; if anything does, stop here
/// (the profile's `panic = "abort"` means no unwinding machinery is linked).
#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
