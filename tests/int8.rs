//! The MLPerf Tiny int8 models (AD, KWS, IC, VWW) through staticnet's int8
//! kernels (`staticnet::quant`), bit for bit against TensorFlow Lite
//! Micro (the `tflite-micro` package's interpreter) and against desktop
//! TensorFlow Lite's reference kernels (`BUILTIN_REF`): the golden input
//! and 100 random int8 inputs per model, every layer's output compared,
//! zero differing elements.
//!
//! Parameters: tests/fixtures/int8/<model>.safetensors, converted from the
//! authors' .tflite files by tools/tflite_to_safetensors.py (weights,
//! biases and the multipliers and shifts it recomputes from the scales).
//! References: tests/fixtures/int8/<model>_io.safetensors, made by
//! tools/make_int8_fixtures.py with both interpreters: every layer's output
//! on the golden input in full, and a checksum of every layer's output on
//! each of the 101 inputs.
//!
//! The models are written here as chains of kernel calls, each naming its
//! layer as the converter does (graph order by kind) and its geometry,
//! which is checked against what the converter read from the .tflite.

use safetensors::{Dtype, SafeTensors};
use staticnet::kernels::{Kernel, Pad, Stride};
use staticnet::quant::{
    add_image_int8_into, dense_int8, dense_int8_into, dense_int8_single_rounding_into,
    flatten_int8, global_avg_pool_int8, softmax_int8, Conv2dInt8, DepthwiseConv2dInt8, OutputStage,
    Pool2dInt8, QAddParams, QConv2dParams, QDenseParams, QDepthwiseParams, QSoftmaxParams,
};

/// A safetensors file read into memory.
struct File {
    bytes: &'static [u8],
    st: SafeTensors<'static>,
}

impl File {
    fn open(name: &str) -> File {
        let path = format!(
            "{}/tests/fixtures/int8/{name}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes: &'static [u8] = Box::leak(
            std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .into_boxed_slice(),
        );
        let st = SafeTensors::deserialize(bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        File { bytes, st }
    }

    fn raw(&self, name: &str, dtype: Dtype) -> &'static [u8] {
        let t = self
            .st
            .tensor(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.dtype(), dtype, "{name}");
        t.data()
    }

    fn i8s(&self, name: &str) -> Vec<i8> {
        self.raw(name, Dtype::I8).iter().map(|&b| b as i8).collect()
    }

    fn i32s(&self, name: &str) -> Vec<i32> {
        let d = self.raw(name, Dtype::I32);
        d.chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    fn u64s(&self, name: &str) -> Vec<u64> {
        let d = self.raw(name, Dtype::I64);
        d.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn scalar(&self, name: &str) -> i32 {
        let v = self.i32s(name);
        assert_eq!(v.len(), 1, "{name}");
        v[0]
    }

    fn layers(&self) -> Vec<String> {
        let (_, meta) = SafeTensors::read_metadata(self.bytes).unwrap();
        let m = meta.metadata().as_ref().expect("metadata");
        m["layers"].split(',').map(String::from).collect()
    }
}

fn array<T: Copy + Default, const N: usize>(v: &[T], what: &str) -> [T; N] {
    assert_eq!(
        v.len(),
        N,
        "{what}: {} values in the file, {N} in the model",
        v.len()
    );
    let mut a = [T::default(); N];
    a.copy_from_slice(v);
    a
}

fn rows<const O: usize, const K: usize>(v: &[i8], what: &str) -> Box<[[i8; K]; O]> {
    assert_eq!(
        v.len(),
        O * K,
        "{what}: {} values in the file, {O}×{K} in the model",
        v.len()
    );
    let mut w = Box::new([[0i8; K]; O]);
    for (row, chunk) in w.iter_mut().zip(v.chunks_exact(K)) {
        row.copy_from_slice(chunk);
    }
    w
}

fn to_i8(v: i32, what: &str) -> i8 {
    i8::try_from(v).unwrap_or_else(|_| panic!("{what}: {v} is not an int8"))
}

fn stage<const O: usize>(f: &File, name: &str) -> OutputStage<O> {
    OutputStage {
        multiplier: array(&f.i32s(&format!("{name}.multiplier")), name),
        shift: array(&f.i32s(&format!("{name}.shift")), name),
        output_zero_point: f.scalar(&format!("{name}.output_zero_point")),
        min: to_i8(f.scalar(&format!("{name}.activation_min")), name),
        max: to_i8(f.scalar(&format!("{name}.activation_max")), name),
    }
}

/// The geometry the model is written with equals the .tflite's.
fn geometry(f: &File, name: &str, kernel: [usize; 2], stride: [usize; 2], pad: [usize; 2]) {
    for (what, want) in [("kernel", kernel), ("stride", stride), ("pad", pad)] {
        let got = f.i32s(&format!("{name}.{what}"));
        assert_eq!(
            got,
            want.map(|v| v as i32),
            "{name}.{what}: the file has {got:?}, the model {want:?}"
        );
    }
}

/// Which interpreter's outputs a run is held to. They differ in one
/// place: desktop TFLite requantizes `FULLY_CONNECTED` with one rounding
/// (ruy's), TFLite Micro with its reference kernel's two, as all its other
/// layers (tools/make_int8_fixtures.py prints where they differ).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reference {
    /// The `tflite-micro` package's interpreter: what firmware runs.
    Micro,
    /// `tf.lite.Interpreter` with `OpResolverType.BUILTIN_REF`.
    Lite,
}

impl Reference {
    fn suffix(self) -> &'static str {
        match self {
            Reference::Micro => "_micro",
            Reference::Lite => "",
        }
    }
}

