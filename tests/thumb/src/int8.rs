//! The int8 KWS and IC models of MLPerf Tiny on Cortex-M (issue 13): the
//! TFLite-converted parameters (tests/fixtures/int8/, made by
//! tools/tflite_to_safetensors.py) compiled into flash, the golden input
//! run through staticnet's int8 kernels, and the output compared with
//! TFLite Micro's (tools/make_int8_fixtures.py): equal, value for value.
//!
//! Built for thumbv6m (the M0 stand-in, no FPU) and thumbv7em (M4F) by
//! .ci/thumb.sh, which also disassembles the two forward functions
//! (`sn_int8_kws`, `sn_int8_ic`) and everything they call, and fails on any
//! floating-point instruction or soft-float call (tools/thumb_float_check.py).
//! Per model the output is `count N int8_<model>` (instructions of one
//! inference between the markers). With `break` on the command line one
//! expected value is moved and the checks must fail.
#![no_std]
#![no_main]

#[allow(dead_code)] // the f64 checks are the float binaries'
mod common;

use common::{bump, counted, finish, self_test_requested, FAILURES};
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use staticnet::kernels::{Kernel, Pad, Stride};
use staticnet::quant::{
    add_image_int8_into, dense_int8_into, global_avg_pool_int8, softmax_int8_into, Conv2dInt8,
    DepthwiseConv2dInt8, OutputStage, Pool2dInt8, QAddParams, QConv2dParams, QDenseParams,
    QDepthwiseParams, QSoftmaxParams,
};

use cortex_m as _;

static KWS_PARAMS: &[u8] = include_bytes!("../../fixtures/int8/kws.safetensors");
static KWS_IO: &[u8] = include_bytes!("../../fixtures/int8/kws_io.safetensors");
static IC_PARAMS: &[u8] = include_bytes!("../../fixtures/int8/ic.safetensors");
static IC_IO: &[u8] = include_bytes!("../../fixtures/int8/ic_io.safetensors");

type Map<const C: usize, const H: usize, const W: usize> = [[[i8; W]; H]; C];

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

fn i8s<const N: usize>(file: &'static [u8], layer: &str, field: &str) -> [i8; N] {
    let d = raw(file, layer, field);
    assert!(d.len() == N, "size of {}.{}", layer, field);
    core::array::from_fn(|i| d[i] as i8)
}

fn i32s<const N: usize>(file: &'static [u8], layer: &str, field: &str) -> [i32; N] {
    let d = raw(file, layer, field);
    assert!(d.len() == 4 * N, "size of {}.{}", layer, field);
    core::array::from_fn(|i| {
        i32::from_le_bytes([d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]])
    })
}

fn scalar(file: &'static [u8], layer: &str, field: &str) -> i32 {
    i32s::<1>(file, layer, field)[0]
}

fn rows<const O: usize, const K: usize>(file: &'static [u8], layer: &str) -> [[i8; K]; O] {
    let d = raw(file, layer, "weight");
    assert!(d.len() == O * K, "size of {}.weight", layer);
    core::array::from_fn(|o| core::array::from_fn(|k| d[o * K + k] as i8))
}

fn stage<const O: usize>(f: &'static [u8], layer: &str) -> OutputStage<O> {
    OutputStage {
        multiplier: i32s(f, layer, "multiplier"),
        shift: i32s(f, layer, "shift"),
        output_zero_point: scalar(f, layer, "output_zero_point"),
        min: scalar(f, layer, "activation_min") as i8,
        max: scalar(f, layer, "activation_max") as i8,
    }
}

fn conv<const O: usize, const K: usize>(f: &'static [u8], layer: &str) -> QConv2dParams<O, K> {
    QConv2dParams {
        weight: rows(f, layer),
        bias: i32s(f, layer, "bias"),
        input_zero_point: scalar(f, layer, "input_zero_point"),
        out: stage(f, layer),
    }
}

fn dw<const O: usize, const K: usize>(f: &'static [u8], layer: &str) -> QDepthwiseParams<O, K> {
    QDepthwiseParams {
        weight: rows(f, layer),
        bias: i32s(f, layer, "bias"),
        input_zero_point: scalar(f, layer, "input_zero_point"),
        out: stage(f, layer),
    }
}

fn dense<const O: usize, const I: usize>(f: &'static [u8], layer: &str) -> QDenseParams<O, I> {
    QDenseParams {
        weight: rows(f, layer),
        bias: i32s(f, layer, "bias"),
        input_zero_point: scalar(f, layer, "input_zero_point"),
        out: stage(f, layer),
    }
}

