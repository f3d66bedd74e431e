//! The five MLPerf Tiny reference models in float on the Cortex-M7
//! (`mps2-an500`, run by `.ci/thumb.sh`), their authors' trained weights
//! compiled into flash by `#[weights]` (each model a `static`, read in
//! place): each runs its golden input(s) and must give Keras' output
//! within `1e-5 · max(1, |Keras|)` (the fixtures of tests/mlperf.rs, cut to
//! their first samples by tools/make_thumb_mlperf_io.py so that everything
//! fits the board's 4 MiB of flash).
//!
//! The models are the files of tests/mlperf/, `include!`d as the host
//! tests include them; only the attribute that compiles the weights in is
//! added, by a local `model!` that forwards to staticnet's with the
//! model's weights file.
//!
//! Per model the output is `count N mlperf_<model>` (instructions of one
//! inference, counted by tools/qemu-insn between the markers) and
//! `stack <model> <bytes>` (the deepest stack use of that inference,
//! painted: below the stack pointer, down to the end of `.bss`, the RAM is
//! filled with a pattern before the call and scanned after it). With
//! `break` on the command line every expected value moves by 1e-4 and
//! every check must fail.
#![no_std]
#![no_main]

mod common;

use common::{check, counted, finish, self_test_requested, values, BREAK};
use core::hint::black_box;
use core::sync::atomic::Ordering;
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use staticnet::{Model, Tensor};

// `cortex-m` also provides the critical section cortex-m-semihosting takes.
use cortex_m as _;

