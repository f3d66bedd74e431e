//! The int8 forward (`#[int8]`, TFLite Micro's arithmetic) beside the f32
//! forward of the same MLPerf Tiny model, batch 1, in one binary: KWS, AD
//! and IC. KWS and IC come from tests/mlperf/<m>_int8.rs (the DSL files
//! tests/int8_model.rs and the boards use; the f32 model is the same DSL,
//! the softmax a layer of its own), AD from tests/mlperf/ad.rs plus its
//! `#[int8]` model below; the f32 models run their authors' converted
//! weights (tests/fixtures/mlperf/), the int8 ones the quantized file
//! (tests/fixtures/int8/). Inputs: the golden ones (tests/fixtures/int8/
//! <m>_io.safetensors; the f32 model gets it dequantized). Setup checks the
//! int8 output against TFLite Micro's before timing.
//!
//! Times are the benchmark thread's CPU time (`common::ThreadCpuTime`), as
//! benches/mlperf.rs. Run: `cargo bench --bench int8`, and with
//! `RUSTFLAGS="-C target-cpu=native"`; BENCHMARKS.md "int8 on x86".

mod common;
use common::ThreadCpuTime;
use criterion::{criterion_group, Criterion};
use staticnet::{model, Model, Tensor, Weights, Zeroable};
use std::hint::black_box;
use std::time::Duration;

// The int8 DSL files (their float forms are the same models, the softmax a
// layer of its own).
include!("../tests/mlperf/kws_int8.rs");
include!("../tests/mlperf/ad_int8.rs");
include!("../tests/mlperf/ic_int8.rs");

/// A fixture's tensor `name` as raw bytes.
fn tensor(bytes: &[u8], name: &str) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).expect("fixture");
    st.tensor(name).expect("tensor").data().to_vec()
}

/// The golden int8 input of `model` and TFLite Micro's output for it.
fn golden(model: &str) -> (Vec<i8>, Vec<i8>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/int8");
    let io = std::fs::read(format!("{dir}/{model}_io.safetensors")).expect("io fixture");
    let i8s = |n: &str| tensor(&io, n).iter().map(|&b| b as i8).collect::<Vec<i8>>();
    let out = i8s("output_micro");
    let x = i8s("input.golden");
    (x, out[..out.len() / 101].to_vec())
}

/// The float model with its authors' weights.
fn float<M: Model<f32> + Weights<f32> + Zeroable>(case: &str) -> Box<M> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mlperf");
    let bytes = std::fs::read(format!("{dir}/{case}.safetensors")).expect("weights");
    M::boxed_from_safetensors_with(&bytes, Default::default()).unwrap_or_else(|e| panic!("{e}"))
}

macro_rules! pair {
    ($c:expr, $case:literal, $float:ty, $int8:ident, $x8:expr) => {{
        let (x, want) = golden($case);
        let mut x8 = $x8;
        x8.as_flattened_mut_().copy_from_slice(&x);
        let net8 = $int8::weights();
        assert_eq!(
            net8.forward(&x8)[..],
            want[..],
            "{}: not TFLite Micro's",
            $case
        );
        // The f32 model on the same input, dequantized.
        let xf: Vec<f32> = x
            .iter()
            .map(|&q| {
                staticnet::quant::dequantize_f32(q, $int8::INPUT_SCALE, $int8::INPUT_ZERO_POINT)
            })
            .collect();
        let netf = float::<$float>($case);
        let xf = <$float as Model<f32>>::Input::from_flat(&xf).expect("input");
        $c.bench_function(concat!($case, "/f32"), |b| {
            b.iter(|| black_box(&*netf).forward(black_box(&xf)))
        });
        $c.bench_function(concat!($case, "/int8"), |b| {
            b.iter(|| black_box(net8).forward(black_box(&x8)))
        });
    }};
}

/// A flat view of an int8 input.
trait FlatMut {
    fn as_flattened_mut_(&mut self) -> &mut [i8];
}
impl<const N: usize> FlatMut for [i8; N] {
    fn as_flattened_mut_(&mut self) -> &mut [i8] {
        self
    }
}
impl<const C: usize, const H: usize, const W: usize> FlatMut for [[[i8; W]; H]; C] {
    fn as_flattened_mut_(&mut self) -> &mut [i8] {
        self.as_flattened_mut().as_flattened_mut()
    }
}

fn int8(c: &mut Criterion<ThreadCpuTime>) {
    pair!(c, "kws", KwsDsCnn<f32>, KwsDsCnnInt8, [[[0i8; 10]; 49]; 1]);
    pair!(
        c,
        "ad",
        AnomalyAutoencoder<f32>,
        AnomalyAutoencoderInt8,
        [0i8; 640]
    );
    pair!(c, "ic", ResNet8<f32>, ResNet8Int8, [[[0i8; 32]; 32]; 3]);
}

fn config() -> Criterion<ThreadCpuTime> {
    Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = int8
}

fn main() {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            benches();
            Criterion::default().configure_from_args().final_summary();
        })
        .expect("spawn")
        .join()
        .expect("bench thread");
}
