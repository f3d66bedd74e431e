//! `predict` and `predict_parallel` over a batch of 256 inputs of W1 (the
//! textbook CNN of ANCHORS.md), one and two threads, the counterpart of
//! tools/bench_predict_ort.py (onnxruntime, the same network, batch 256,
//! intra-op threads 1 and 2); tools/bench_predict.sh runs both in one go.
//!
//! Wall time (the point is two cores working at once), so run it on a
//! quiet machine. Criterion reports elements (samples) per second.
//!
//! ```text
//! cargo bench --bench predict
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use staticnet::fit::{predict, predict_parallel};
use staticnet::{model, Image, Mode, Rng, Tensor, Train};
use std::hint::black_box;
use std::time::Duration;

model! {
    /// W1: the textbook's Keras CNN.
    pub struct SeedCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(1, activation = sigmoid),
    }
}

const BATCH: usize = 256;

fn bench(c: &mut Criterion) {
    let net = SeedCnn::<f32>::init(1);
    let mut rng = Rng::new(2);
    let x: Vec<Image<f32, 1, 10, 10>> = (0..BATCH)
        .map(|_| {
            let mut v = Image::<f32, 1, 10, 10>::zeros();
            for e in v.as_flat_mut() {
                *e = rng.uniform() as f32;
            }
            v
        })
        .collect();
    let mut g = c.benchmark_group("w1_predict_256");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(BenchmarkId::new("predict", 1), |b| {
        b.iter(|| predict(&net, black_box(&x)).unwrap())
    });
    for threads in [1, 2] {
        g.bench_function(BenchmarkId::new("predict_parallel", threads), |b| {
            b.iter(|| predict_parallel(&net, black_box(&x), threads).unwrap())
        });
    }
    // The layer-major training forward in eval mode, chunks of 32: what a
    // batched inference path built on it would run.
    let refs: Vec<&Image<f32, 1, 10, 10>> = x.iter().collect();
    let mut tapes: Vec<_> = (0..32).map(|_| SeedCnn::<f32>::new_tape()).collect();
    let mut outs = vec![staticnet::Vector::<f32, 1>::zeros(); 32];
    let mut r = Rng::new(0);
    g.bench_function(BenchmarkId::new("layer_major_eval", 1), |b| {
        b.iter(|| {
            for chunk in refs.chunks(32) {
                net.forward_train_layers(chunk, &mut tapes, &mut outs, Mode::EVAL, &mut r)
                    .unwrap();
                black_box(&outs);
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