fn add(f: &'static [u8], layer: &str) -> QAddParams {
    let s = |k: &str| scalar(f, layer, k);
    QAddParams {
        input1_zero_point: s("input1_zero_point"),
        input2_zero_point: s("input2_zero_point"),
        left_shift: s("left_shift") as u32,
        input1_multiplier: s("input1_multiplier"),
        input1_shift: s("input1_shift"),
        input2_multiplier: s("input2_multiplier"),
        input2_shift: s("input2_shift"),
        output_multiplier: s("output_multiplier"),
        output_shift: s("output_shift"),
        output_zero_point: s("output_zero_point"),
        min: s("activation_min") as i8,
        max: s("activation_max") as i8,
    }
}

fn softmax(f: &'static [u8]) -> QSoftmaxParams {
    QSoftmaxParams {
        input_multiplier: scalar(f, "softmax", "input_multiplier"),
        input_left_shift: scalar(f, "softmax", "input_left_shift") as u32,
        diff_min: scalar(f, "softmax", "diff_min"),
    }
}

// ---- KWS ----------------------------------------------------------------------

/// KWS DS-CNN in int8, as its .tflite holds it.
pub struct Kws {
    conv2d: QConv2dParams<64, 40>,
    dw: [QDepthwiseParams<64, 9>; 4],
    pw: [QConv2dParams<64, 64>; 4],
    dense: QDenseParams<12, 64>,
    softmax: QSoftmaxParams,
}

fn kws_params() -> Kws {
    let f = KWS_PARAMS;
    Kws {
        conv2d: conv(f, "conv2d"),
        dw: [
            dw(f, "depthwise_conv2d"),
            dw(f, "depthwise_conv2d_1"),
            dw(f, "depthwise_conv2d_2"),
            dw(f, "depthwise_conv2d_3"),
        ],
        pw: [
            conv(f, "conv2d_1"),
            conv(f, "conv2d_2"),
            conv(f, "conv2d_3"),
            conv(f, "conv2d_4"),
        ],
        dense: dense(f, "dense"),
        softmax: softmax(f),
    }
}

/// One int8 KWS inference (no floating point; checked by disassembly).
#[no_mangle]
#[inline(never)]
pub fn sn_int8_kws(m: &Kws, x: &Map<1, 49, 10>, y: &mut [i8; 12]) {
    let mut a: Map<64, 25, 5> = [[[0; 5]; 25]; 64];
    let mut b: Map<64, 25, 5> = [[[0; 5]; 25]; 64];
    Conv2dInt8::<Kernel<10, 4>, Stride<2, 2>, Pad<4, 1>>::forward_into(&m.conv2d, x, &mut a);
    for (d, p) in m.dw.iter().zip(&m.pw) {
        DepthwiseConv2dInt8::<Kernel<3, 3>, Stride<1, 1>, Pad<1, 1>>::forward_into(d, &a, &mut b);
        Conv2dInt8::<Kernel<1, 1>, Stride<1, 1>, Pad<0, 0>>::forward_into(p, &b, &mut a);
    }
    let mut pooled: Map<64, 1, 1> = [[[0; 1]; 1]; 64];
    Pool2dInt8::<Kernel<25, 5>, Stride<25, 5>, Pad<0, 0>>::avg_into(&a, -128, 127, &mut pooled);
    let mut flat = [0i8; 64];
    for (v, p) in flat.iter_mut().zip(pooled.as_flattened().as_flattened()) {
        *v = *p;
    }
    let mut logits = [0i8; 12];
    dense_int8_into(&m.dense, &flat, &mut logits);
    softmax_int8_into(&m.softmax, &logits, y);
}

// ---- IC -----------------------------------------------------------------------

/// ResNet-8 in int8, as its .tflite holds it.
pub struct Ic {
    c: (
        QConv2dParams<16, 27>,
        QConv2dParams<16, 144>,
        QConv2dParams<16, 144>,
    ),
    s2: (
        QConv2dParams<32, 144>,
        QConv2dParams<32, 288>,
        QConv2dParams<32, 16>,
    ),
    s3: (
        QConv2dParams<64, 288>,
        QConv2dParams<64, 576>,
        QConv2dParams<64, 32>,
    ),
    add: [QAddParams; 3],
    pool: (i8, i8),
    dense: QDenseParams<10, 64>,
    softmax: QSoftmaxParams,
}

fn ic_params() -> Ic {
    let f = IC_PARAMS;
    Ic {
        c: (conv(f, "conv2d"), conv(f, "conv2d_1"), conv(f, "conv2d_2")),
        s2: (
            conv(f, "conv2d_3"),
            conv(f, "conv2d_4"),
            conv(f, "conv2d_5"),
        ),
        s3: (
            conv(f, "conv2d_6"),
            conv(f, "conv2d_7"),
            conv(f, "conv2d_8"),
        ),
        add: [add(f, "add"), add(f, "add_1"), add(f, "add_2")],
        pool: (
            scalar(f, "average_pooling2d", "activation_min") as i8,
            scalar(f, "average_pooling2d", "activation_max") as i8,
        ),
        dense: dense(f, "dense"),
        softmax: softmax(f),
    }
}