/// Compares each layer's output with the reference's as the model runs.
struct Check<'a> {
    io: &'a File,
    reference: Reference,
    sample: usize,
    seen: Vec<String>,
    failures: Vec<String>,
}

/// `Σ (byte_i + 1) · M^i mod 2⁶⁴`, tools/make_int8_fixtures.py's checksum.
fn checksum(v: &[i8]) -> u64 {
    const M: u64 = 0x100000001B3;
    let (mut h, mut p) = (0u64, 1u64);
    for &b in v {
        h = h.wrapping_add((b as u8 as u64 + 1).wrapping_mul(p));
        p = p.wrapping_mul(M);
    }
    h
}

impl Check<'_> {
    fn layer(&mut self, name: &str, y: &[i8]) {
        self.seen.push(name.to_string());
        if self.sample == 0 {
            let want = self
                .io
                .i8s(&format!("{name}.golden{}", self.reference.suffix()));
            assert_eq!(want.len(), y.len(), "{name}: size");
            let diff = y.iter().zip(&want).filter(|(a, b)| a != b).count();
            if let Some(i) = y.iter().zip(&want).position(|(a, b)| a != b) {
                self.failures.push(format!(
                    "golden input, {name}: {diff} of {} values differ, the first at {i}: {} vs {:?}'s {}",
                    y.len(),
                    y[i],
                    self.reference,
                    want[i]
                ));
            }
        }
        let want = self
            .io
            .u64s(&format!("{name}.checksum{}", self.reference.suffix()))[self.sample];
        if checksum(y) != want {
            self.failures.push(format!(
                "input {}, {name}: output differs from {:?}'s",
                self.sample, self.reference
            ));
        }
    }
}

fn flat<const C: usize, const H: usize, const W: usize>(x: &[[[i8; W]; H]; C]) -> &[i8] {
    x.as_flattened().as_flattened()
}

// --- one helper per layer kind: parameters from the file, the kernel, the check

#[allow(clippy::too_many_arguments)]
fn conv<
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    f: &File,
    ck: &mut Check,
    name: &str,
    x: &[[[i8; W]; H]; C],
) -> [[[i8; OW]; OH]; O] {
    geometry(f, name, [KH, KW], [SH, SW], [PT, PL]);
    let p = Box::new(QConv2dParams {
        weight: *rows::<O, K>(&f.i8s(&format!("{name}.weight")), name),
        bias: array(&f.i32s(&format!("{name}.bias")), name),
        input_zero_point: f.scalar(&format!("{name}.input_zero_point")),
        out: stage(f, name),
    });
    let y = Conv2dInt8::<Kernel<KH, KW>, Stride<SH, SW>, Pad<PT, PL>>::forward(&p, x);
    ck.layer(name, flat(&y));
    y
}