/// staticnet's `model!` with `#[weights(file)]` added.
macro_rules! with_weights {
    ($file:literal, $(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        staticnet::model! {
            $(#[$meta])*
            #[weights($file)]
            pub struct $name { $($body)* }
        }
    };
}

/// The `model!` the included files call: each model with its weights file.
macro_rules! model {
    ($(#[$m:meta])* pub struct AnomalyAutoencoder $body:tt) => {
        with_weights!("../fixtures/mlperf/ad.safetensors", $(#[$m])* pub struct AnomalyAutoencoder $body);
    };
    ($(#[$m:meta])* pub struct ResNet8 $body:tt) => {
        with_weights!("../fixtures/mlperf/ic.safetensors", $(#[$m])* pub struct ResNet8 $body);
    };
    ($(#[$m:meta])* pub struct MobileNetVww $body:tt) => {
        with_weights!("../fixtures/mlperf/vww.safetensors", $(#[$m])* pub struct MobileNetVww $body);
    };
    ($(#[$m:meta])* pub struct StreamingWakeWord $body:tt) => {
        with_weights!("../fixtures/mlperf/sww.safetensors", $(#[$m])* pub struct StreamingWakeWord $body);
    };
    ($(#[$m:meta])* pub struct KwsDsCnn $body:tt) => {
        with_weights!("../fixtures/mlperf/kws.safetensors", $(#[$m])* pub struct KwsDsCnn $body);
    };
}

include!("../../mlperf/ad.rs");
include!("../../mlperf/ic.rs");
include!("../../mlperf/vww.rs");
include!("../../mlperf/sww.rs");
include!("../../mlperf/kws.rs");

// In flash: `static`s of the compiled-in weights, read in place.
static AD: AnomalyAutoencoder = AnomalyAutoencoder::WEIGHTS;
static IC: ResNet8 = ResNet8::WEIGHTS;
static VWW: MobileNetVww = MobileNetVww::WEIGHTS;
static SWW: StreamingWakeWord = StreamingWakeWord::WEIGHTS;
static KWS: KwsDsCnn = KwsDsCnn::WEIGHTS;

static AD_IO: &[u8] = include_bytes!("../../fixtures/mlperf/thumb/ad.io.safetensors");
static IC_IO: &[u8] = include_bytes!("../../fixtures/mlperf/thumb/ic.io.safetensors");
static VWW_IO: &[u8] = include_bytes!("../../fixtures/mlperf/thumb/vww.io.safetensors");
static SWW_IO: &[u8] = include_bytes!("../../fixtures/mlperf/thumb/sww.io.safetensors");
static KWS_IO: &[u8] = include_bytes!("../../fixtures/mlperf/thumb/kws.io.safetensors");

// ---- stack painting ----------------------------------------------------------

/// The painted pattern.
const PAINT: u32 = 0x5A5A_A5A5;
/// Left untouched below the stack pointer when painting: the painter's
/// own frame and what it calls.
const MARGIN: usize = 256;

extern "C" {
    /// The end of `.bss` (cortex-m-rt's link.x): the stack grows down
    /// towards it, and nothing lives between it and the stack.
    static mut __ebss: u32;
}

/// The lowest and the highest address of the free stack: from the end of
/// `.bss` up to `MARGIN` bytes below the current stack pointer.
fn free_stack() -> (*mut u32, *mut u32) {
    let sp = cortex_m::register::msp::read() as usize;
    let lo = core::ptr::addr_of_mut!(__ebss);
    let hi = ((sp - MARGIN) & !3) as *mut u32;
    (lo, hi)
}

/// Paints the free stack with `PAINT`.
#[inline(never)]
fn paint() {
    let (lo, hi) = free_stack();
    let mut p = lo;
    while p < hi {
        // SAFETY: `p` is word-aligned and between the end of `.bss` and
        // `MARGIN` bytes below the stack pointer: RAM that no Rust object
        // occupies (statics end at `__ebss`, live frames are above the
        // stack pointer, and this function's callees stay within
        // `MARGIN`), so writing it aliases nothing.
        unsafe { p.write_volatile(PAINT) };
        p = p.wrapping_add(1);
    }
}

/// The deepest stack use since [`paint`], in bytes below the painted top:
/// the first word from the bottom that no longer holds the pattern.
#[inline(never)]
fn painted_depth() -> usize {
    let (lo, hi) = free_stack();
    let mut p = lo;
    // SAFETY: as in `paint`, the words read lie between the end of `.bss`
    // and below the stack pointer; they are plain RAM (volatile reads of
    // memory no Rust object owns).
    while p < hi && unsafe { p.read_volatile() } == PAINT {
        p = p.wrapping_add(1);
    }
    (hi as usize).saturating_sub(p as usize)
}

// ---- the checks ----------------------------------------------------------------

/// Runs `net` on every golden input of `io`, checking each output against
/// Keras'; the first inference is counted and its stack painted.
fn run<M: Model<f32>>(name: &str, net: &M, io: &[u8]) {
    let len = <M::Input as Tensor<f32>>::LEN;
    let out = <M::Output as Tensor<f32>>::LEN;
    let mut inputs = values(io, "", "input");
    let mut k = 0;
    loop {
        let mut x = <M::Input as Tensor<f32>>::zeros();
        let mut n = 0;
        for (v, w) in x.as_flat_mut().iter_mut().zip(&mut inputs) {
            *v = w as f32;
            n += 1;
        }
        if n < len {
            break;
        }
        let y = if k == 0 {
            paint();
            let y = counted(name, || net.forward(black_box(&x)));
            hprintln!("stack {} {}", name, painted_depth());
            y
        } else {
            net.forward(black_box(&x))
        };
        let want = values(io, "", "output64").skip(k * out).take(out);
        check((name, ""), y.as_flat().iter().map(|&v| f64::from(v)), want);
        k += 1;
    }
    if k == 0 {
        hprintln!("FAIL {}: no golden input", name);
        common::bump(&common::FAILURES);
    }
}

#[entry]
fn main() -> ! {
    hprintln!("staticnet thumb MLPerf Tiny test");
    if self_test_requested() {
        hprintln!("self-test: every expected value moved by 1e-4; every check must fail");
        BREAK.store(true, Ordering::Relaxed);
    }
    counted("empty", || ());
    run("mlperf_ad", &AD, AD_IO);
    run("mlperf_ic", &IC, IC_IO);
    run("mlperf_vww", &VWW, VWW_IO);
    run("mlperf_sww", &SWW, SWW_IO);
    run("mlperf_kws", &KWS, KWS_IO);
    finish()
}
