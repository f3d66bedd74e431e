//! Per-step softmax + cross-entropy and per-step accuracy of a sequence
//! output `[steps, classes]`, against PyTorch: the fixture
//! tests/fixtures/loss_gru_seq_softmax.safetensors (made by
//! tools/make_loss_fixtures.py) holds a GRU → per-step Dense(3, softmax)
//! network's weights, a batch of 8 inputs with one label per step,
//! `F.cross_entropy` (mean over batch and steps, which is also Keras'
//! `sum_over_batch_size`), the per-step accuracy, and autograd's gradients
//! of that loss.

mod common;

use common::{compare, load_params, normalize_dsl, struct_body, Fixture};
use staticnet::fit::{evaluate, fit, FitConfig};
use staticnet::loss::{CategoricalCrossEntropy, SparseCategoricalCrossEntropy};
use staticnet::metrics::{CategoricalAccuracy, SparseCategoricalAccuracy};
use staticnet::optim::{Sgd, SgdConfig};
use staticnet::{model, Model, Param, Sequence, Tensor, TrainError, Trainer, Vector};

model! {
    pub struct GruSeqSoftmax {
        input: [10, 4],
        gru: Gru(16, return_sequences = true),
        out: Dense(3, activation = softmax),
    }
}

type M = GruSeqSoftmax<f64>;
const STEPS: usize = 10;

struct Case {
    model: M,
    x: Vec<Sequence<f64, STEPS, 4>>,
    labels: Vec<[usize; STEPS]>,
    onehot: Vec<Sequence<f64, STEPS, 3>>,
    fx: Fixture,
}

fn load() -> Case {
    let fx = Fixture::load("loss_gru_seq_softmax");
    assert_eq!(fx.meta("kind"), "seq_loss");
    let source = include_str!("sequence_loss.rs");
    let body = struct_body(source, fx.meta("type")).expect("the fixture's model! in this file");
    assert_eq!(normalize_dsl(body), normalize_dsl(fx.meta("dsl")));
    let mut model = M::zeros();
    // Parameters only: the fixture's other tensors are data.
    let mut params = fx.clone();
    params
        .tensors
        .retain(|k, _| k.starts_with("gru.") || k.starts_with("out."));
    load_params(&params, &mut model).unwrap();
    let input = fx.get("input");
    let n = input.shape[0];
    let per = STEPS * 4;
    let x = (0..n)
        .map(|i| Sequence::from_flat(&input.values[i * per..(i + 1) * per]).unwrap())
        .collect();
    let lab = fx.get("labels");
    assert_eq!(lab.shape, [n, STEPS]);
    let labels: Vec<[usize; STEPS]> = (0..n)
        .map(|i| core::array::from_fn(|t| lab.values[i * STEPS + t] as usize))
        .collect();
    let onehot = labels
        .iter()
        .map(|l| {
            let mut y = Sequence::<f64, STEPS, 3>::zeros();
            for (t, &c) in l.iter().enumerate() {
                y[(c, t)] = 1.0;
            }
            y
        })
        .collect();
    Case {
        model,
        x,
        labels,
        onehot,
        fx,
    }
}

#[test]
fn evaluate_matches_pytorch_cross_entropy_and_accuracy() {
    let c = load();
    let want_loss = c.fx.get("loss").values[0];
    let want_acc = c.fx.get("accuracy").values[0];
    let e = evaluate(
        &c.model,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &c.x,
        &c.labels,
    )
    .unwrap();
    assert!(
        (e.loss - want_loss).abs() < 1e-12,
        "{} vs {want_loss}",
        e.loss
    );
    assert_eq!(e.metric, Some(("accuracy", want_acc)));
    // One-hot targets of the output's type: the same numbers.
    let e = evaluate(
        &c.model,
        &CategoricalCrossEntropy,
        &CategoricalAccuracy,
        &c.x,
        &c.onehot,
    )
    .unwrap();
    assert!(
        (e.loss - want_loss).abs() < 1e-12,
        "{} vs {want_loss}",
        e.loss
    );
    assert_eq!(e.metric, Some(("accuracy", want_acc)));
}

/// A step (lr 0) computes PyTorch's loss and autograd's gradients, one
/// sample at a time and four at a time, with either form of the target;
/// `fit` reports the same loss and accuracy.
#[test]
fn training_matches_pytorch_gradients() {
    let c = load();
    let want_loss = c.fx.get("loss").values[0];
    let zero_lr = || {
        Sgd::<M>::new(SgdConfig {
            lr: 0.0,
            ..Default::default()
        })
    };
    let check = |grads: &M, what: &str| {
        grads.visit_params(&mut |p: Param<'_, f64>| {
            let got: Vec<f64> = p.iter().collect();
            let name = format!("grad.{}", p.name);
            compare(&name, &got, c.fx.get(&name), 1e-10).unwrap_or_else(|e| panic!("{what}: {e}"));
        });
    };
    let mut m = c.model.clone();
    let mut t = Trainer::new(zero_lr());
    let l = t
        .step(&mut m, &SparseCategoricalCrossEntropy, &c.x, &c.labels)
        .unwrap();
    assert!((l - want_loss).abs() < 1e-12, "{l} vs {want_loss}");
    check(&t.grads, "sparse, one by one");
    let mut t4 = Trainer::<f64, M, Sgd<M>, 4>::chunked(zero_lr());
    let l = t4
        .step(&mut m, &CategoricalCrossEntropy, &c.x, &c.onehot)
        .unwrap();
    assert!((l - want_loss).abs() < 1e-12, "{l} vs {want_loss}");
    check(&t4.grads, "one-hot, four at a time");

    let h = fit(
        &mut m,
        &mut zero_lr(),
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &c.x,
        &c.labels,
        &FitConfig {
            batch_size: 8,
            verbose: 0,
            ..Default::default()
        },
    )
    .unwrap();
    assert!((h.loss[0] - want_loss).abs() < 1e-12, "{:?}", h.loss);
    assert_eq!(h.metric[0], c.fx.get("accuracy").values[0]);
}

/// One class index for a whole sequence output is an error that says what
/// to give instead, in `evaluate` and in training alike.
#[test]
fn one_label_for_a_sequence_output_is_an_error() {
    let c = load();
    let labels = vec![0usize; c.x.len()];
    let e = evaluate(
        &c.model,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &c.x,
        &labels,
    )
    .unwrap_err();
    assert_eq!(
        e,
        TrainError::LabelCount {
            expected: 10,
            found: 1
        }
    );
    assert!(e.to_string().contains("[usize; 10]"), "{e}");
    let mut m = c.model.clone();
    let mut t = Trainer::new(Sgd::<M>::new(SgdConfig::default()));
    assert_eq!(
        t.step(&mut m, &SparseCategoricalCrossEntropy, &c.x, &labels)
            .unwrap_err(),
        e
    );
    assert_eq!(m, c.model);
    // A one-hot target of another shape with as many values ([30]) is
    // refused too: it would be one softmax over all 30 values.
    let flat: Vec<Vector<f64, 30>> = c
        .onehot
        .iter()
        .map(|y| Vector::from_column_slice(y.as_flat()))
        .collect();
    assert!(evaluate(
        &c.model,
        &CategoricalCrossEntropy,
        &CategoricalAccuracy,
        &c.x,
        &flat
    )
    .is_err());
}