#[allow(clippy::too_many_arguments)]
fn dw<
    const SH: usize,
    const SW: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    f: &File,
    ck: &mut Check,
    name: &str,
    x: &[[[i8; W]; H]; C],
) -> [[[i8; OW]; OH]; C] {
    // Every depthwise layer of these models is 3×3, padding same: (1, 1)
    // before at stride 1, (0, 0) at stride 2 on an even size.
    let pad = if SH == 1 { 1 } else { 0 };
    geometry(f, name, [3, 3], [SH, SW], [pad, pad]);
    let p = Box::new(QDepthwiseParams {
        weight: *rows::<C, 9>(&f.i8s(&format!("{name}.weight")), name),
        bias: array(&f.i32s(&format!("{name}.bias")), name),
        input_zero_point: f.scalar(&format!("{name}.input_zero_point")),
        out: stage(f, name),
    });
    let y = if SH == 1 {
        DepthwiseConv2dInt8::<Kernel<3, 3>, Stride<SH, SW>, Pad<1, 1>>::forward(&p, x)
    } else {
        DepthwiseConv2dInt8::<Kernel<3, 3>, Stride<SH, SW>, Pad<0, 0>>::forward(&p, x)
    };
    ck.layer(name, flat(&y));
    y
}

fn dense<const I: usize, const O: usize>(
    f: &File,
    ck: &mut Check,
    name: &str,
    x: &[i8; I],
) -> [i8; O] {
    let p = Box::new(QDenseParams {
        weight: *rows::<O, I>(&f.i8s(&format!("{name}.weight")), name),
        bias: array(&f.i32s(&format!("{name}.bias")), name),
        input_zero_point: f.scalar(&format!("{name}.input_zero_point")),
        out: stage(f, name),
    });
    let mut y = [0; O];
    match ck.reference {
        Reference::Micro => dense_int8_into(&p, x, &mut y),
        Reference::Lite => dense_int8_single_rounding_into(&p, x, &mut y),
    }
    ck.layer(name, &y);
    y
}

fn add<const C: usize, const H: usize, const W: usize>(
    f: &File,
    ck: &mut Check,
    name: &str,
    a: &[[[i8; W]; H]; C],
    b: &[[[i8; W]; H]; C],
) -> [[[i8; W]; H]; C] {
    let s = |k: &str| f.scalar(&format!("{name}.{k}"));
    let p = QAddParams {
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
        min: to_i8(s("activation_min"), name),
        max: to_i8(s("activation_max"), name),
    };
    let mut y = [[[0; W]; H]; C];
    add_image_int8_into(&p, a, b, &mut y);
    ck.layer(name, flat(&y));
    y
}

/// An `AVERAGE_POOL_2D` over the whole map as `GlobalAvgPool`, then the
/// `RESHAPE` to a vector (`flatten`), which moves nothing.
fn global_pool<const C: usize, const H: usize, const W: usize>(
    f: &File,
    ck: &mut Check,
    x: &[[[i8; W]; H]; C],
) -> [i8; C] {
    let name = "average_pooling2d";
    geometry(f, name, [H, W], [H, W], [0, 0]);
    let lo = to_i8(f.scalar(&format!("{name}.activation_min")), name);
    let hi = to_i8(f.scalar(&format!("{name}.activation_max")), name);
    let y = global_avg_pool_int8(x, lo, hi);
    ck.layer(name, &y);
    ck.layer("flatten", &y);
    y
}

fn softmax<const N: usize>(f: &File, ck: &mut Check, x: &[i8; N]) -> [i8; N] {
    let p = QSoftmaxParams {
        input_multiplier: f.scalar("softmax.input_multiplier"),
        input_left_shift: f.scalar("softmax.input_left_shift") as u32,
        diff_min: f.scalar("softmax.diff_min"),
    };
    let y = softmax_int8(&p, x);
    ck.layer("softmax", &y);
    y
}

// --- the four models ---------------------------------------------------

