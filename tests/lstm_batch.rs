//! The layer-major training step of `Lstm` and `Gru` models
//! (`forward_train_layers`, `backward_layers`: the batched recurrent
//! kernels, `LSTM_BATCH` samples per matrix–matrix product and the rest one
//! by one) in f64:
//!
//! - against PyTorch autograd: the fixtures of `tools/make_fixtures.py`
//!   (`tests/fixtures/<case>.safetensors`, `grad_<case>.safetensors`, the
//!   cases tests/gradient_fixtures.rs checks one sample at a time) run as a
//!   batch of 8 copies of the fixture's input (a block of `LSTM_BATCH` = 6
//!   and 2 one by one): every output and dL/dinput is PyTorch's, every
//!   parameter gradient 8 × PyTorch's;
//! - against the per-sample path (`forward_train` and `backward` of each
//!   sample, gradients summed) on 9 different random samples (a block of 6
//!   and 3 one by one): outputs, dL/dinput and every parameter gradient
//!   within 1e-12.
//!
//! Each fixture's `model!` here has the DSL the fixture was made from (up
//! to whitespace and comments), as in tests/common/models.rs.

mod common;

use common::{compare, load_params, normalize_dsl, struct_body, Fixture, Tensor64};
use staticnet::{model, Mode, Param, Rng, Tensor, Train};

/// This file, to compare each `model!` with the DSL in its fixture.
const SOURCE: &str = include_str!("lstm_batch.rs");

/// The bound of the issue (11, item 3) for f64 against PyTorch, scaled as
/// in [`common::scaled_error`]; the same against the per-sample path.
const TOL: f64 = 1e-12;

model! {
    pub struct LstmLast {
        input: [5, 3],
        lstm: Lstm(4),
    }
}

model! {
    pub struct LstmSeq {
        input: [5, 3],
        lstm: Lstm(4, return_sequences = true),
    }
}

model! {
    pub struct LstmLstm {
        input: [6, 3],
        lstm1: Lstm(5, return_sequences = true),
        lstm2: Lstm(3),
    }
}

model! {
    pub struct RnnLstm {
        input: [6, 3],
        rnn: SimpleRnn(5, return_sequences = true),
        lstm: Lstm(3),
    }
}

model! {
    pub struct LstmSeqDense {
        input: [5, 3],
        lstm: Lstm(4, return_sequences = true),
        fc: Dense(3, activation = softmax),
    }
}

model! {
    pub struct GruLast {
        input: [5, 3],
        gru: Gru(4, return_sequences = false),
    }
}

model! {
    pub struct GruSeq {
        input: [5, 3],
        gru: Gru(4, return_sequences = true),
    }
}

model! {
    pub struct GruGru {
        input: [6, 3],
        gru1: Gru(5, return_sequences = true),
        gru2: Gru(3),
    }
}

model! {
    pub struct GruGruSeq {
        input: [4, 2],
        gru1: Gru(3, return_sequences = true),
        gru2: Gru(4, return_sequences = true),
    }
}

model! {
    pub struct GruDense {
        input: [5, 3],
        gru: Gru(4),
        fc: Dense(2, activation = relu),
    }
}

model! {
    /// A per-step `Dense` before a GRU (no fixture).
    pub struct DenseGru {
        input: [7, 3],
        fc1: Dense(6, activation = tanh),
        gru: Gru(5),
        head: Dense(2),
    }
}

model! {
    /// A per-step `Dense` before the LSTM: the LSTM's dL/d(input) feeds a
    /// layer with parameters (no fixture).
    pub struct DenseLstm {
        input: [7, 3],
        fc1: Dense(6, activation = tanh),
        lstm: Lstm(5),
        head: Dense(2),
    }
}

model! {
    /// W2 of benches/train.rs (no fixture).
    pub struct LstmNet {
        input: [32, 8],
        lstm1: Lstm(32),
        head: Dense(1),
    }
}

