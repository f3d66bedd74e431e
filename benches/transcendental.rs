//! The f32 transcendentals the recurrent steps spend their time in
//! (`staticnet::float::{exp_f32, sigmoid_f32, tanh_f32}`), per value:
//! a loop over 1,024 values, beside the same loop over the standard
//! library's `f32::exp` / `f32::tanh` (glibc's `expf`/`tanhf`, one call per
//! value) and, where the CPU has them, the same loop in a function compiled
//! for AVX2 and FMA (what the dispatched copy of a model's `step` runs).
//! Criterion reports elements per second; one element is one value.
//!
//! The inputs are seeded draws from N(0, 3²), the range an LSTM's gate
//! pre-activations take, so neither side runs only its fast path.
//!
//! ```text
//! cargo bench --bench transcendental
//! RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=<another dir> cargo bench --bench transcendental
//! ```

mod common;
use common::ThreadCpuTime;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use staticnet::float::{exp_f32, sigmoid_f32, tanh_f32};
use staticnet::Rng;
use std::hint::black_box;
use std::time::Duration;

const N: usize = 1024;

fn inputs() -> [f32; N] {
    let mut rng = Rng::new(11);
    core::array::from_fn(|_| (rng.normal() * 3.0) as f32)
}

/// `out[i] = f(x[i])`, the loop every kernel runs its activation in.
#[inline(always)]
fn map(f: impl Fn(f32) -> f32, x: &[f32; N], out: &mut [f32; N]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// staticnet's function `which` (0 exp, 1 sigmoid, 2 tanh) over `x`, its
/// loop compiled for the build's own target features.
fn map_default(which: usize, x: &[f32; N], out: &mut [f32; N]) {
    match which {
        0 => map(exp_f32, x, out),
        1 => map(sigmoid_f32, x, out),
        _ => map(tanh_f32, x, out),
    }
}

/// The standard library's function `which` over `x`.
fn map_std(which: usize, x: &[f32; N], out: &mut [f32; N]) {
    match which {
        0 => map(f32::exp, x, out),
        1 => map(|v| 1.0 / (1.0 + (-v).exp()), x, out),
        _ => map(f32::tanh, x, out),
    }
}

/// [`map_default`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn map_avx2(which: usize, x: &[f32; N], out: &mut [f32; N]) {
    match which {
        0 => map(exp_f32, x, out),
        1 => map(sigmoid_f32, x, out),
        _ => map(tanh_f32, x, out),
    }
}

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let x = inputs();
    let mut out = [0.0f32; N];
    type F = fn(f32) -> f32;
    let cases: [(&str, F, F); 3] = [
        ("exp", exp_f32, f32::exp),
        ("sigmoid", sigmoid_f32, |v| 1.0 / (1.0 + (-v).exp())),
        ("tanh", tanh_f32, f32::tanh),
    ];
    for (which, (name, ours, std_fn)) in cases.into_iter().enumerate() {
        // Both sides compute the same function: check before timing (the
        // timed loops call the functions directly, not through these
        // pointers, so that they inline).
        for &v in &x {
            let (a, b) = (ours(v), std_fn(v));
            assert!(
                (a - b).abs() <= 2e-7 * b.abs().max(1.0),
                "{name}({v}): {a} vs {b}"
            );
        }
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function(BenchmarkId::new("staticnet", "default"), |b| {
            b.iter(|| map_default(which, black_box(&x), black_box(&mut out)))
        });
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            g.bench_function(BenchmarkId::new("staticnet", "avx2"), |b| {
                // SAFETY: the CPU running this has AVX2 and FMA (checked
                // just above), the features `map_avx2` is compiled for.
                b.iter(|| unsafe { map_avx2(which, black_box(&x), black_box(&mut out)) })
            });
        }
        g.bench_function(BenchmarkId::new("std", "libm"), |b| {
            b.iter(|| map_std(which, black_box(&x), black_box(&mut out)))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
