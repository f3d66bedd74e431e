//! Bare-metal test of staticnet on Cortex-M, run under QEMU by
//! `.ci/thumb.sh` (M4F `mps2-an386`, M7 `mps2-an500`, and the
//! `thumbv6m` build on `mps2-an385`).
//!
//! Checks against the committed PyTorch fixtures (tests/fixtures, made by
//! tools/make_fixtures.py), every value within `1e-5 · max(1, |PyTorch|)`:
//!
//! 1. the textbook CNN's forward (`seed_cnn`: input, output);
//! 2. the LSTM forecaster on the whole sequence and streamed one step at a
//!    time over the 32 steps (`forecaster`: input, output; the streamed
//!    output must also equal the whole sequence's bit for bit);
//! 3. one training step of the CNN: `forward_train`, `backward_params`
//!    with PyTorch's upstream gradient `r` (`grad_seed_cnn`: the loss
//!    `Σ output · r` and autograd's gradient of every parameter), then an
//!    SGD update, whose result must be the fixture's weights minus
//!    `lr ·` autograd's gradient (both from the fixtures, in f64);
//! 4. the paths of the hand-written Arm kernels the CNN does not take
//!    (`thumb_kernels`, src/kernels.rs).
//!
//! The weights are compiled in by `model!` from the same fixture files; the
//! expected values are read at run time from the files themselves
//! (`include_bytes!`, a minimal safetensors reader below), never from our
//! own output. The exit status (through semihosting, which QEMU returns) is
//! 0 only if every check passes.
//!
//! Self-test: with `break` on the semihosting command line
//! (`-semihosting-config ...,arg=test,arg=break`) every expected value is
//! moved by 1e-4, so every check must fail; `.ci/thumb.sh` runs it so and
//! requires a non-zero exit.
//!
//! The measured calls sit between `sn_count_begin` and `sn_count_end`, the
//! markers tools/qemu-insn/insncount.c counts executed instructions
//! between; each region is announced with a `count N name` line (N from 0,
//! in the plugin's order; region 0 is empty, the markers' own overhead).
#![no_std]
#![no_main]

mod common;
mod kernels;

use common::{bump, check, counted, finish, self_test_requested, values, BREAK, FAILURES};
use core::hint::black_box;
use core::sync::atomic::Ordering;
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use staticnet::optim::{Optimizer, Sgd, SgdConfig};
use staticnet::{model, Model, Param, Train};

// `cortex-m` also provides the critical section cortex-m-semihosting takes.
use cortex_m as _;

model! {
    /// The textbook CNN (W1) with the weights of `seed_cnn.safetensors`.
    #[weights("../fixtures/seed_cnn.safetensors", ignore = ["input", "output"])]
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
    /// The LSTM forecaster with the weights of `forecaster.safetensors`.
    #[weights("../fixtures/forecaster.safetensors", ignore = ["input", "output"])]
    pub struct Forecaster {
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head:  Dense(1),
    }
}

static CNN_FIXTURE: &[u8] = include_bytes!("../../fixtures/seed_cnn.safetensors");
static CNN_GRAD_FIXTURE: &[u8] = include_bytes!("../../fixtures/grad_seed_cnn.safetensors");
static LSTM_FIXTURE: &[u8] = include_bytes!("../../fixtures/forecaster.safetensors");

/// The SGD learning rate of the training step.
const LR: f64 = 0.01;

fn one(x: f32) -> impl Iterator<Item = f64> {
    core::iter::once(f64::from(x))
}

