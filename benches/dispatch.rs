//! Run-time CPU dispatch (`staticnet::dispatch`): each model's `forward`
//! (and a streaming `step`) through its AVX2 + FMA copy and through its
//! baseline (SSE2) copy, switched with `dispatch::set_enabled` in the same
//! run, so the rows of a group compare the two copies of the same binary;
//! and the AVX2 copy once more with its recurrent kernels compiled for
//! AVX-512 (`dispatch::set_avx512`).
//! Build it with default flags (the point of dispatch); with
//! `-C target-cpu=native` both rows run the one native copy.
//!
//! `cargo bench --bench dispatch`; CPU time of the benchmark thread.

mod common;
use common::ThreadCpuTime;
use criterion::{criterion_group, criterion_main, Criterion};
use staticnet::{dispatch, model, Model, Rng, Tensor, Vector};
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
    /// W2: one LSTM layer, a linear head on the last state (streamable).
    pub struct LstmNet {
        input: [32, 8],
        lstm1: Lstm(32),
        head:  Dense(1),
    }
}

model! {
    /// The same with a GRU.
    pub struct GruNet {
        input: [32, 8],
        gru1: Gru(32),
        head: Dense(1),
    }
}

fn random<X: Tensor<f32>>(seed: u64) -> X {
    let mut rng = Rng::new(seed);
    let mut x = X::zeros();
    for v in x.as_flat_mut() {
        *v = 2.0 * rng.uniform() as f32 - 1.0;
    }
    x
}

/// `label/baseline`, `label/avx2` and `label/avx512` rows of `f`: the
/// baseline copy, the AVX2 copy with its kernels on AVX2, and the AVX2 copy
/// with the kernels `dispatch::avx512` switches on (the same as `avx2`
/// where the CPU lacks AVX-512).
fn rows(c: &mut Criterion<ThreadCpuTime>, label: &str, mut f: impl FnMut()) {
    let mut g = c.benchmark_group(label);
    for (row, on, wide) in [
        ("baseline", false, false),
        ("avx2", true, false),
        ("avx512", true, true),
    ] {
        dispatch::set_enabled(on);
        dispatch::set_avx512(wide);
        g.bench_function(row, |b| b.iter(&mut f));
    }
    dispatch::set_enabled(true);
    dispatch::set_avx512(true);
    g.finish();
}

fn benches(c: &mut Criterion<ThreadCpuTime>) {
    dispatch::set_enabled(true);
    eprintln!(
        "AVX2 + FMA copy in use: {}; AVX-512 kernels: {}",
        dispatch::avx2(),
        dispatch::avx512()
    );

    let cnn = SeedCnn::<f32>::init(1);
    let x: <SeedCnn<f32> as Model<f32>>::Input = random(2);
    rows(c, "w1_cnn_forward", || {
        black_box(cnn.forward(black_box(&x)));
    });

    let lstm = LstmNet::<f32>::init(3);
    let s: <LstmNet<f32> as Model<f32>>::Input = random(4);
    rows(c, "w2_lstm_forward", || {
        black_box(lstm.forward(black_box(&s)));
    });
    let xt: Vector<f32, 8> = random(5);
    let mut state = LstmNetState::zeros();
    rows(c, "lstm_step", || {
        black_box(lstm.step(&mut state, black_box(&xt)));
    });

    let gru = GruNet::<f32>::init(6);
    let mut gstate = GruNetState::zeros();
    rows(c, "gru_step", || {
        black_box(gru.step(&mut gstate, black_box(&xt)));
    });
}

fn config() -> Criterion<ThreadCpuTime> {
    Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
}

criterion_group! {
    name = dispatch_benches;
    config = config();
    targets = benches
}
criterion_main!(dispatch_benches);