/// AD: the FC autoencoder, 640 → 4 × 128 → 8 → 4 × 128 → 640, ReLU fused.
fn ad(f: &File, ck: &mut Check, x: &[i8; 640]) -> Vec<i8> {
    let x: [i8; 128] = dense(f, ck, "dense", x);
    let x: [i8; 128] = dense(f, ck, "dense_1", &x);
    let x: [i8; 128] = dense(f, ck, "dense_2", &x);
    let x: [i8; 128] = dense(f, ck, "dense_3", &x);
    let x: [i8; 8] = dense(f, ck, "dense_4", &x);
    let x: [i8; 128] = dense(f, ck, "dense_5", &x);
    let x: [i8; 128] = dense(f, ck, "dense_6", &x);
    let x: [i8; 128] = dense(f, ck, "dense_7", &x);
    let x: [i8; 128] = dense(f, ck, "dense_8", &x);
    let y: [i8; 640] = dense(f, ck, "dense_9", &x);
    y.to_vec()
}

type Map<const C: usize, const H: usize, const W: usize> = [[[i8; W]; H]; C];

/// KWS: DS-CNN, Conv2d 64 (10×4, stride 2, same) + 4 × [depthwise 3×3 +
/// pointwise], AvgPool (25, 5), Dense 12, Softmax.
fn kws(f: &File, ck: &mut Check, x: &Map<1, 49, 10>) -> Vec<i8> {
    // same: total padding (25 − 1)·2 + 10 − 49 = 9 rows (4 before),
    // (5 − 1)·2 + 4 − 10 = 2 columns (1 before).
    let x: Map<64, 25, 5> = conv::<10, 4, 2, 2, 4, 1, _, _, _, _, _, _, 40>(f, ck, "conv2d", x);
    let x: Map<64, 25, 5> = dw::<1, 1, _, _, _, _, _>(f, ck, "depthwise_conv2d", &x);
    let x: Map<64, 25, 5> = conv::<1, 1, 1, 1, 0, 0, _, _, _, _, _, _, 64>(f, ck, "conv2d_1", &x);
    let x: Map<64, 25, 5> = dw::<1, 1, _, _, _, _, _>(f, ck, "depthwise_conv2d_1", &x);
    let x: Map<64, 25, 5> = conv::<1, 1, 1, 1, 0, 0, _, _, _, _, _, _, 64>(f, ck, "conv2d_2", &x);
    let x: Map<64, 25, 5> = dw::<1, 1, _, _, _, _, _>(f, ck, "depthwise_conv2d_2", &x);
    let x: Map<64, 25, 5> = conv::<1, 1, 1, 1, 0, 0, _, _, _, _, _, _, 64>(f, ck, "conv2d_3", &x);
    let x: Map<64, 25, 5> = dw::<1, 1, _, _, _, _, _>(f, ck, "depthwise_conv2d_3", &x);
    let x: Map<64, 25, 5> = conv::<1, 1, 1, 1, 0, 0, _, _, _, _, _, _, 64>(f, ck, "conv2d_4", &x);
    // The pool through the windowed kernel (the other models use the
    // global one), then Flatten.
    geometry(f, "average_pooling2d", [25, 5], [25, 5], [0, 0]);
    let mut pooled: Map<64, 1, 1> = [[[0; 1]; 1]; 64];
    Pool2dInt8::<Kernel<25, 5>, Stride<25, 5>, Pad<0, 0>>::avg_into(&x, -128, 127, &mut pooled);
    ck.layer("average_pooling2d", flat(&pooled));
    let v: [i8; 64] = flatten_int8(&pooled);
    ck.layer("flatten", &v);
    let logits: [i8; 12] = dense(f, ck, "dense", &v);
    softmax(f, ck, &logits).to_vec()
}

