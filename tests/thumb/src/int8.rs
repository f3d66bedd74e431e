//! The int8 KWS and IC models of MLPerf Tiny on Cortex-M (issue 13): the
//! int8 form `model!` generates (`#[int8 = "file"]`, `<Name>Int8`) from
//! the DSLs tests/int8_model.rs checks on x86 (tests/mlperf/kws_int8.rs,
//! ic_int8.rs, `include!`d: the float DSL of tests/mlperf/ with the softmax
//! split off), its parameters decoded at compile time from the
//! TFLite-converted files (tests/fixtures/int8/, made by
//! tools/tflite_to_safetensors.py) into a `static` in flash; the golden
//! input run through the generated `forward` and compared with TFLite
//! Micro's output (tools/make_int8_fixtures.py): equal, value for value,
//! and every layer (the generated `forward_layers`, not counted) against
//! TFLite Micro's tensor of that layer.
//!
//! Built for thumbv6m (the M0 stand-in, no FPU) and thumbv7em (M4F, M7) by
//! .ci/thumb.sh, which also disassembles the two entry points (`sn_int8_kws`,
//! `sn_int8_ic`: the generated `forward`, inlined) and everything they
//! call, and fails on any floating-point instruction or soft-float call
//! (tools/thumb_float_check.py); `sn_float_probe` and `sn_int8_edges` (the
//! generated `quantize_input`/`dequantize_output`, float by design) must be
//! flagged. Per model the output is `count N int8_<model>` (instructions
//! of one inference between the markers). With `break` on the command line
//! one expected value is moved and the checks must fail.
#![no_std]
#![no_main]

#[allow(dead_code)] // the f64 checks are the float binaries'
mod common;

use common::{bump, counted, finish, self_test_requested, FAILURES};
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use staticnet::model;
use staticnet::quant::Interpreter;
use staticnet::Image;

use cortex_m as _;

include!("../../mlperf/kws_int8.rs");
include!("../../mlperf/ic_int8.rs");

/// The int8 KWS's parameters in flash (`.rodata`): a `static` of the
/// generated `WEIGHTS`, never copied to RAM.
static KWS: KwsDsCnnInt8 = KwsDsCnnInt8::WEIGHTS;
/// The int8 ResNet-8's parameters in flash.
static IC: ResNet8Int8 = ResNet8Int8::WEIGHTS;

static KWS_IO: &[u8] = include_bytes!("../../fixtures/int8/kws_io.safetensors");
static IC_IO: &[u8] = include_bytes!("../../fixtures/int8/ic_io.safetensors");

// ---- reading the safetensors files (any dtype) ------------------------------
/// The data of tensor `"{layer}.{field}"` (or `layer` alone if `field` is
/// empty); a missing tensor is a failed test (a panic).
fn raw(file: &'static [u8], layer: &str, field: &str) -> &'static [u8] {
    fn find(file: &'static [u8], layer: &str, field: &str) -> Option<&'static [u8]> {
        let n = usize::try_from(u64::from_le_bytes(*file.first_chunk::<8>()?)).ok()?;
        let header = core::str::from_utf8(file.get(8..8usize.checked_add(n)?)?).ok()?;
        let data = file.get(8 + n..)?;
        let mut rest = header;
        let entry = loop {
            let at = rest.find('"')?;
            let after = &rest[at + 1..];
            let tail = after.strip_prefix(layer).and_then(|t| {
                if field.is_empty() {
                    Some(t)
                } else {
                    t.strip_prefix('.').and_then(|t| t.strip_prefix(field))
                }
            });
            if let Some(body) = tail.and_then(|t| t.strip_prefix("\":{")) {
                break &body[..body.find('}')?];
            }
            rest = after;
        };
        let offsets = entry.split("\"data_offsets\":[").nth(1)?;
        let offsets = &offsets[..offsets.find(']')?];
        let (begin, end) = offsets.split_once(',')?;
        data.get(begin.trim().parse().ok()?..end.trim().parse().ok()?)
    }
    match find(file, layer, field) {
        Some(d) => d,
        None => panic!("tensor {}.{} missing", layer, field),
    }
}

// ---- the entry points -------------------------------------------------------

/// One int8 KWS inference: the generated `forward` (no floating point;
/// checked by disassembly).
#[no_mangle]
#[inline(never)]
pub fn sn_int8_kws(x: &Image<i8, 1, 49, 10>, y: &mut [i8; 12]) {
    *y = KWS.forward(x);
}

/// One int8 ResNet-8 inference: the generated `forward` (no floating
/// point; checked by disassembly).
#[no_mangle]
#[inline(never)]
pub fn sn_int8_ic(x: &Image<i8, 3, 32, 32>, y: &mut [i8; 10]) {
    *y = IC.forward(x);
}

/// The float checker's self-test: a function that does use floating point
/// (a VFP multiply-add on thumbv7em, `__aeabi_fmul`/`__aeabi_fadd` calls on
/// thumbv6m), which .ci/thumb.sh requires tools/thumb_float_check.py to
/// flag.
#[no_mangle]
#[inline(never)]
pub fn sn_float_probe(x: f32) -> f32 {
    x * 1.5 + 0.25
}

/// The generated float edges, `quantize_input` and `dequantize_output`
/// around `forward`: float by design, so the checker must flag this (and
/// the entry points above, which do not call them, must stay clean).
#[no_mangle]
#[inline(never)]
pub fn sn_int8_edges(x: &Image<f32, 1, 49, 10>) -> f32 {
    let p = KwsDsCnnInt8::dequantize_output(&KWS.forward(&KwsDsCnnInt8::quantize_input(x)));
    p[0]
}

// ---- stack painting (as src/mlperf.rs) ---------------------------------------

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

// ---- the checks ---------------------------------------------------------------

/// `got` against the first row of `output_micro` (TFLite Micro on the
/// golden input); with `break`, one expected value is moved by one.
fn check<const N: usize>(name: &str, got: &[i8; N], io: &'static [u8]) {
    let d = raw(io, "output_micro", "");
    let mut want: [i8; N] = core::array::from_fn(|i| d[i] as i8);
    if self_test_requested() {
        want[0] = want[0].wrapping_add(1);
    }
    if *got == want {
        hprintln!("ok int8_{} {:?}", name, got);
    } else {
        hprintln!("FAIL int8_{}: {:?} vs TFLite Micro's {:?}", name, got, want);
        bump(&FAILURES);
    }
}

/// `got`, the output of layer `name`, against TFLite Micro's tensor of that
/// layer on the golden input (`{name}.golden_micro`, channel-major as
/// ours); with `break`, one expected value is moved by one.
fn layer(io: &'static [u8], model: &str, name: &str, got: &[i8]) {
    let want = raw(io, name, "golden_micro");
    let moved = self_test_requested();
    let mut bad = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let w = if moved && i == 0 {
            (w as i8).wrapping_add(1)
        } else {
            w as i8
        };
        if g != w && bad.is_none() {
            bad = Some((i, g, w));
        }
    }
    match bad {
        None if got.len() == want.len() => {
            hprintln!("ok int8_{} layer {}: {} values", model, name, got.len())
        }
        None => {
            hprintln!(
                "FAIL int8_{} layer {}: {} values, TFLite Micro has {}",
                model,
                name,
                got.len(),
                want.len()
            );
            bump(&FAILURES);
        }
        Some((i, g, w)) => {
            hprintln!(
                "FAIL int8_{} layer {}: [{}] = {}, TFLite Micro {}",
                model,
                name,
                i,
                g,
                w
            );
            bump(&FAILURES);
        }
    }
}

/// Every layer of the generated `forward_layers` (TFLite Micro's
/// arithmetic) against TFLite Micro's tensor of that layer, so that a
/// kernel's error cannot hide in the saturated softmax.
fn every_layer<'a>(
    io: &'static [u8],
    model: &str,
    names: &[&str],
    get: impl Fn(&str) -> Option<&'a [i8]>,
) {
    for name in names {
        layer(io, model, name, get(name).unwrap_or(&[]));
    }
}

