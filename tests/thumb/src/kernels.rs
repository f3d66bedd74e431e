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

/// PyTorch's max pooling of one 2 × 2 window: in scan order, a value
/// replaces the maximum if it is greater or NaN.
fn pytorch_max(window: [f32; 4]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for v in window {
        if v > m || v.is_nan() {
            m = v;
        }
    }
    m
}

/// `MaxPool2d(2)` on 2 channels of 4 × 16 (two row pairs per channel, 8
/// outputs per row), compared bit for bit with PyTorch's rule computed
/// here, on three inputs: finite values (the Arm kernel's path,
/// `max_pool2_f32`), the same with ±infinity in some windows, and with
/// NaNs of different payloads and signs in others (the kernel tells
/// those and the portable loop redoes the pool). Values are distinct but
/// for a deliberate run of equal values, and each window has at most one
/// NaN, so the scan order cannot matter.
pub fn max_pool_nan() {
    const SPECIAL: [(usize, usize, usize, u32); 6] = [
        (0, 1, 5, 0x7f80_0000),
        (0, 2, 2, 0xff80_0000),
        (0, 0, 0, 0x7fc0_0000),
        (0, 3, 9, 0xffc0_1234),
        (1, 1, 14, 0x7f80_0001),
        (1, 2, 7, 0x7fc0_0042),
    ];
    let mut x = [[[0f32; 16]; 4]; 2];
    for (c, xc) in x.iter_mut().enumerate() {
        for (i, xr) in xc.iter_mut().enumerate() {
            for (j, v) in xr.iter_mut().enumerate() {
                // A fixed scramble of signs and magnitudes; a run of equal
                // values in channel 1, row 3.
                let k = (c * 64 + i * 16 + j) as u32;
                *v = if (c, i) == (1, 3) {
                    0.25
                } else {
                    ((k * 37 % 101) as f32 - 50.0) * 0.125
                };
            }
        }
    }
    for (case, specials) in [("finite", 0), ("infinities", 2), ("NaNs", 6)] {
        for &(c, i, j, bits) in &SPECIAL[..specials] {
            x[c][i][j] = f32::from_bits(bits);
        }
        let y = staticnet::__private::kernels::max_pool2d::<f32, 2, 4, 16, 2, 2, 2, 2, 2, 8>(
            black_box(&x),
        );
        let mut bad = 0usize;
        for c in 0..2 {
            for i in 0..2 {
                for j in 0..8 {
                    let w = [
                        x[c][2 * i][2 * j],
                        x[c][2 * i][2 * j + 1],
                        x[c][2 * i + 1][2 * j],
                        x[c][2 * i + 1][2 * j + 1],
                    ];
                    let mut want = pytorch_max(w).to_bits();
                    if crate::common::BREAK.load(core::sync::atomic::Ordering::Relaxed) {
                        want ^= 1;
                    }
                    if y[c][i][j].to_bits() != want {
                        if bad == 0 {
                            cortex_m_semihosting::hprintln!(
                                "FAIL max pool ({}): [{}][{}][{}] = {:#010x}, expected {:#010x}",
                                case,
                                c,
                                i,
                                j,
                                y[c][i][j].to_bits(),
                                want
                            );
                        }
                        bad += 1;
                    }
                }
            }
        }
        if bad == 0 {
            cortex_m_semihosting::hprintln!("ok   max pool 2x2 ({}): 32 values bit for bit", case);
        } else {
            crate::common::bump(&crate::common::FAILURES);
        }
    }
}