#[entry]
fn main() -> ! {
    hprintln!("staticnet thumb test");
    if self_test_requested() {
        hprintln!("self-test: every expected value moved by 1e-4; every check must fail");
        BREAK.store(true, Ordering::Relaxed);
    }
    counted("empty", || ());

    // 1. The CNN forward.
    let mut image = [[[0f32; 10]; 10]; 1];
    let mut pixels = values(CNN_FIXTURE, "", "input");
    for v in image.iter_mut().flatten().flatten() {
        *v = pixels.next().unwrap_or(f64::NAN) as f32;
    }
    let cnn = SeedCnn::WEIGHTS;
    let y = counted("cnn_forward", || cnn.forward(black_box(&image)));
    check(
        ("", "cnn forward"),
        one(y[0]),
        values(CNN_FIXTURE, "", "output"),
    );

    // 2. The forecaster: whole sequence, then 32 streamed steps.
    let mut seq = [[0f32; 8]; 32];
    let mut xs = values(LSTM_FIXTURE, "", "input");
    for v in seq.iter_mut().flatten() {
        *v = xs.next().unwrap_or(f64::NAN) as f32;
    }
    // A `Sequence` is an `SMatrix<f32, 8, 32>` whose column `t` is step `t`:
    // its column-major storage is the row-major [32, 8] of the fixture.
    let x = staticnet::SMatrix::from_array_storage(staticnet::nalgebra::ArrayStorage(seq));
    let lstm = Forecaster::WEIGHTS;
    let y_seq = counted("lstm_forward", || lstm.forward(black_box(&x)))[0];
    check(
        ("", "lstm forward (sequence)"),
        one(y_seq),
        values(LSTM_FIXTURE, "", "output"),
    );
    let mut state = ForecasterState::zeros();
    let mut y_step = f32::NAN;
    let steps = seq.map(staticnet::SVector::from);
    counted("lstm_step_x32", || {
        for s in &steps {
            y_step = lstm.step(&mut state, black_box(s))[0];
        }
    });
    check(
        ("", "lstm 32 streamed steps"),
        one(y_step),
        values(LSTM_FIXTURE, "", "output"),
    );
    if y_step.to_bits() != y_seq.to_bits() {
        hprintln!(
            "FAIL streaming: {:e} after 32 steps, {:e} for the sequence",
            y_step,
            y_seq
        );
        bump(&FAILURES);
    }

    // 3. One training step: forward_train, backward_params with dy = r,
    //    then SGD. Large values live on the stack (4 MiB of RAM).
    let mut model = SeedCnn::WEIGHTS;
    let mut grads = SeedCnn::zeros();
    let mut tape = SeedCnn::new_tape();
    let mut sgd = Sgd::<SeedCnn>::new(SgdConfig {
        lr: LR,
        ..SgdConfig::default()
    });
    let r = values(CNN_GRAD_FIXTURE, "", "r").next().unwrap_or(f64::NAN) as f32;
    let dy = staticnet::SVector::<f32, 1>::new(r);
    let y_train = counted("cnn_train_step", || {
        let y = model.forward_train(black_box(&image), &mut tape);
        model.backward_params(&tape, &dy, false, &mut grads);
        Optimizer::<f32, SeedCnn>::step(&mut sgd, &mut model, &grads);
        y
    });
    check(
        ("", "train: output"),
        one(y_train[0]),
        values(CNN_FIXTURE, "", "output"),
    );
    check(
        ("", "train: loss"),
        one(y_train[0] * r),
        values(CNN_GRAD_FIXTURE, "", "loss"),
    );
    grads.visit_params(&mut |p: Param<'_, f32>| {
        let want = values(CNN_GRAD_FIXTURE, "grad.", p.name);
        check(("grad.", p.name), p.iter().map(f64::from), want);
    });
    // PyTorch's weights minus lr times autograd's gradient, in f64.
    model.visit_params(&mut |p: Param<'_, f32>| {
        let want = values(CNN_FIXTURE, "", p.name)
            .zip(values(CNN_GRAD_FIXTURE, "grad.", p.name))
            .map(|(w, g)| w - LR * g);
        check(("sgd: ", p.name), p.iter().map(f64::from), want);
    });

    // 4. The hand-written Arm kernels' other paths (not counted).
    kernels::run();
    kernels::max_pool_nan();

    finish()
}