/// IC: ResNet-8, three stacks with residual Adds (1×1 stride-2 projection
/// shortcuts on the last two), global average pool, Dense 10, Softmax.
fn ic(f: &File, ck: &mut Check, x: &Map<3, 32, 32>) -> Vec<i8> {
    let c0: Map<16, 32, 32> = conv::<3, 3, 1, 1, 1, 1, _, _, _, _, _, _, 27>(f, ck, "conv2d", x);
    let c1: Map<16, 32, 32> =
        conv::<3, 3, 1, 1, 1, 1, _, _, _, _, _, _, 144>(f, ck, "conv2d_1", &c0);
    let c2: Map<16, 32, 32> =
        conv::<3, 3, 1, 1, 1, 1, _, _, _, _, _, _, 144>(f, ck, "conv2d_2", &c1);
    let s1 = add(f, ck, "add", &c0, &c2);
    // stride 2, same on 32: total (16 − 1)·2 + 3 − 32 = 1 → 0 before.
    let c3: Map<32, 16, 16> =
        conv::<3, 3, 2, 2, 0, 0, _, _, _, _, _, _, 144>(f, ck, "conv2d_3", &s1);
    let c4: Map<32, 16, 16> =
        conv::<3, 3, 1, 1, 1, 1, _, _, _, _, _, _, 288>(f, ck, "conv2d_4", &c3);
    let c5: Map<32, 16, 16> =
        conv::<1, 1, 2, 2, 0, 0, _, _, _, _, _, _, 16>(f, ck, "conv2d_5", &s1);
    let s2 = add(f, ck, "add_1", &c5, &c4);
    let c6: Map<64, 8, 8> = conv::<3, 3, 2, 2, 0, 0, _, _, _, _, _, _, 288>(f, ck, "conv2d_6", &s2);
    let c7: Map<64, 8, 8> = conv::<3, 3, 1, 1, 1, 1, _, _, _, _, _, _, 576>(f, ck, "conv2d_7", &c6);
    let c8: Map<64, 8, 8> = conv::<1, 1, 2, 2, 0, 0, _, _, _, _, _, _, 32>(f, ck, "conv2d_8", &s2);
    let s3 = add(f, ck, "add_2", &c8, &c7);
    let v = global_pool(f, ck, &s3);
    let logits: [i8; 10] = dense(f, ck, "dense", &v);
    softmax(f, ck, &logits).to_vec()
}

/// VWW: MobileNetV1 α = 0.25 at 96×96: Conv2d 8 stride 2 + 13
/// depthwise-separable blocks, global average pool, Dense 2, Softmax.
fn vww(f: &File, ck: &mut Check, x: &Map<3, 96, 96>) -> Vec<i8> {
    macro_rules! block {
        ($x:expr, $s:literal, $dw:literal, $pw:literal, $c:literal, $o:literal, $h:literal) => {{
            let d: Map<$c, $h, $h> = dw::<$s, $s, _, _, _, _, _>(f, ck, $dw, $x);
            let p: Map<$o, $h, $h> = conv::<1, 1, 1, 1, 0, 0, _, _, _, _, _, _, $c>(f, ck, $pw, &d);
            p
        }};
    }
    let x: Map<8, 48, 48> = conv::<3, 3, 2, 2, 0, 0, _, _, _, _, _, _, 27>(f, ck, "conv2d", x);
    let x = block!(&x, 1, "depthwise_conv2d", "conv2d_1", 8, 16, 48);
    let x = block!(&x, 2, "depthwise_conv2d_1", "conv2d_2", 16, 32, 24);
    let x = block!(&x, 1, "depthwise_conv2d_2", "conv2d_3", 32, 32, 24);
    let x = block!(&x, 2, "depthwise_conv2d_3", "conv2d_4", 32, 64, 12);
    let x = block!(&x, 1, "depthwise_conv2d_4", "conv2d_5", 64, 64, 12);
    let x = block!(&x, 2, "depthwise_conv2d_5", "conv2d_6", 64, 128, 6);
    let x = block!(&x, 1, "depthwise_conv2d_6", "conv2d_7", 128, 128, 6);
    let x = block!(&x, 1, "depthwise_conv2d_7", "conv2d_8", 128, 128, 6);
    let x = block!(&x, 1, "depthwise_conv2d_8", "conv2d_9", 128, 128, 6);
    let x = block!(&x, 1, "depthwise_conv2d_9", "conv2d_10", 128, 128, 6);
    let x = block!(&x, 1, "depthwise_conv2d_10", "conv2d_11", 128, 128, 6);
    let x = block!(&x, 2, "depthwise_conv2d_11", "conv2d_12", 128, 256, 3);
    let x = block!(&x, 1, "depthwise_conv2d_12", "conv2d_13", 256, 256, 3);
    let v = global_pool(f, ck, &x);
    let logits: [i8; 2] = dense(f, ck, "dense", &v);
    softmax(f, ck, &logits).to_vec()
}

// --- the runner ----------------------------------------------------------

/// SplitMix64 (Vigna), as tools/make_int8_fixtures.py draws the random
/// inputs: the top byte of each output, one per value.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
}

const RANDOM_INPUTS: usize = 100;