/// One layer-major step over `xs` with `dL/dy = dys`: the outputs,
/// dL/dinput and the parameter gradients.
fn layer_major<M: Train<f64>>(
    m: &M,
    xs: &[M::Input],
    dys: impl Fn(usize, &M::Output) -> M::Output,
) -> (Vec<M::Output>, Vec<M::Input>, Box<M>) {
    let n = xs.len();
    let refs: Vec<&M::Input> = xs.iter().collect();
    let mut tapes: Vec<M::Tape> = (0..n).map(|_| M::new_tape()).collect();
    let mut scratch: Vec<M::Tape> = (0..n).map(|_| M::new_tape()).collect();
    let mut outs = vec![M::Output::zeros(); n];
    let mut rng = Rng::new(1);
    m.forward_train_layers(&refs, &mut tapes, &mut outs, Mode::TRAIN, &mut rng)
        .unwrap();
    let dy: Vec<M::Output> = outs.iter().enumerate().map(|(k, y)| dys(k, y)).collect();
    let mut grads = Box::new(M::zeros());
    let mut dxs = vec![M::Input::zeros(); n];
    m.backward_layers(&tapes, &dy, false, &mut grads, &mut scratch, &mut dxs)
        .unwrap();
    (outs, dxs, grads)
}

fn flat(t: &[f64]) -> Tensor64 {
    Tensor64 {
        shape: vec![t.len()],
        values: t.to_vec(),
    }
}

/// The fixture `case` (whose `model!` here is `type_name`) as a batch of 8
/// copies, against PyTorch.
fn against_pytorch<M: Train<f64>>(case: &str, type_name: &str) {
    let (fwd, grad) = (Fixture::load(case), Fixture::load(&format!("grad_{case}")));
    let body = struct_body(SOURCE, type_name).expect("the model is in this file");
    for fx in [&fwd, &grad] {
        assert_eq!(
            normalize_dsl(body),
            normalize_dsl(fx.meta("dsl")),
            "{case}: not the fixture's DSL"
        );
    }
    let mut m = Box::new(M::zeros());
    load_params(&fwd, &mut *m).unwrap();
    let x = M::Input::from_flat(&fwd.get("input").values).unwrap();
    let r = M::Output::from_flat(&grad.get("r").values).unwrap();
    const N: usize = 8;
    let (outs, dxs, grads) = layer_major(&*m, &[x; N], |_, _| r);
    let mut results = Vec::new();
    for k in 0..N {
        results.push(compare(
            &format!("output {k}"),
            outs[k].as_flat(),
            fwd.get("output"),
            TOL,
        ));
        results.push(compare(
            &format!("grad.input {k}"),
            dxs[k].as_flat(),
            grad.get("grad.input"),
            TOL,
        ));
    }
    let mut seen = 0;
    grads.visit_params(&mut |p: Param<'_, f64>| {
        let name = format!("grad.{}", p.name);
        let mut want = grad.get(&name).clone();
        for v in &mut want.values {
            *v *= N as f64;
        }
        results.push(compare(&name, &p.iter().collect::<Vec<f64>>(), &want, TOL));
        seen += 1;
    });
    assert!(seen > 0);
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(errors.is_empty(), "{case}: {}", errors.join("\n"));
}

#[test]
fn lstm_last_against_pytorch() {
    against_pytorch::<LstmLast<f64>>("lstm_last", "LstmLast");
}

#[test]
fn lstm_seq_against_pytorch() {
    against_pytorch::<LstmSeq<f64>>("lstm_seq", "LstmSeq");
}

#[test]
fn lstm_lstm_against_pytorch() {
    against_pytorch::<LstmLstm<f64>>("lstm_lstm", "LstmLstm");
}

#[test]
fn rnn_lstm_against_pytorch() {
    against_pytorch::<RnnLstm<f64>>("rnn_lstm", "RnnLstm");
}

