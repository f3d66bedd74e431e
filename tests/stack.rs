//! The stack a forward and a training step need, measured, and a check that
//! each runs in a thread whose stack is the bound documented in
//! BENCHMARKS.md ("Firmware").
//!
//! Each operation runs in a child process (this test binary, re-run with
//! `STATICNET_STACK_PROBE=<op>:<bytes>` selecting the `probe_child` test),
//! in a thread spawned with exactly that stack size: an overflow hits the
//! guard page and kills the child, not this process, and the parent sees a
//! failed child. The models, gradients, tape and Adam state are on the heap,
//! so only what the operation itself puts on the stack counts (as with the
//! firmware's statics).
//!
//! A thread's stack also holds the thread's start-up frames and, with
//! glibc, its static TLS; sizes are whole pages and at least
//! `PTHREAD_STACK_MIN` (16 KiB on x86-64 Linux). The figures here are
//! therefore "the smallest thread stack that works", in 4 KiB steps. The
//! byte-exact figures of the firmware build come from examples/firmware's C
//! program, which paints the stack.
//!
//! The bounds depend on the profile: `cargo test` builds with
//! `[profile.test]` (opt-level 1, debug assertions), `cargo test --release`
//! with opt-level 3. Regenerate the numbers with
//! `cargo test [--release] --test stack -- --ignored --nocapture`.
//!
//! These are std builds (the test harness needs std) without LTO; the
//! firmware library, built no_std with LTO, inlines more and needs more
//! (examples/firmware/c/main.c measures and bounds it byte by byte).

use staticnet::loss::{BinaryCrossEntropy, MeanSquaredError};
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{model, Model, Rng, Tensor, Train, Trainer, Vector};
use std::hint::black_box;
use std::process::Command;
use std::{env, thread};

model! {
    /// The textbook CNN (W1), as in examples/firmware.
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
    /// The LSTM forecaster, as in examples/firmware.
    pub struct Forecaster {
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head:  Dense(1),
    }
}

const PROBE: &str = "STATICNET_STACK_PROBE";
const KIB: usize = 1024;

/// The operations measured, and the thread stack each is documented to
/// run in (BENCHMARKS.md, "Firmware"): (name, bound with `[profile.test]`
/// (opt-level 1), bound in release). Each is the smallest working size
/// measured by `measure` plus one 4 KiB page.
const OPS: &[(&str, usize, usize)] = &[
    ("cnn_forward", 32 * KIB, 20 * KIB),
    ("cnn_train_step", 32 * KIB, 20 * KIB),
    ("lstm_forward", 20 * KIB, 20 * KIB),
    ("lstm_step", 20 * KIB, 20 * KIB),
    ("lstm_train_step", 76 * KIB, 72 * KIB),
];

fn bound(op: &(&str, usize, usize)) -> usize {
    if cfg!(debug_assertions) {
        op.1
    } else {
        op.2
    }
}

fn input<X: Tensor<f32>>(seed: u64) -> X {
    let mut rng = Rng::new(seed);
    let mut x = X::zeros();
    for v in x.as_flat_mut() {
        *v = rng.uniform() as f32 * 2.0 - 1.0;
    }
    x
}

/// Runs `op` once in a thread with a `stack`-byte stack (in this process:
/// only ever called in a child).
fn run(op: &str, stack: usize) {
    let job: Box<dyn FnOnce() + Send> = match op {
        "cnn_forward" => {
            let m = Box::new(SeedCnn::<f32>::init(1));
            let x = input(2);
            Box::new(move || {
                black_box(m.forward(black_box(&x)));
            })
        }
        "cnn_train_step" => {
            let mut m = Box::new(SeedCnn::<f32>::init(1));
            let mut tr = Trainer::boxed(Adam::new(AdamConfig::default()));
            let (x, y) = (input(2), Vector::<f32, 1>::new(1.0));
            Box::new(move || {
                let l = tr.step(&mut *m, &BinaryCrossEntropy, &[x], &[y]);
                assert!(l.is_ok());
            })
        }
        "lstm_forward" => {
            let m = Box::new(Forecaster::<f32>::init(1));
            let x = input(2);
            Box::new(move || {
                black_box(m.forward(black_box(&x)));
            })
        }
        "lstm_step" => {
            let m = Box::new(Forecaster::<f32>::init(1));
            let x = input::<Vector<f32, 8>>(2);
            Box::new(move || {
                let mut s = ForecasterState::zeros();
                black_box(m.step(&mut s, black_box(&x)));
            })
        }
        "lstm_train_step" => {
            let mut m = Box::new(Forecaster::<f32>::init(1));
            let mut tr = Trainer::boxed(Adam::new(AdamConfig::default()));
            let (x, y) = (input(2), Vector::<f32, 1>::new(0.5));
            Box::new(move || {
                let l = tr.step(&mut *m, &MeanSquaredError, &[x], &[y]);
                assert!(l.is_ok());
            })
        }
        "big_frame" => Box::new(|| {
            let a = black_box([1u8; 256 * KIB]);
            black_box(&a);
        }),
        _ => panic!("unknown operation {op}"),
    };
    thread::Builder::new()
        .stack_size(stack)
        .spawn(job)
        .expect("spawn")
        .join()
        .expect("the operation failed");
}

