//! `predict` and `predict_parallel` over a batch of 256 inputs of W1 (the
//! textbook CNN of ANCHORS.md), one and two threads, the counterpart of
//! tools/bench_predict_ort.py (onnxruntime, the same network, batch 256,
//! intra-op threads 1 and 2); tools/bench_predict.sh runs both in one go.
//!
//! `predict` runs the eval forward layer-major in chunks of 32 (`Dense`
//! batched over the chunk); the `per_sample` rows run what it replaced,
//! one `forward` per sample (with the same finiteness checks), on one
//! thread and on two (contiguous halves), side by side (issue 15 item 2:
//! the batched path must be at least as fast on every row). W2 (the LSTM)
//! has the same pairs of rows.
//!
//! Wall time (the point is two cores working at once), so run it on a
//! quiet machine. Criterion reports elements (samples) per second.
//!
//! ```text
//! cargo bench --bench predict
//! ```

use cpu_time::ThreadTime;
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use staticnet::fit::{predict, predict_parallel};
use staticnet::{model, Image, Mode, Model, Rng, Tensor, Train};
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

model! {
    /// W2: an LSTM over 32 steps of 8 features, a Dense head.
    pub struct LstmNet {
        input: [32, 8],
        lstm1: Lstm(32),
        head:  Dense(1),
    }
}

const BATCH: usize = 256;

fn inputs<X: Tensor<f32>>(rng: &mut Rng) -> Vec<X> {
    (0..BATCH)
        .map(|_| {
            let mut v = X::zeros();
            for e in v.as_flat_mut() {
                *e = rng.uniform() as f32;
            }
            v
        })
        .collect()
}

/// What `predict` ran before it was batched: a `forward` per sample, its
/// input and output checked.
fn per_sample<M: Model<f32>>(m: &M, x: &[M::Input]) -> Vec<M::Output> {
    x.iter()
        .map(|x| {
            assert!(x.as_flat().iter().all(|v| v.is_finite()));
            let out = m.forward(x);
            assert!(out.as_flat().iter().all(|v| v.is_finite()));
            out
        })
        .collect()
}

/// Thread CPU time per sample of the per-sample forward and of the
/// batched `predict` (one thread), alternately, medians of 15 rounds:
/// printed before criterion's wall-time rows, a comparison that holds on
/// a loaded machine.
fn cpu_ab<M: Train<f32>>(name: &str, m: &M, x: &[M::Input]) {
    let time = |f: &mut dyn FnMut()| {
        let t = ThreadTime::now();
        for _ in 0..20 {
            f();
        }
        t.elapsed().as_secs_f64() / (20 * x.len()) as f64 * 1e9
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        a.push(time(&mut || {
            black_box(per_sample(m, black_box(x)));
        }));
        b.push(time(&mut || {
            black_box(predict(m, black_box(x)).unwrap());
        }));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut a), median(&mut b));
    println!(
        "{name}: thread CPU per sample: per-sample forward {a:.0} ns, batched predict {b:.0} ns \
         ({:.2}x)",
        a / b
    );
}

/// The per-sample and batched rows of one network, 1 and 2 threads.
fn rows<M>(g: &mut BenchmarkGroup<'_, WallTime>, m: &M, x: &[M::Input])
where
    M: Train<f32> + Sync,
    M::Input: Sync,
    M::Output: Send,
{
    g.bench_function(BenchmarkId::new("per_sample", 1), |b| {
        b.iter(|| per_sample(m, black_box(x)))
    });
    g.bench_function(BenchmarkId::new("predict", 1), |b| {
        b.iter(|| predict(m, black_box(x)).unwrap())
    });
    g.bench_function(BenchmarkId::new("per_sample", 2), |b| {
        b.iter(|| {
            let (a, c) = x.split_at(x.len() / 2);
            std::thread::scope(|s| {
                let h = s.spawn(|| per_sample(m, black_box(c)));
                let mut out = per_sample(m, black_box(a));
                out.extend(h.join().unwrap());
                out
            })
        })
    });
    for threads in [1, 2] {
        g.bench_function(BenchmarkId::new("predict_parallel", threads), |b| {
            b.iter(|| predict_parallel(m, black_box(x), threads).unwrap())
        });
    }
}

fn bench(c: &mut Criterion) {
    let net = SeedCnn::<f32>::init(1);
    let mut rng = Rng::new(2);
    let x: Vec<Image<f32, 1, 10, 10>> = inputs(&mut rng);
    let lstm = LstmNet::<f32>::init(1);
    let xs: Vec<<LstmNet<f32> as Model<f32>>::Input> = inputs(&mut rng);
    if !std::env::args().any(|a| a == "--list") {
        cpu_ab("w1", &net, &x);
        cpu_ab("w2", &lstm, &xs);
    }
    let mut g = c.benchmark_group("w1_predict_256");
    g.throughput(Throughput::Elements(BATCH as u64));
    rows(&mut g, &net, &x);
    // The layer-major training forward in eval mode, chunks of 32: what
    // the batched `predict` runs, without its checks.
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
    let mut g = c.benchmark_group("w2_predict_256");
    g.throughput(Throughput::Elements(BATCH as u64));
    rows(&mut g, &lstm, &xs);
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
