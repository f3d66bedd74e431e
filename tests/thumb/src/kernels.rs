//! The paths of the Cortex-M hand-written kernels (runtime/src/kernels/thumb.rs)
//! that the textbook CNN does not take, against PyTorch
//! (tools/make_fixtures_thumb_kernels.py; tests/thumb_kernels.rs checks the
//! same fixture on the host, through the portable kernels): a Conv2d with
//! two input channels and no activation (the kernel's identity epilogue),
//! a Conv2d with `tanh` over 8 channels (the epilogue applied to each
//! finished row by the portable code), and a Dense with 16 outputs and
//! `tanh` (one 16-row block).

use crate::common::{check, values};
use core::hint::black_box;
use staticnet::{model, Model};

model! {
    /// The network of `thumb_kernels.safetensors`.
    #[weights("../fixtures/thumb_kernels.safetensors", ignore = ["input", "output"])]
    pub struct ThumbKernels {
        input: [2, 10, 14],
        conv1: Conv2d(8, kernel = 3),
        pool1: MaxPool2d(2),
        conv2: Conv2d(4, kernel = 3, activation = tanh),
        flat:  Flatten,
        fc:    Dense(16, activation = tanh),
    }
}

static FIXTURE: &[u8] = include_bytes!("../../fixtures/thumb_kernels.safetensors");

/// Runs the network on the fixture's input and checks its 16 outputs.
pub fn run() {
    let mut x = [[[0f32; 14]; 10]; 2];
    let mut xs = values(FIXTURE, "", "input");
    for v in x.iter_mut().flatten().flatten() {
        *v = xs.next().unwrap_or(f64::NAN) as f32;
    }
    let y = ThumbKernels::WEIGHTS.forward(black_box(&x));
    check(
        ("", "kernels forward (identity, tanh epilogues; Dense 16)"),
        y.iter().map(|&v| f64::from(v)),
        values(FIXTURE, "", "output"),
    );
}
