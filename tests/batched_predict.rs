//! `predict` and `evaluate` run the eval forward layer-major in chunks
//! (each layer over the whole chunk, `Dense` batched over it). Their
//! outputs against `forward` per sample:
//!
//! - with the run-time dispatch off (every model on its baseline copy),
//!   bit for bit: the batched kernels add in the order the per-sample ones
//!   do;
//! - with it on, within 1e-5 · max(1, the sample's largest |output|) in
//!   f32 and 1e-12 · the same in f64 (the AVX2 copy's batched `Dense`
//!   fuses multiply-adds, the per-sample one does not: the last bits
//!   differ; relative to the largest output alone, a head whose outputs
//!   are all near 0 measured 2.7e-5 in f32);
//!
//! for every set size around the chunk's edges, and `predict_parallel` is
//! `predict` bit for bit for any thread count (its parts are whole chunks).
//!
//! One test function: switching the dispatch is process-wide.

use staticnet::fit::{evaluate, predict, predict_parallel};
use staticnet::loss::MeanSquaredError;
use staticnet::metrics::NoMetric;
use staticnet::{dispatch, model, Float, Model, Rng, Tensor, Train, Vector};

model! {
    /// A CNN with a Dense head (W1's layers, smaller).
    struct Cnn {
        input: [1, 8, 8],
        conv1: Conv2d(8, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(32, activation = relu),
        out:   Dense(3, activation = softmax),
    }
}

model! {
    /// An MLP whose Dense layers have many outputs (the blocked path).
    struct Mlp {
        input: [12],
        fc1: Dense(40, activation = tanh),
        fc2: Dense(24, activation = relu),
        out: Dense(2),
    }
}

model! {
    /// A recurrent network (its `Dense` head holds few of its parameters,
    /// so `predict` runs it sample by sample: the same outputs by
    /// construction).
    struct Rnn {
        input: [6, 4],
        lstm1: Lstm(10),
        head:  Dense(1),
    }
}

fn inputs<T: Float, X: Tensor<T>>(n: usize, seed: u64) -> Vec<X> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let mut v = X::zeros();
            for e in v.as_flat_mut() {
                *e = T::of_f64(rng.normal());
            }
            v
        })
        .collect()
}

/// The largest difference between `predict` and `forward`, relative to
/// max(1, the largest |output|), over sets of several sizes (`exact`: none at all).
fn check<T: Float, M: Train<T> + Sync>(name: &str, m: &M, bound: f64, exact: bool) -> f64
where
    M::Input: Sync,
    M::Output: Send + PartialEq + core::fmt::Debug,
{
    let mut worst = 0.0f64;
    for n in [1, 3, 4, 5, 8, 31, 32, 33, 64, 70] {
        let x: Vec<M::Input> = inputs(n, n as u64);
        let batched = predict(m, &x).expect("finite");
        for (k, (p, x)) in batched.iter().zip(&x).enumerate() {
            let f = m.forward(x);
            if exact {
                assert_eq!(*p, f, "{name}: {n} samples, sample {k}");
            }
            let scale = f
                .as_flat()
                .iter()
                .fold(1.0f64, |a, v| a.max(v.to_f64().abs()));
            for (a, b) in p.as_flat().iter().zip(f.as_flat()) {
                let d = (a.to_f64() - b.to_f64()).abs() / scale;
                assert!(d <= bound, "{name}: {n} samples, sample {k}: {d:e}");
                worst = worst.max(d);
            }
        }
        for threads in [2, 3] {
            assert_eq!(
                predict_parallel(m, &x, threads).expect("finite"),
                batched,
                "{name}: {n} samples, {threads} threads"
            );
        }
    }
    worst
}

