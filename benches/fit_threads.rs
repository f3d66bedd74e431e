//! `fit` on one and on two threads (issue 15, item 5): one epoch of 1,024
//! samples, batch 32, Adam, for W1 (the textbook CNN) and W2 (LSTM(32) on
//! [32, 8]). Criterion reports samples per second; the ratio of the
//! two-thread row to the one-thread row is the scaling. Wall time (the
//! point is both cores working), so run it on a quiet machine.
//!
//! ```text
//! cargo bench --bench fit_threads
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use staticnet::fit::{fit, FitConfig};
use staticnet::loss::{BinaryCrossEntropy, MeanSquaredError};
use staticnet::metrics::NoMetric;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{model, Model, Rng, Tensor, Vector};
use std::time::Duration;

model! {
    /// W1: the textbook CNN.
    pub struct Cnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(1, activation = sigmoid),
    }
}

model! {
    /// W2: an LSTM over 32 steps of 8 features, a Dense head on the last state.
    pub struct LstmNet {
        input: [32, 8],
        lstm1: Lstm(32),
        head:  Dense(1),
    }
}

const N: usize = 1024;

fn data<X: Tensor<f32>>(seed: u64) -> (Vec<X>, Vec<Vector<f32, 1>>) {
    let mut rng = Rng::new(seed);
    let x: Vec<X> = (0..N)
        .map(|_| {
            let mut v = X::zeros();
            for e in v.as_flat_mut() {
                *e = rng.uniform() as f32 * 2.0 - 1.0;
            }
            v
        })
        .collect();
    let y = x
        .iter()
        .map(|v| Vector::<f32, 1>::new(f32::from(u8::from(v.as_flat()[0] > 0.0))))
        .collect();
    (x, y)
}

fn config<X, Y>(threads: usize) -> FitConfig<'static, X, Y> {
    FitConfig {
        epochs: 1,
        batch_size: 32,
        threads,
        verbose: 0,
        ..FitConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let (x1, y1) = data::<<Cnn<f32> as Model<f32>>::Input>(1);
    let (x2, y2) = data::<<LstmNet<f32> as Model<f32>>::Input>(2);
    let mut g = c.benchmark_group("fit_epoch_1024");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for threads in [1, 2] {
        g.bench_function(BenchmarkId::new("w1", threads), |b| {
            let mut m = Cnn::<f32>::boxed_init(1);
            let mut opt = Adam::boxed(AdamConfig::default());
            b.iter(|| {
                fit(
                    &mut *m,
                    &mut *opt,
                    &BinaryCrossEntropy,
                    &NoMetric,
                    &x1,
                    &y1,
                    &config(threads),
                )
                .unwrap()
            })
        });
        g.bench_function(BenchmarkId::new("w2", threads), |b| {
            let mut m = LstmNet::<f32>::boxed_init(1);
            let mut opt = Adam::boxed(AdamConfig::default());
            b.iter(|| {
                fit(
                    &mut *m,
                    &mut *opt,
                    &MeanSquaredError,
                    &NoMetric,
                    &x2,
                    &y2,
                    &config(threads),
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
