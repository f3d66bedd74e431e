//! The stack a forward and a training step need, measured, and a check that
//! each runs within the bound documented in BENCHMARKS.md ("Firmware").
//!
//! A thread's size is a poor ruler: glibc raises any request below
//! `PTHREAD_STACK_MIN` + a page + the static TLS (about 21 KiB here) and
//! rounds to pages. So the probe uses a fixed 512 KiB thread and first
//! *fills* part of it: a recursion `depth` levels deep, each level a frame
//! of `PAD` bytes plus call overhead (`frame` bytes, measured from the
//! frames' addresses), then runs the operation at the bottom. The deepest
//! padding under which an operation still runs, compared with the deepest
//! under which an empty operation runs, gives the bytes it needs:
//! `(depth(empty) − depth(op)) × frame`, to within one frame (~300 bytes).
//!
//! Each probe runs in a child process (this test binary, re-run with
//! `STATICNET_STACK_PROBE=<op>:<depth>` selecting the `probe_child` test):
//! an overflow hits the guard page and kills the child, not this process.
//! The models, gradients, tape and Adam state are on the heap, so only what
//! the operation itself puts on the stack counts (as with the firmware's
//! statics).
//!
//! The figures depend on the profile: `cargo test` builds with
//! `[profile.test]` (opt-level 1, debug assertions), `cargo test --release`
//! with opt-level 3; the bounds below are per profile. Regenerate the
//! numbers with `cargo test [--release] --test stack -- --ignored --nocapture`.
//! These are std builds (the test harness needs std); the firmware library
//! (no_std, LTO) is measured byte by byte, and bounded, by
//! examples/firmware/c/main.c, which paints its stack.

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

/// The operations measured, and the stack each is documented to need
/// (BENCHMARKS.md, "Firmware"): (name, bound with `[profile.test]`
/// (opt-level 1), bound in release), in bytes.
const OPS: &[(&str, usize, usize)] = &[
    // Measured (test / release), on x86-64 with AVX2, through the run-time
    // dispatched AVX2 copy of forward and step (every kernel inlined into
    // one frame) and, with STATICNET_NO_DISPATCH=1, the baseline copy:
    // AVX2 40,320 / 21,024; baseline 20,160 / 10,944 bytes (session 5).
    // Measured again in session 14 on an AMD EPYC (Zen 4), at 7b91465 and
    // after: 38,880 / 33,408 (the release bound of 24 KiB, which CI does
    // not run, had been outgrown by a later change, not bisected)
    ("cnn_forward", 44 * KIB, 36 * KIB),
    // 22,464 / 12,096 (training is not dispatched)
    ("cnn_train_step", 24 * KIB, 24 * KIB),
    // AVX2 17,568 / 10,944; baseline 9,504 / 5,760. With the recurrent
    // kernels in functions of their own compiled for AVX-512 (where the CPU
    // has it, `dispatch::avx512`), whose frames come on top of the AVX2
    // copy's: 27,360 / 16,128. With the cells' hand-written 512-bit phases
    // (`kernels::simd::zmm`: a product's 16 accumulators, the activations'
    // temporaries, frames of their own at opt-level 1): 31,680 / 20,160
    // (session 16, Intel Xeon model 207)
    ("lstm_forward", 34 * KIB, 22 * KIB),
    // 2,304 / 2,304; baseline 2,304 / 2,016; AVX-512 kernels 4,608 / 6,912;
    // with the 512-bit phases 8,640 / 6,912
    ("lstm_step", 10 * KIB, 8 * KIB),
    // 62,208 / 77,472 (in release 65,088 before the kernels were inlined
    // whole in std builds). Since the recurrent training kernels dispatch
    // per call in the sample-major path, with their portable body in a
    // frame of its own (`kernels::dispatch::portable`): 61,920 / 65,376
    // (session 14, AMD EPYC Zen 4)
    ("lstm_train_step", 72 * KIB, 80 * KIB),
];

/// The probe thread's stack.
const THREAD: usize = 512 * KIB;
/// Bytes of padding per recursion level.
const PAD: usize = 256;

/// Fills `depth` frames of at least `PAD` bytes, then runs `job`; records
/// the addresses of the frames at depth 1 and 0 (their distance is one
/// level's size).
#[inline(never)]
fn pad(depth: usize, job: &mut dyn FnMut(), addrs: &mut [usize; 2]) {
    let buf = black_box([0u8; PAD]);
    if depth < 2 {
        addrs[depth] = buf.as_ptr() as usize;
    }
    if depth > 0 {
        pad(depth - 1, job, addrs);
    } else {
        job();
    }
    // Keeps `buf` live across the call (so no tail call reuses the frame).
    black_box(&buf);
}

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

