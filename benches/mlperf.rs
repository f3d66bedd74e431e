//! Forward latency, f32, batch 1, of the five MLPerf Tiny models
//! (tests/mlperf/*.rs) with their authors' converted weights
//! (tests/fixtures/mlperf/<model>.safetensors), on the first golden input.
//! Setup checks each model's output on every golden input against the
//! fixture's float64 Keras reference (1e-5, 5e-4 on the autoencoder's three
//! ill-conditioned frames, as tests/mlperf.rs) before anything is timed.
//!
//! Times are CPU time of the benchmark thread (see [`ThreadCpuTime`]), the
//! measure tools/bench_mlperf_ort.py uses for onnxruntime. Everything runs
//! in a thread with a 256 MiB stack: the forward keeps each layer's output
//! on the stack.
//!
//! Run: `cargo bench --bench mlperf`; tools/bench_mlperf.sh runs it with
//! default flags and with `-C target-cpu=native` beside onnxruntime and
//! prints BENCHMARKS.md's table.

mod common;
use common::ThreadCpuTime;
use criterion::{criterion_group, Criterion};
use staticnet::{model, Model, Tensor, Weights, Zeroable};
use std::hint::black_box;
use std::time::Duration;

include!("../tests/mlperf/kws.rs");
include!("../tests/mlperf/vww.rs");
include!("../tests/mlperf/ic.rs");
include!("../tests/mlperf/ad.rs");
include!("../tests/mlperf/sww.rs");

/// A fixture file's F64 tensor `name`: (shape, values).
fn f64_tensor(bytes: &[u8], name: &str) -> (Vec<usize>, Vec<f64>) {
    let st = safetensors::SafeTensors::deserialize(bytes).expect("fixture");
    let t = st.tensor(name).expect("tensor");
    assert_eq!(t.dtype(), safetensors::Dtype::F64, "{name}");
    let values = t
        .data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    (t.shape().to_vec(), values)
}

/// `M` with the weights of `case`, checked on every golden input, and the
/// first golden input.
fn setup<M>(case: &str, ill: &[usize]) -> (Box<M>, M::Input)
where
    M: Model<f32> + Weights<f32> + Zeroable,
{
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mlperf");
    let bytes = std::fs::read(format!("{dir}/{case}.safetensors")).expect("weights");
    let net = M::boxed_from_safetensors_with(&bytes, Default::default())
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let io = std::fs::read(format!("{dir}/{case}.io.safetensors")).expect("io fixture");
    let (shape, input) = f64_tensor(&io, "input");
    let (_, reference) = f64_tensor(&io, "output64");
    let (n, per_in) = (shape[0], input.len() / shape[0]);
    let per_out = reference.len() / n;
    let flat = |k: usize| -> Vec<f32> {
        input[k * per_in..(k + 1) * per_in]
            .iter()
            .map(|&v| v as f32)
            .collect()
    };
    for k in 0..n {
        let x = M::Input::from_flat(&flat(k)).unwrap_or_else(|e| panic!("{case}: {e}"));
        let y = net.forward(&x);
        let tol = if ill.contains(&k) { 5e-4 } else { 1e-5 };
        for (i, (&a, &r)) in y
            .as_flat()
            .iter()
            .zip(&reference[k * per_out..(k + 1) * per_out])
            .enumerate()
        {
            let gap = (f64::from(a) - r).abs() / r.abs().max(1.0);
            assert!(gap <= tol, "{case} input {k} [{i}]: {a} vs {r}");
        }
    }
    let x = M::Input::from_flat(&flat(0)).unwrap_or_else(|e| panic!("{case}: {e}"));
    (net, x)
}

fn one<M>(c: &mut Criterion<ThreadCpuTime>, case: &str, ill: &[usize])
where
    M: Model<f32> + Weights<f32> + Zeroable,
{
    let (net, x) = setup::<M>(case, ill);
    c.bench_function(case, |b| b.iter(|| black_box(&*net).forward(black_box(&x))));
}

fn mlperf(c: &mut Criterion<ThreadCpuTime>) {
    one::<KwsDsCnn<f32>>(c, "kws", &[]);
    one::<MobileNetVww<f32>>(c, "vww", &[]);
    one::<ResNet8<f32>>(c, "ic", &[]);
    one::<AnomalyAutoencoder<f32>>(c, "ad", &[3, 17, 30]);
    one::<StreamingWakeWord<f32>>(c, "sww", &[]);
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
    targets = mlperf
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