/// `evaluate`'s loss from the batched outputs equals the mean squared
/// error computed here from `forward`, within the bound.
fn evaluate_matches<M: Train<f64, Output = Vector<f64, 2>>>(m: &M) {
    let x: Vec<M::Input> = inputs(45, 9);
    let y: Vec<Vector<f64, 2>> = (0..45)
        .map(|k| Vector::<f64, 2>::new(k as f64 * 0.01, -0.3))
        .collect();
    let e = evaluate(m, &MeanSquaredError, &NoMetric, &x, &y).expect("finite");
    let mut want = 0.0;
    for (x, y) in x.iter().zip(&y) {
        let o = m.forward(x);
        want += ((o[0] - y[0]).powi(2) + (o[1] - y[1]).powi(2)) / 2.0;
    }
    want /= 45.0;
    assert!(
        (e.loss - want).abs() <= 1e-12 * want.abs(),
        "{} vs {want}",
        e.loss
    );
}

#[test]
fn batched_predict_is_forward() {
    let cnn32 = Cnn::<f32>::init(1);
    let mlp32 = Mlp::<f32>::init(2);
    let rnn32 = Rnn::<f32>::init(3);
    let cnn64 = Cnn::<f64>::init(1);
    let mlp64 = Mlp::<f64>::init(2);
    let rnn64 = Rnn::<f64>::init(3);
    // The baseline copies: bit for bit.
    dispatch::set_enabled(false);
    check("cnn f32 base", &cnn32, 0.0, true);
    check("mlp f32 base", &mlp32, 0.0, true);
    check("rnn f32 base", &rnn32, 0.0, true);
    check("mlp f64 base", &mlp64, 0.0, true);
    dispatch::set_enabled(true);
    // The dispatched copies (the AVX2 one where the CPU has it).
    let worst = [
        check("cnn f32", &cnn32, 1e-5, false),
        check("mlp f32", &mlp32, 1e-5, false),
        check("rnn f32", &rnn32, 1e-5, false),
        check("cnn f64", &cnn64, 1e-12, false),
        check("mlp f64", &mlp64, 1e-12, false),
        check("rnn f64", &rnn64, 1e-12, false),
    ];
    println!("largest relative differences (cnn, mlp, rnn; f32 then f64): {worst:?}");
    evaluate_matches(&mlp64);
}

#[test]
fn a_wrong_bound_is_caught() {
    // The check can fail: an output changed by one part in 1e4 is outside
    // the f32 bound.
    let m = Mlp::<f32>::init(2);
    let x: Vec<_> = inputs::<f32, <Mlp<f32> as Model<f32>>::Input>(8, 1);
    let mut p = predict(&m, &x).expect("finite");
    p[3][0] *= 1.0 + 1e-4;
    let f = m.forward(&x[3]);
    let scale = f.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    assert!((p[3][0] - f[0]).abs() / scale > 1e-5);
}

/// `model!` marks which models `predict` batches: those whose batched
/// `Dense` layers hold at least half the parameters (Cnn: 2,435 of 2,515;
/// Mlp: all), not the LSTM whose `Dense(1)` head holds 11 of 651, nor a
/// model with BatchNorm.
#[test]
fn which_models_batch() {
    model! {
        struct WithBn {
            input: [12],
            fc1: Dense(40, activation = relu),
            bn1: BatchNorm,
            out: Dense(2),
        }
    }
    model! {
        /// Dense without a bias has no batched form: 451 of 931 parameters
        /// are in batched layers, just under half.
        struct HalfBatched {
            input: [12],
            fc1: Dense(40, bias = false),
            out: Dense(11),
        }
    }
    let batched = [
        <Cnn<f32> as Train<f32>>::BATCHED_EVAL,
        <Mlp<f32> as Train<f32>>::BATCHED_EVAL,
        <Rnn<f32> as Train<f32>>::BATCHED_EVAL,
        <WithBn<f32> as Train<f32>>::BATCHED_EVAL,
        <HalfBatched<f32> as Train<f32>>::BATCHED_EVAL,
    ];
    assert_eq!(batched, [true, true, false, false, false]);
}