/// Runs `op` once at the bottom of `depth` padding frames in a `THREAD`
/// byte thread, and returns one padding frame's size (0 if `depth < 1`).
/// Only ever called in a child process.
fn run(op: &str, depth: usize) -> usize {
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
            let x: <Forecaster<f32> as Model<f32>>::Input = input(2);
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
        "empty" => Box::new(|| {}),
        "big_frame_64k" => Box::new(|| {
            let a = black_box([1u8; 64 * KIB]);
            black_box(&a);
        }),
        _ => panic!("unknown operation {op}"),
    };
    thread::Builder::new()
        .stack_size(THREAD)
        .spawn(move || {
            let mut job = Some(job);
            let mut addrs = [0; 2];
            pad(
                depth,
                &mut || (job.take().expect("runs once"))(),
                &mut addrs,
            );
            if depth >= 1 {
                addrs[1] - addrs[0]
            } else {
                0
            }
        })
        .expect("spawn")
        .join()
        .expect("the operation failed")
}

/// In a child process: runs the operation `STATICNET_STACK_PROBE` names
/// and reports success on stdout. Does nothing in a normal test run.
#[test]
fn probe_child() {
    let Ok(spec) = env::var(PROBE) else { return };
    let (op, depth) = spec.split_once(':').expect("op:depth");
    let frame = run(op, depth.parse().expect("depth"));
    println!("probe ok: {spec} frame {frame}");
}

/// Whether `op` runs under `depth` padding frames, and one frame's size
/// (in a child process, so that an overflow only kills the child).
fn probe(op: &str, depth: usize) -> Option<usize> {
    let out = Command::new(env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "probe_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(PROBE, format!("{op}:{depth}"))
        // Room for building the boxed models on the child's test thread.
        .env("RUST_MIN_STACK", (64 << 20).to_string())
        .output()
        .expect("running the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tag = format!("probe ok: {op}:{depth} frame ");
    // The harness may print "test probe_child ... " on the same line.
    let frame = stdout.lines().find_map(|l| {
        let (_, rest) = l.split_once(&tag)?;
        rest.split_whitespace().next()?.parse().ok()
    });
    frame.filter(|_| out.status.success())
}

/// The deepest padding under which `op` runs.
fn max_depth(op: &str) -> usize {
    assert!(
        probe(op, 0).is_some(),
        "{op} does not run in {THREAD} bytes"
    );
    let (mut lo, mut hi) = (0, THREAD / PAD); // runs at lo, not at hi
    assert!(probe(op, hi).is_none());
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if probe(op, mid).is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// One padding level's size in bytes.
fn frame() -> usize {
    let f = probe("empty", 2).expect("two padding frames fit");
    assert!((PAD..PAD + 512).contains(&f), "padding frame of {f} bytes");
    f
}

#[test]
fn every_operation_runs_within_its_documented_stack() {
    let (empty, f) = (max_depth("empty"), frame());
    for op in OPS {
        let b = bound(op);
        // Leaves the operation at most `b` bytes beyond what the empty
        // operation used.
        let depth = empty.saturating_sub(b / f);
        assert!(
            probe(op.0, depth).is_some(),
            "{} needs more than its documented {b} bytes of stack in this profile",
            op.0
        );
    }
}

/// The probe detects an overflow (so the test above can fail): 64 KiB
/// more than an empty operation does not fit when only 32 KiB are left.
#[test]
fn a_too_small_stack_is_detected() {
    let (empty, f) = (max_depth("empty"), frame());
    assert!(probe("big_frame_64k", empty - 32 * KIB / f).is_none());
    assert!(probe("big_frame_64k", empty - 96 * KIB / f).is_some());
}

/// Prints the stack each operation needs and the training state's size:
/// `cargo test [--release] --test stack -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure() {
    let profile = if cfg!(debug_assertions) {
        "[profile.test] (opt-level 1, debug assertions)"
    } else {
        "release (opt-level 3)"
    };
    let (empty, f) = (max_depth("empty"), frame());
    println!("stack needed, {profile} (to within {f} bytes):");
    for op in OPS {
        let need = (empty - max_depth(op.0)) * f;
        println!("  {:<16} {:>7} bytes  (bound {})", op.0, need, bound(op));
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