type Same3 = Conv2dInt8<Kernel<3, 3>, Stride<1, 1>, Pad<1, 1>>;
type Down3 = Conv2dInt8<Kernel<3, 3>, Stride<2, 2>, Pad<0, 0>>;
type Down1 = Conv2dInt8<Kernel<1, 1>, Stride<2, 2>, Pad<0, 0>>;

/// One int8 ResNet-8 inference (no floating point; checked by disassembly).
#[no_mangle]
#[inline(never)]
pub fn sn_int8_ic(m: &Ic, x: &Map<3, 32, 32>, y: &mut [i8; 10]) {
    let mut c0: Map<16, 32, 32> = [[[0; 32]; 32]; 16];
    let mut c1: Map<16, 32, 32> = [[[0; 32]; 32]; 16];
    Same3::forward_into(&m.c.0, x, &mut c0);
    Same3::forward_into(&m.c.1, &c0, &mut c1);
    let mut c2: Map<16, 32, 32> = [[[0; 32]; 32]; 16];
    Same3::forward_into(&m.c.2, &c1, &mut c2);
    add_image_int8_into(&m.add[0], &c0, &c2, &mut c1); // s1 in c1
    let (mut a, mut b, mut s): (Map<32, 16, 16>, Map<32, 16, 16>, Map<32, 16, 16>) = (
        [[[0; 16]; 16]; 32],
        [[[0; 16]; 16]; 32],
        [[[0; 16]; 16]; 32],
    );
    Down3::forward_into(&m.s2.0, &c1, &mut a);
    Same3::forward_into(&m.s2.1, &a, &mut b);
    Down1::forward_into(&m.s2.2, &c1, &mut a);
    add_image_int8_into(&m.add[1], &a, &b, &mut s);
    let (mut a, mut b, mut t): (Map<64, 8, 8>, Map<64, 8, 8>, Map<64, 8, 8>) =
        ([[[0; 8]; 8]; 64], [[[0; 8]; 8]; 64], [[[0; 8]; 8]; 64]);
    Down3::forward_into(&m.s3.0, &s, &mut a);
    Same3::forward_into(&m.s3.1, &a, &mut b);
    Down1::forward_into(&m.s3.2, &s, &mut a);
    add_image_int8_into(&m.add[2], &a, &b, &mut t);
    let v = global_avg_pool_int8(&t, m.pool.0, m.pool.1);
    let mut logits = [0i8; 10];
    dense_int8_into(&m.dense, &v, &mut logits);
    softmax_int8_into(&m.softmax, &logits, y);
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

/// The values of an image, channel-major.
fn flat<const C: usize, const H: usize, const W: usize>(m: &Map<C, H, W>) -> &[i8] {
    m.as_flattened().as_flattened()
}

/// KWS layer by layer (the kernels of [`sn_int8_kws`], not counted): every
/// convolution's output against TFLite Micro's, so that a kernel's error
/// cannot hide in the saturated softmax.
#[inline(never)]
fn kws_layers(m: &Kws, x: &Map<1, 49, 10>) {
    const DW: [&str; 4] = [
        "depthwise_conv2d",
        "depthwise_conv2d_1",
        "depthwise_conv2d_2",
        "depthwise_conv2d_3",
    ];
    const PW: [&str; 4] = ["conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4"];
    let mut a: Map<64, 25, 5> = [[[0; 5]; 25]; 64];
    let mut b: Map<64, 25, 5> = [[[0; 5]; 25]; 64];
    Conv2dInt8::<Kernel<10, 4>, Stride<2, 2>, Pad<4, 1>>::forward_into(&m.conv2d, x, &mut a);
    layer(KWS_IO, "kws", "conv2d", flat(&a));
    for (((d, p), dn), pn) in m.dw.iter().zip(&m.pw).zip(DW).zip(PW) {
        DepthwiseConv2dInt8::<Kernel<3, 3>, Stride<1, 1>, Pad<1, 1>>::forward_into(d, &a, &mut b);
        layer(KWS_IO, "kws", dn, flat(&b));
        Conv2dInt8::<Kernel<1, 1>, Stride<1, 1>, Pad<0, 0>>::forward_into(p, &b, &mut a);
        layer(KWS_IO, "kws", pn, flat(&a));
    }
    let mut pooled: Map<64, 1, 1> = [[[0; 1]; 1]; 64];
    Pool2dInt8::<Kernel<25, 5>, Stride<25, 5>, Pad<0, 0>>::avg_into(&a, -128, 127, &mut pooled);
    let mut v = [0i8; 64];
    for (d, s) in v.iter_mut().zip(flat(&pooled)) {
        *d = *s;
    }
    let mut logits = [0i8; 12];
    dense_int8_into(&m.dense, &v, &mut logits);
    layer(KWS_IO, "kws", "dense", &logits);
}

/// ResNet-8 layer by layer (the kernels of [`sn_int8_ic`], not counted).
#[inline(never)]
fn ic_layers(m: &Ic, x: &Map<3, 32, 32>) {
    let mut c0: Map<16, 32, 32> = [[[0; 32]; 32]; 16];
    let mut c1: Map<16, 32, 32> = [[[0; 32]; 32]; 16];
    let mut c2: Map<16, 32, 32> = [[[0; 32]; 32]; 16];
    Same3::forward_into(&m.c.0, x, &mut c0);
    layer(IC_IO, "ic", "conv2d", flat(&c0));
    Same3::forward_into(&m.c.1, &c0, &mut c1);
    layer(IC_IO, "ic", "conv2d_1", flat(&c1));
    Same3::forward_into(&m.c.2, &c1, &mut c2);
    layer(IC_IO, "ic", "conv2d_2", flat(&c2));
    add_image_int8_into(&m.add[0], &c0, &c2, &mut c1);
    layer(IC_IO, "ic", "add", flat(&c1));
    let (mut a, mut b, mut s): (Map<32, 16, 16>, Map<32, 16, 16>, Map<32, 16, 16>) = (
        [[[0; 16]; 16]; 32],
        [[[0; 16]; 16]; 32],
        [[[0; 16]; 16]; 32],
    );
    Down3::forward_into(&m.s2.0, &c1, &mut a);
    layer(IC_IO, "ic", "conv2d_3", flat(&a));
    Same3::forward_into(&m.s2.1, &a, &mut b);
    layer(IC_IO, "ic", "conv2d_4", flat(&b));
    Down1::forward_into(&m.s2.2, &c1, &mut a);
    layer(IC_IO, "ic", "conv2d_5", flat(&a));
    add_image_int8_into(&m.add[1], &a, &b, &mut s);
    layer(IC_IO, "ic", "add_1", flat(&s));
    let (mut a, mut b, mut t): (Map<64, 8, 8>, Map<64, 8, 8>, Map<64, 8, 8>) =
        ([[[0; 8]; 8]; 64], [[[0; 8]; 8]; 64], [[[0; 8]; 8]; 64]);
    Down3::forward_into(&m.s3.0, &s, &mut a);
    layer(IC_IO, "ic", "conv2d_6", flat(&a));
    Same3::forward_into(&m.s3.1, &a, &mut b);
    layer(IC_IO, "ic", "conv2d_7", flat(&b));
    Down1::forward_into(&m.s3.2, &s, &mut a);
    layer(IC_IO, "ic", "conv2d_8", flat(&a));
    add_image_int8_into(&m.add[2], &a, &b, &mut t);
    layer(IC_IO, "ic", "add_2", flat(&t));
    let v = global_avg_pool_int8(&t, m.pool.0, m.pool.1);
    let mut logits = [0i8; 10];
    dense_int8_into(&m.dense, &v, &mut logits);
    layer(IC_IO, "ic", "dense", &logits);
}

#[entry]
fn main() -> ! {
    // Region 0, empty: the markers' own cost, which .ci/thumb.sh subtracts.
    counted("empty", || ());
    let kws = kws_params();
    let x: [i8; 490] = i8s(KWS_IO, "input.golden", "");
    let mut xk: Map<1, 49, 10> = [[[0; 10]; 49]; 1];
    for (d, s) in xk.as_flattened_mut().as_flattened_mut().iter_mut().zip(&x) {
        *d = *s;
    }
    let mut y = [0i8; 12];
    paint();
    counted("int8_kws", || sn_int8_kws(&kws, &xk, &mut y));
    hprintln!("stack int8_kws {}", painted_depth());
    hprintln!("params int8_kws {}", core::mem::size_of::<Kws>());
    check("kws", &y, KWS_IO);
    kws_layers(&kws, &xk);

    let ic = ic_params();
    let x: [i8; 3072] = i8s(IC_IO, "input.golden", "");
    let mut xi: Map<3, 32, 32> = [[[0; 32]; 32]; 3];
    for (d, s) in xi.as_flattened_mut().as_flattened_mut().iter_mut().zip(&x) {
        *d = *s;
    }
    let mut y = [0i8; 10];
    paint();
    counted("int8_ic", || sn_int8_ic(&ic, &xi, &mut y));
    hprintln!("stack int8_ic {}", painted_depth());
    hprintln!("params int8_ic {}", core::mem::size_of::<Ic>());
    check("ic", &y, IC_IO);
    ic_layers(&ic, &xi);
    // Kept in the binary for the float checker's self-test (outside the
    // counted regions).
    core::hint::black_box(sn_float_probe(core::hint::black_box(2.0)));
    finish()
}
