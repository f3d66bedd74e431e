//! One streaming `step` (one audio sample) of NeuralAmpModeler's
//! "standard" and "nano" WaveNets written in the DSL
//! (`examples/wavenet/models.rs`), f32, holding the PyTorch weights of
//! `tests/fixtures/wavenet/` (made by tools/make_fixtures_wavenet.py).
//! Setup streams the fixture's 8192-sample input and asserts that every
//! output is within 1e-5 of PyTorch's before anything is timed.
//!
//! The real-time factor at 48 kHz is the time per sample × 48000 (below 1:
//! faster than real time); BENCHMARKS.md ("NAM WaveNet streaming") has
//! the numbers. Each iteration feeds the next sample of the fixture's
//! input, cycling through it without resetting the state, as a plugin's
//! audio callback feeds a continuous stream.
//!
//! Time is the benchmark thread's CPU time (benches/common), as in the
//! other benches: the machine is shared.
//!
//! ```text
//! cargo bench --bench wavenet
//! RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=<another dir> cargo bench --bench wavenet
//! ```

mod common;
use common::ThreadCpuTime;
use criterion::{criterion_group, criterion_main, Criterion};
use safetensors::SafeTensors;
use staticnet::{model, Model, Vector};
use std::hint::black_box;
use std::time::Duration;

include!("../examples/wavenet/models.rs");

/// A fixture's tensors, widened from its float64 values.
struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    fn load(case: &str) -> Fixture {
        let path = format!(
            "{}/tests/fixtures/wavenet/{case}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        Fixture {
            bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        }
    }

    fn get(&self, name: &str) -> Vec<f64> {
        let st = SafeTensors::deserialize(&self.bytes).expect("safetensors");
        let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        t.data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    }

    /// Every parameter of `m` by its PyTorch name.
    fn load_into<M: Model<f32>>(&self, m: &mut M) {
        m.visit_params_mut(&mut |mut p| {
            let v: Vec<f32> = self.get(p.name).iter().map(|&v| v as f32).collect();
            p.copy_from(&v).expect("parameter shape");
        });
    }
}

/// Streams the fixture's input through `step` and checks every sample
/// against PyTorch's f32 output; returns the input samples.
fn checked(fx: &Fixture, case: &str, mut step: impl FnMut(f32) -> f32) -> Vec<f32> {
    let xs: Vec<f32> = fx.get("input").iter().map(|&v| v as f32).collect();
    let want = fx.get("f32.output");
    for (t, (&x, &w)) in xs.iter().zip(&want).enumerate() {
        let y = f64::from(step(x));
        assert!(
            (y - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{case}: sample {t}: staticnet {y}, PyTorch {w}"
        );
    }
    xs
}

fn nam(c: &mut Criterion<ThreadCpuTime>) {
    let fx = Fixture::load("nano");
    let mut nano = Box::new(NamNano::<f32>::zeros());
    fx.load_into(&mut *nano);
    let mut s = Box::new(NamNanoState::<f32>::zeros());
    let nano_xs = checked(&fx, "nano", |x| {
        nano.step(&mut s, &Vector::<f32, 1>::new(x))[0]
    });
    let fx = Fixture::load("standard");
    let mut standard = Box::new(NamStandard::<f32>::zeros());
    fx.load_into(&mut *standard);
    let mut s = Box::new(NamStandardState::<f32>::zeros());
    let standard_xs = checked(&fx, "standard", |x| {
        standard.step(&mut s, &Vector::<f32, 1>::new(x))[0]
    });

    let mut g = c.benchmark_group("nam_step");
    g.bench_function("nano", |b| {
        let mut s = Box::new(NamNanoState::<f32>::zeros());
        let mut t = 0;
        b.iter(|| {
            let y = nano.step(&mut s, black_box(&Vector::<f32, 1>::new(nano_xs[t])));
            t = (t + 1) % nano_xs.len();
            y
        })
    });
    g.bench_function("standard", |b| {
        let mut s = Box::new(NamStandardState::<f32>::zeros());
        let mut t = 0;
        b.iter(|| {
            let y = standard.step(&mut s, black_box(&Vector::<f32, 1>::new(standard_xs[t])));
            t = (t + 1) % standard_xs.len();
            y
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = nam
}
criterion_main!(benches);