/// In a child process: runs the operation `STATICNET_STACK_PROBE` names
/// and reports success on stdout. Does nothing in a normal test run.
#[test]
fn probe_child() {
    let Ok(spec) = env::var(PROBE) else { return };
    let (op, bytes) = spec.split_once(':').expect("op:bytes");
    run(op, bytes.parse().expect("bytes"));
    println!("probe ok: {spec}");
}

/// Whether `op` runs in a thread with a `stack`-byte stack (in a child
/// process, so that an overflow only kills the child).
fn fits(op: &str, stack: usize) -> bool {
    let out = Command::new(env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "probe_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(PROBE, format!("{op}:{stack}"))
        // Room for building the boxed models on the child's test thread.
        .env("RUST_MIN_STACK", (64 << 20).to_string())
        .output()
        .expect("running the test binary");
    let ran = String::from_utf8_lossy(&out.stdout).contains(&format!("probe ok: {op}:{stack}"));
    out.status.success() && ran
}

#[test]
fn every_operation_runs_in_its_documented_stack() {
    for op in OPS {
        let b = bound(op);
        assert!(
            fits(op.0, b),
            "{} overflowed a {b}-byte thread stack (the documented bound for this profile)",
            op.0
        );
    }
}

/// The probe detects an overflow (so the test above can fail): a frame
/// with a 256 KiB local array fails in a 64 KiB thread and runs in 1 MiB,
/// in every profile.
#[test]
fn a_too_small_stack_is_detected() {
    assert!(!fits("big_frame", 64 * KIB));
    assert!(fits("big_frame", 1024 * KIB));
}

/// Prints the smallest thread stack (in 4 KiB steps) each operation runs
/// in, and the training state's size. Slow-ish (a child process per
/// probe): `cargo test [--release] --test stack -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure() {
    let profile = if cfg!(debug_assertions) {
        "[profile.test] (opt-level 1, debug assertions)"
    } else {
        "release (opt-level 3)"
    };
    println!("smallest working thread stack, {profile}:");
    for op in OPS {
        // Invariant: fits(hi) and !fits(lo); a request below 16 KiB is
        // raised to it (`PTHREAD_STACK_MIN`), so 12 KiB stands for "fails".
        let (mut lo, mut hi) = (12 * KIB, 4096 * KIB);
        assert!(fits(op.0, hi), "{} does not run in 4 MiB", op.0);
        while hi - lo > 4 * KIB {
            let mid = (lo + hi) / 2 / (4 * KIB) * (4 * KIB);
            if fits(op.0, mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let at_min = if hi == 16 * KIB { " (the minimum)" } else { "" };
        println!(
            "  {:<16} {:>4} KiB{at_min}  (bound {} KiB)",
            op.0,
            hi / KIB,
            bound(op) / KIB
        );
    }
    fn training_bytes<M: Train<f32>>() -> usize {
        // trainable copy + gradient + Adam's two moments, and the tape
        4 * M::PARAM_BYTES + M::TAPE_BYTES
    }
    println!(
        "training state: SeedCnn {} bytes (tape {}), Forecaster {} bytes (tape {})",
        training_bytes::<SeedCnn<f32>>(),
        <SeedCnn<f32> as Train<f32>>::TAPE_BYTES,
        training_bytes::<Forecaster<f32>>(),
        <Forecaster<f32> as Train<f32>>::TAPE_BYTES,
    );
}
