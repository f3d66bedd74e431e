//! The MLPerf Tiny int8 models (AD, KWS, IC, VWW) through the int8 form
//! `model!` generates (`#[int8 = "file"]`), from the float DSL of
//! tests/mlperf/<m>.rs, bit for bit against TensorFlow Lite Micro (the
//! `tflite-micro` package's interpreter) and desktop TensorFlow Lite's
//! reference kernels (`BUILTIN_REF`): the golden input and 100 random int8
//! inputs per model, every layer's output compared, zero differing
//! elements. The references are tests/int8.rs's
//! (tests/fixtures/int8/<model>_io.safetensors, tools/make_int8_fixtures.py);
//! the parameters are read and checked by the macro at compile time from
//! tests/fixtures/int8/<model>.safetensors (tools/tflite_to_safetensors.py).
//!
//! Each DSL (tests/mlperf/<m>_int8.rs, included below) is
//! tests/mlperf/<m>.rs's float one plus the `#[int8]`
//! attribute, with one change where TFLite's graph differs: the classifiers'
//! `dense: Dense(n, activation = softmax)` is written `dense: Dense(n)`,
//! `softmax: Softmax` (TFLite's int8 softmax is an operator of its own with
//! its own quantization). `dsl_is_the_float_one` checks that line by line.
//! BatchNorm layers are folded (the converter folded them into the layer
//! before) and Relu layers are that layer's clamp, which the macro checks
//! against the file's `activation_min`/`activation_max`.

use safetensors::{Dtype, SafeTensors};
use staticnet::model;
use staticnet::quant::Interpreter;

// The four models in their own files (tests/mlperf/<m>_int8.rs), which the
// Cortex-M binary (tests/thumb/src/int8.rs: KWS, IC) and benches/int8.rs
// include too.
include!("mlperf/ad_int8.rs");
include!("mlperf/kws_int8.rs");
include!("mlperf/ic_int8.rs");
include!("mlperf/vww_int8.rs");

/// A safetensors file read into memory.
struct File {
    bytes: Vec<u8>,
}

impl File {
    fn open(name: &str) -> File {
        let path = format!(
            "{}/tests/fixtures/int8/{name}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        File { bytes }
    }

    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("safetensors")
    }

    fn i8s(&self, name: &str) -> Vec<i8> {
        let st = self.st();
        let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.dtype(), Dtype::I8, "{name}");
        t.data().iter().map(|&b| b as i8).collect()
    }

    fn u64s(&self, name: &str) -> Vec<u64> {
        let st = self.st();
        let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.dtype(), Dtype::I64, "{name}");
        t.data()
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn layers(&self) -> Vec<String> {
        let (_, meta) = SafeTensors::read_metadata(&self.bytes).unwrap();
        let m = meta.metadata().as_ref().expect("metadata");
        m["layers"].split(',').map(String::from).collect()
    }
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

/// What one generated int8 model gives the runner.
trait Int8Model {
    type Layers;
    const LAYERS: &'static [&'static str];
    fn layers() -> Box<Self::Layers>;
    /// `forward_layers` on a flat input, then every layer's output by name
    /// and `forward`'s output.
    fn run(x: &[i8], layers: &mut Self::Layers, interpreter: Interpreter) -> Vec<i8>;
    fn get<'a>(layers: &'a Self::Layers, name: &str) -> Option<&'a [i8]>;
}

macro_rules! int8_model {
    ($net:ident, $layers:ident, $zero:expr) => {
        impl Int8Model for $net {
            type Layers = $layers;
            const LAYERS: &'static [&'static str] = $net::LAYERS;
            fn layers() -> Box<$layers> {
                Box::new($layers::zeroed())
            }
            fn run(x: &[i8], layers: &mut $layers, interpreter: Interpreter) -> Vec<i8> {
                let mut input = Box::new($zero);
                fill(&mut *input, x);
                let net = $net::weights();
                net.forward_layers(&input, layers, interpreter);
                let y = net.forward(&input);
                flat_of(&y).to_vec()
            }
            fn get<'a>(layers: &'a $layers, name: &str) -> Option<&'a [i8]> {
                layers.get(name)
            }
        }
    };
}

/// A flat input into the model's input type.
fn fill<X: AsFlatMut + ?Sized>(x: &mut X, v: &[i8]) {
    x.as_flat_mut().copy_from_slice(v);
}

