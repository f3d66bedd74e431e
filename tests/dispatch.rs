//! Run-time CPU dispatch (`staticnet::dispatch`): a model's forward and
//! streaming step give bit-identical results through the AVX2 + FMA copy
//! and the baseline copy, for every kind of layer the kernels have.
//!
//! The AVX2 copy only widens the vectors; whether a multiply-add is fused
//! is fixed at compile time, so the two copies must agree exactly, not
//! within a tolerance. On a CPU without AVX2 (or a build for another
//! architecture, or without `std`) both runs take the baseline copy and the
//! test says so.

use staticnet::{dispatch, model, Model, Rng, Tensor};

model! {
    /// Conv2d, MaxPool2d, Flatten, Dense (the textbook CNN).
    struct Cnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(3, activation = softmax),
    }
}

model! {
    /// Strided, depthwise and pointwise convolutions with BatchNorm fused,
    /// a residual Add and average pooling (the DS-CNN / ResNet shapes).
    struct DsRes {
        input: [3, 16, 16],
        c0:  Conv2d(8, kernel = 3, stride = 2, padding = same),
        bn0: BatchNorm,
        r0:  Relu,
        dw:  DepthwiseConv2d(kernel = 3, padding = same),
        bn1: BatchNorm,
        r1:  Relu,
        pw:  Conv2d(8, kernel = 1, activation = relu6),
        add: Add(r0, pw),
        ap:  AvgPool2d(2),
        gp:  GlobalAvgPool,
        out: Dense(4, activation = sigmoid),
    }
}

model! {
    /// Recurrent layers, per-step Dense and a causal Conv1d: streamable.
    struct Rnn {
        input: [24, 6],
        c:    Conv1d(8, kernel = 3, padding = causal, activation = tanh),
        l:    Lstm(16, return_sequences = true),
        g:    Gru(12, return_sequences = true),
        per:  Dense(5, activation = gelu),
        r:    SimpleRnn(4),
        head: Dense(2),
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

/// `f` with dispatch off and on: (baseline, dispatched).
fn both<R>(mut f: impl FnMut() -> R) -> (R, R) {
    dispatch::set_enabled(false);
    assert!(!dispatch::avx2());
    let off = f();
    dispatch::set_enabled(true);
    let on = f();
    (off, on)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn same_forward<M: Model<f32>>(seed: u64) {
    let mut m = M::zeros();
    m.init_in(seed);
    for s in 0..4 {
        let x: M::Input = random(seed * 10 + s);
        let (off, on) = both(|| m.forward(&x));
        assert_eq!(
            bits(off.as_flat()),
            bits(on.as_flat()),
            "seed {seed}, input {s}"
        );
        assert!(off.as_flat().iter().all(|v| v.is_finite()));
    }
}

// One test function: `set_enabled` switches every thread, so the cases
// run one after another rather than as parallel tests.
#[test]
fn the_avx2_copy_computes_exactly_what_the_baseline_computes() {
    if !{
        dispatch::set_enabled(true);
        dispatch::avx2()
    } {
        eprintln!("no AVX2 + FMA copy here (CPU, target or build): both runs are the baseline");
    }
    same_forward::<Cnn<f32>>(1);
    same_forward::<DsRes<f32>>(2);
    same_forward::<Rnn<f32>>(3);

    // The streaming step through each copy, and against forward.
    let mut m = Rnn::<f32>::zeros();
    m.init_in(4);
    let x: staticnet::Sequence<f32, 24, 6> = random(40);
    let (off, on) = both(|| {
        let mut state = RnnState::zeros();
        let mut y = staticnet::Vector::<f32, 2>::zeros();
        for t in 0..24 {
            y = m.step(&mut state, &x.column(t).into_owned());
        }
        y
    });
    assert_eq!(bits(off.as_slice()), bits(on.as_slice()));
    let full = m.forward(&x);
    for (a, b) in on.iter().zip(full.iter()) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
    dispatch::set_enabled(true);
}