#[test]
fn lstm_seq_dense_against_pytorch() {
    against_pytorch::<LstmSeqDense<f64>>("lstm_seq_dense", "LstmSeqDense");
}

#[test]
fn gru_last_against_pytorch() {
    against_pytorch::<GruLast<f64>>("gru_last", "GruLast");
}

#[test]
fn gru_seq_against_pytorch() {
    against_pytorch::<GruSeq<f64>>("gru_seq", "GruSeq");
}

#[test]
fn gru_gru_against_pytorch() {
    against_pytorch::<GruGru<f64>>("gru_gru", "GruGru");
}

#[test]
fn gru_gru_seq_against_pytorch() {
    against_pytorch::<GruGruSeq<f64>>("gru_gru_seq", "GruGruSeq");
}

#[test]
fn gru_dense_against_pytorch() {
    against_pytorch::<GruDense<f64>>("gru_dense", "GruDense");
}

/// Seeded values in [-1.5, 1.5).
fn random<X: Tensor<f64>>(seed: u64) -> X {
    let mut rng = Rng::new(seed);
    let mut x = X::zeros();
    for v in x.as_flat_mut() {
        *v = 3.0 * rng.uniform() - 1.5;
    }
    x
}

/// 9 random samples (one block of `LSTM_BATCH` = 6 and a rest of 3)
/// through the layer-major step and through the per-sample path.
fn against_per_sample<M: Train<f64>>(seed: u64) {
    let mut m = Box::new(M::zeros());
    m.init_in(seed);
    const N: u64 = 9;
    let xs: Vec<M::Input> = (0..N).map(|k| random(seed * 100 + k)).collect();
    let rs: Vec<M::Output> = (0..N).map(|k| random(seed * 1000 + k)).collect();
    let (outs, dxs, grads) = layer_major(&*m, &xs, |k, _| rs[k]);
    let mut want = Box::new(M::zeros());
    let mut tape = Box::new(M::new_tape());
    let mut results = Vec::new();
    let mut live_dx = false;
    for (k, x) in xs.iter().enumerate() {
        let y = m.forward_train(x, &mut tape);
        let dx = m.backward(&tape, &rs[k], &mut want);
        results.push(compare(
            &format!("output {k}"),
            outs[k].as_flat(),
            &flat(y.as_flat()),
            TOL,
        ));
        results.push(compare(
            &format!("dL/dinput {k}"),
            dxs[k].as_flat(),
            &flat(dx.as_flat()),
            TOL,
        ));
        live_dx |= dx.as_flat().iter().any(|v| v.abs() > 1e-6);
    }
    assert!(live_dx, "seed {seed}: vacuous dL/dinput");
    for i in 0..M::TENSORS {
        assert!(
            want.tensor(i).iter().any(|v| v.abs() > 1e-6),
            "seed {seed}: vacuous gradient {i}"
        );
        results.push(compare(
            &format!("gradient tensor {i}"),
            grads.tensor(i),
            &flat(want.tensor(i)),
            TOL,
        ));
    }
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(errors.is_empty(), "seed {seed}: {}", errors.join("\n"));
}

#[test]
fn layer_major_equals_per_sample() {
    against_per_sample::<LstmLast<f64>>(1);
    against_per_sample::<LstmSeq<f64>>(2);
    against_per_sample::<LstmLstm<f64>>(3);
    against_per_sample::<RnnLstm<f64>>(4);
    against_per_sample::<LstmSeqDense<f64>>(5);
    against_per_sample::<DenseLstm<f64>>(6);
    against_per_sample::<LstmNet<f64>>(7);
    against_per_sample::<GruLast<f64>>(8);
    against_per_sample::<GruSeq<f64>>(9);
    against_per_sample::<GruGru<f64>>(10);
    against_per_sample::<GruGruSeq<f64>>(11);
    against_per_sample::<GruDense<f64>>(12);
    against_per_sample::<DenseGru<f64>>(13);
}