trait AsFlatMut {
    fn as_flat_mut(&mut self) -> &mut [i8];
}
impl<const N: usize> AsFlatMut for [i8; N] {
    fn as_flat_mut(&mut self) -> &mut [i8] {
        self
    }
}
impl<const C: usize, const H: usize, const W: usize> AsFlatMut for [[[i8; W]; H]; C] {
    fn as_flat_mut(&mut self) -> &mut [i8] {
        self.as_flattened_mut().as_flattened_mut()
    }
}
fn flat_of<const N: usize>(y: &[i8; N]) -> &[i8] {
    y
}

int8_model!(
    AnomalyAutoencoderInt8,
    AnomalyAutoencoderInt8Layers,
    [0; 640]
);
int8_model!(KwsDsCnnInt8, KwsDsCnnInt8Layers, [[[0; 10]; 49]; 1]);
int8_model!(ResNet8Int8, ResNet8Int8Layers, [[[0; 32]; 32]; 3]);
int8_model!(MobileNetVwwInt8, MobileNetVwwInt8Layers, [[[0; 96]; 96]; 3]);

/// Runs the golden input and the 100 random ones through `M`'s
/// `forward_layers` as `interpreter` and checks every layer of each
/// against that interpreter's, and `forward`'s output (TFLite Micro's
/// arithmetic) against Micro's.
fn bit_exact<M: Int8Model>(model: &str, interpreter: Interpreter) {
    let io = File::open(&format!("{model}_io"));
    assert_eq!(
        M::LAYERS,
        io.layers(),
        "{model}: the generated model's layers are not the .tflite's"
    );
    let suffix = match interpreter {
        Interpreter::Micro => "_micro",
        Interpreter::Lite => "",
    };
    let golden = io.i8s("input.golden");
    let outputs = io.i8s(&format!("output{suffix}"));
    let micro_outputs = io.i8s("output_micro");
    let n_out = outputs.len() / (RANDOM_INPUTS + 1);
    let mut rng = SplitMix64(13);
    let mut layers = M::layers();
    let mut failures = Vec::new();
    let mut compared = 0usize;
    for sample in 0..=RANDOM_INPUTS {
        let x: Vec<i8> = if sample == 0 {
            golden.clone()
        } else {
            (0..golden.len())
                .map(|_| (rng.next() >> 56) as u8 as i8)
                .collect()
        };
        let y = M::run(&x, &mut layers, interpreter);
        for name in M::LAYERS {
            let got = M::get(&layers, name).expect("a layer of LAYERS");
            if sample == 0 {
                let want = io.i8s(&format!("{name}.golden{suffix}"));
                assert_eq!(want.len(), got.len(), "{name}: size");
                let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
                compared += got.len();
                if diff > 0 {
                    failures.push(format!(
                        "golden input, {name}: {diff} of {} values differ",
                        got.len()
                    ));
                }
            }
            let want = io.u64s(&format!("{name}.checksum{suffix}"))[sample];
            if checksum(got) != want {
                failures.push(format!(
                    "input {sample}, {name}: differs from {interpreter:?}"
                ));
            }
        }
        let last = M::get(&layers, M::LAYERS[M::LAYERS.len() - 1]).expect("output");
        if last != &outputs[sample * n_out..(sample + 1) * n_out] {
            failures.push(format!(
                "input {sample}: output differs from {interpreter:?}"
            ));
        }
        if y[..] != micro_outputs[sample * n_out..(sample + 1) * n_out] {
            failures.push(format!("input {sample}: `forward` differs from Micro"));
        }
    }
    assert!(compared > 0);
    assert!(
        failures.is_empty(),
        "{model} vs {interpreter:?}: {} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ad_int8_model_matches_tflite_micro_bit_for_bit() {
    bit_exact::<AnomalyAutoencoderInt8>("ad", Interpreter::Micro);
}

#[test]
fn ad_int8_model_matches_tflite_bit_for_bit() {
    bit_exact::<AnomalyAutoencoderInt8>("ad", Interpreter::Lite);
}

#[test]
fn kws_int8_model_matches_tflite_micro_bit_for_bit() {
    bit_exact::<KwsDsCnnInt8>("kws", Interpreter::Micro);
}

#[test]
fn kws_int8_model_matches_tflite_bit_for_bit() {
    bit_exact::<KwsDsCnnInt8>("kws", Interpreter::Lite);
}

#[test]
fn ic_int8_model_matches_tflite_micro_bit_for_bit() {
    bit_exact::<ResNet8Int8>("ic", Interpreter::Micro);
}

#[test]
fn ic_int8_model_matches_tflite_bit_for_bit() {
    bit_exact::<ResNet8Int8>("ic", Interpreter::Lite);
}

#[test]
fn vww_int8_model_matches_tflite_micro_bit_for_bit() {
    bit_exact::<MobileNetVwwInt8>("vww", Interpreter::Micro);
}

#[test]
fn vww_int8_model_matches_tflite_bit_for_bit() {
    bit_exact::<MobileNetVwwInt8>("vww", Interpreter::Lite);
}

/// The lines of the first `model!` in `path` (comments, attributes and
/// blank lines dropped, each trimmed).
fn dsl_lines(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let body = &text[text.find("model! {").expect("a model!")..];
    body.lines()
        .map(|l| l.split("//").next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take_while(|l| l != "}")
        .collect()
}

/// tests/mlperf/<m>_int8.rs' models are tests/mlperf/<m>.rs's float DSL,
/// but for the one difference TFLite's graph has: a classifier's fused
/// softmax is its own layer.
#[test]
fn dsl_is_the_float_one() {
    for m in ["ad", "kws", "ic", "vww"] {
        let ours = dsl_lines(&format!("tests/mlperf/{m}_int8.rs"));
        let float = dsl_lines(&format!("tests/mlperf/{m}.rs"));
        let mut want = Vec::new();
        for l in float {
            match l.strip_suffix(", activation = softmax),") {
                Some(head) => {
                    want.push(format!("{head}),"));
                    want.push("softmax: Softmax,".to_string());
                }
                None => want.push(l),
            }
        }
        assert_eq!(ours, want, "{m}");
    }
}

/// The checks can fail: the generated KWS with one multiplier of its last
/// convolution off by 2²⁷ differs from TFLite Micro on the golden input.
#[test]
fn a_wrong_multiplier_is_caught() {
    let io = File::open("kws_io");
    let mut x = [[[0i8; 10]; 49]; 1];
    fill(&mut x, &io.i8s("input.golden"));
    let want = io.i8s("conv2d_4.golden_micro");
    let mut net = Box::new(KwsDsCnnInt8::WEIGHTS);
    let mut layers = KwsDsCnnInt8::layers();
    net.forward_layers(&x, &mut layers, Interpreter::Micro);
    assert_eq!(layers.get("conv2d_4").unwrap(), &want[..]);
    net.conv2d_4.out.multiplier[0] += 1 << 27;
    net.forward_layers(&x, &mut layers, Interpreter::Micro);
    assert_ne!(layers.get("conv2d_4").unwrap(), &want[..]);
}

/// `quantize_input` is TFLite's `QUANTIZE` (round half away from zero,
/// clamp) at the file's input scale and zero point, checked on values
/// worked by hand: KWS's input has scale 0.5847029 and zero point 83.
#[test]
fn quantize_input_and_dequantize_output_by_hand() {
    assert_eq!(KwsDsCnnInt8::INPUT_SCALE, 0.5847029);
    assert_eq!(KwsDsCnnInt8::INPUT_ZERO_POINT, 83);
    let s = KwsDsCnnInt8::INPUT_SCALE;
    let mut x = [[[0.0f32; 10]; 49]; 1];
    // 0 → 83; 1.5·s → round(1.5) = 2 → 85; −2.5·s → −3 → 80; huge → 127;
    // −huge → −128.
    x[0][0][..5].copy_from_slice(&[0.0, 1.5 * s, -2.5 * s, 1e6, -1e6]);
    let q = KwsDsCnnInt8::quantize_input(&x);
    assert_eq!(q[0][0][..5], [83, 85, 80, 127, -128]);
    // The output is the softmax's: scale 1/256, zero point −128.
    assert_eq!(KwsDsCnnInt8::OUTPUT_SCALE, 1.0 / 256.0);
    assert_eq!(KwsDsCnnInt8::OUTPUT_ZERO_POINT, -128);
    let p = KwsDsCnnInt8::dequantize_output(&[-128, 127, 0, -64, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(p[0], 0.0);
    assert_eq!(p[1], 255.0 / 256.0);
    assert_eq!(p[3], 0.25);
}