/// The parameters' address: a `static` in flash (below the RAM at
/// 0x2000_0000), or a failed check; with `break`, the bound is moved to 0
/// and the check must fail.
fn in_flash<T>(name: &str, p: &'static T) {
    let at = p as *const T as usize;
    hprintln!("params int8_{} {}", name, core::mem::size_of::<T>());
    let ram = if self_test_requested() {
        0
    } else {
        0x2000_0000
    };
    if at < ram {
        hprintln!("ok int8_{} parameters in flash at {:#x}", name, at);
    } else {
        hprintln!("FAIL int8_{}: parameters in RAM at {:#x}", name, at);
        bump(&FAILURES);
    }
}

/// The golden input of `io` (`input.golden`, channel-major as ours).
fn golden<const C: usize, const H: usize, const W: usize>(io: &'static [u8]) -> Image<i8, C, H, W> {
    let d = raw(io, "input.golden", "");
    assert!(d.len() == C * H * W, "size of input.golden");
    let mut x = [[[0; W]; H]; C];
    for (v, s) in x.as_flattened_mut().as_flattened_mut().iter_mut().zip(d) {
        *v = *s as i8;
    }
    x
}

#[entry]
fn main() -> ! {
    // Region 0, empty: the markers' own cost, which .ci/thumb.sh subtracts.
    counted("empty", || ());
    let xk: Image<i8, 1, 49, 10> = golden(KWS_IO);
    let mut y = [0i8; 12];
    paint();
    counted("int8_kws", || sn_int8_kws(&xk, &mut y));
    hprintln!("stack int8_kws {}", painted_depth());
    in_flash("kws", &KWS);
    check("kws", &y, KWS_IO);
    let mut layers = KwsDsCnnInt8Layers::zeroed();
    KWS.forward_layers(&xk, &mut layers, Interpreter::Micro);
    every_layer(KWS_IO, "kws", KwsDsCnnInt8::LAYERS, |n| layers.get(n));

    let xi: Image<i8, 3, 32, 32> = golden(IC_IO);
    let mut y = [0i8; 10];
    paint();
    counted("int8_ic", || sn_int8_ic(&xi, &mut y));
    hprintln!("stack int8_ic {}", painted_depth());
    in_flash("ic", &IC);
    check("ic", &y, IC_IO);
    let mut layers = ResNet8Int8Layers::zeroed();
    IC.forward_layers(&xi, &mut layers, Interpreter::Micro);
    every_layer(IC_IO, "ic", ResNet8Int8::LAYERS, |n| layers.get(n));
    // Kept in the binary for the float checker's self-test (outside the
    // counted regions).
    core::hint::black_box(sn_float_probe(core::hint::black_box(2.0)));
    core::hint::black_box(sn_int8_edges(core::hint::black_box(&[[[0.5; 10]; 49]; 1])));
    finish()
}