/// Runs `forward` on the golden input and the 100 random ones and checks
/// every layer of each against TFLite.
fn bit_exact<const N: usize, X>(
    model: &str,
    reference: Reference,
    forward: impl Fn(&File, &mut Check, &X) -> Vec<i8>,
    input: impl Fn(&[i8; N]) -> X,
) {
    let params = File::open(model);
    let io = File::open(&format!("{model}_io"));
    let layers = io.layers();
    let golden: [i8; N] = array(&io.i8s("input.golden"), "input.golden");
    let outputs = io.i8s(&format!("output{}", reference.suffix()));
    let n_out = outputs.len() / (RANDOM_INPUTS + 1);
    let mut rng = SplitMix64(13);
    let mut failures = Vec::new();
    for sample in 0..=RANDOM_INPUTS {
        let x = if sample == 0 {
            golden
        } else {
            core::array::from_fn(|_| (rng.next() >> 56) as u8 as i8)
        };
        let mut ck = Check {
            io: &io,
            reference,
            sample,
            seen: Vec::new(),
            failures: Vec::new(),
        };
        let y = forward(&params, &mut ck, &input(&x));
        assert_eq!(
            ck.seen, layers,
            "{model}: the layers run are not the .tflite's"
        );
        if y[..] != outputs[sample * n_out..(sample + 1) * n_out] {
            ck.failures.push(format!(
                "input {sample}: the output differs from {reference:?}'s"
            ));
        }
        failures.extend(ck.failures);
    }
    assert!(
        failures.is_empty(),
        "{model} vs {reference:?}: {} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A flat `[C·H·W]` input as an image.
fn image<const C: usize, const H: usize, const W: usize, const N: usize>(
    x: &[i8; N],
) -> Map<C, H, W> {
    let mut m = [[[0; W]; H]; C];
    m.as_flattened_mut().as_flattened_mut().copy_from_slice(x);
    m
}

#[test]
fn ad_int8_matches_tflite_micro_bit_for_bit() {
    bit_exact::<640, [i8; 640]>("ad", Reference::Micro, ad, |x| *x);
}

#[test]
fn ad_int8_matches_tflite_bit_for_bit() {
    bit_exact::<640, [i8; 640]>("ad", Reference::Lite, ad, |x| *x);
}

#[test]
fn kws_int8_matches_tflite_micro_bit_for_bit() {
    bit_exact::<490, Map<1, 49, 10>>("kws", Reference::Micro, kws, image);
}

#[test]
fn kws_int8_matches_tflite_bit_for_bit() {
    bit_exact::<490, Map<1, 49, 10>>("kws", Reference::Lite, kws, image);
}

#[test]
fn ic_int8_matches_tflite_micro_bit_for_bit() {
    bit_exact::<3072, Map<3, 32, 32>>("ic", Reference::Micro, ic, image);
}

#[test]
fn ic_int8_matches_tflite_bit_for_bit() {
    bit_exact::<3072, Map<3, 32, 32>>("ic", Reference::Lite, ic, image);
}

#[test]
fn vww_int8_matches_tflite_micro_bit_for_bit() {
    bit_exact::<27648, Map<3, 96, 96>>("vww", Reference::Micro, vww, image);
}

#[test]
fn vww_int8_matches_tflite_bit_for_bit() {
    bit_exact::<27648, Map<3, 96, 96>>("vww", Reference::Lite, vww, image);
}

/// The checks can fail: a model with one multiplier off by one in its
/// first layer differs from TFLite (the test above would report it).
#[test]
fn a_wrong_multiplier_is_caught() {
    let f = File::open("ad");
    let io = File::open("ad_io");
    let x: [i8; 640] = array(&io.i8s("input.golden"), "input.golden");
    let mut p = Box::new(QDenseParams::<128, 640> {
        weight: *rows(&f.i8s("dense.weight"), "dense"),
        bias: array(&f.i32s("dense.bias"), "dense"),
        input_zero_point: f.scalar("dense.input_zero_point"),
        out: stage(&f, "dense"),
    });
    assert_eq!(dense_int8(&p, &x).to_vec(), io.i8s("dense.golden_micro"));
    for m in p.out.multiplier.iter_mut() {
        *m += 1 << 27;
    }
    assert_ne!(dense_int8(&p, &x).to_vec(), io.i8s("dense.golden_micro"));
}
