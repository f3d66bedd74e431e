//! `fit`'s sample weights and Keras' `class_weight` against Keras 3
//! (`tools/make_weight_fixtures.py`): one epoch of one batch with SGD at
//! lr 1 in float64, so the reported loss is the weighted loss of the
//! initial weights and (before − after) its gradient. Keras' reduction is
//! `sum_over_batch_size`: `Σ wᵢ lᵢ / N`, not divided by `Σ wᵢ`.

mod common;

use common::Fixture;
use staticnet::fit::{
    class_sample_weights, evaluate, evaluate_weighted, fit, FitConfig, Validation,
};
use staticnet::loss::{BinaryCrossEntropy, Loss, MeanSquaredError, SparseCategoricalCrossEntropy};
use staticnet::metrics::NoMetric;
use staticnet::optim::{Sgd, SgdConfig};
use staticnet::{model, Model, Train, TrainError, Vector};

model! {
    struct W3 {
        input: [4],
        fc: Dense(3),
    }
}
model! {
    struct W2 {
        input: [4],
        fc: Dense(2),
    }
}
model! {
    struct W1 {
        input: [4],
        fc: Dense(1),
    }
}

/// The model with the fixture's `fc.weight` / `fc.bias`.
fn load<M: Model<f64>>(f: &Fixture) -> M {
    let mut m = M::zeros();
    m.visit_params_mut(&mut |mut p| {
        let name = p.name;
        p.copy_from(&f.get(name).values).expect("fixture shape");
    });
    m
}

fn params<M: Model<f64>>(m: &M) -> Vec<(String, Vec<f64>)> {
    let mut v = Vec::new();
    m.visit_params(&mut |p| v.push((p.name.to_owned(), p.iter().collect())));
    v
}

fn inputs(f: &Fixture) -> Vec<Vector<f64, 4>> {
    f.get("x")
        .values
        .chunks_exact(4)
        .map(Vector::<f64, 4>::from_column_slice)
        .collect()
}

fn close(what: &str, a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12, "{what}: {a} vs Keras {b}");
}

/// One epoch of `fit` on the fixture's batch with sample weights `w`:
/// checks the loss and every parameter gradient against Keras'.
fn check<M, Y, L>(case: &str, y: &[Y], loss: &L, w: &[f64])
where
    M: Train<f64> + staticnet::Zeroable + Send + Sync,
    M::Input: Sync + From<Vector<f64, 4>>,
    M::Tape: Send,
    Y: Sync,
    L: Loss<f64, Y> + Sync,
{
    let f = Fixture::load(case);
    let x: Vec<M::Input> = inputs(&f).into_iter().map(Into::into).collect();
    let mut m: M = load(&f);
    let before = params(&m);
    // The weighted loss of the initial weights, as `evaluate(sample_weight=…)`.
    let e = evaluate_weighted(&m, loss, &NoMetric, &x, y, w).unwrap();
    close(
        &format!("{case}: evaluate_weighted"),
        e.loss,
        f.get("loss").values[0],
    );
    let mut sgd = Sgd::<M>::new(SgdConfig {
        lr: 1.0,
        ..Default::default()
    });
    let h = fit(
        &mut m,
        &mut sgd,
        loss,
        &NoMetric,
        &x,
        y,
        &FitConfig {
            batch_size: x.len(),
            shuffle: false,
            verbose: 0,
            sample_weight: Some(w),
            ..Default::default()
        },
    )
    .unwrap();
    close(&format!("{case}: loss"), h.loss[0], f.get("loss").values[0]);
    for ((name, b), (_, a)) in before.iter().zip(params(&m)) {
        let g = &f.get(&format!("grad.{name}")).values;
        assert_eq!(g.len(), b.len());
        for (k, ((b, a), g)) in b.iter().zip(&a).zip(g).enumerate() {
            close(&format!("{case}: grad {name}[{k}]"), b - a, *g);
        }
    }
}

fn labels(f: &Fixture) -> Vec<usize> {
    f.get("y").values.iter().map(|&v| v as usize).collect()
}

fn targets<const N: usize>(f: &Fixture) -> Vec<Vector<f64, N>> {
    f.get("y")
        .values
        .chunks_exact(N)
        .map(Vector::<f64, N>::from_column_slice)
        .collect()
}

#[test]
fn sample_weights_match_keras_sparse_categorical() {
    let f = Fixture::load("fit/weights_sparse_sw");
    check::<W3<f64>, _, _>(
        "fit/weights_sparse_sw",
        &labels(&f),
        &SparseCategoricalCrossEntropy,
        &f.get("w").values,
    );
}

#[test]
fn class_weights_match_keras_sparse_categorical() {
    let f = Fixture::load("fit/weights_sparse_cw");
    let y = labels(&f);
    let w = class_sample_weights::<f64, _>(&y, &[1.0, 2.5, 0.5]).unwrap();
    assert_eq!(w, f.get("w").values, "the weights Keras gave each sample");
    check::<W3<f64>, _, _>(
        "fit/weights_sparse_cw",
        &y,
        &SparseCategoricalCrossEntropy,
        &w,
    );
}

#[test]
fn sample_weights_match_keras_binary_cross_entropy() {
    let f = Fixture::load("fit/weights_bce_sw");
    check::<W1<f64>, _, _>(
        "fit/weights_bce_sw",
        &targets::<1>(&f),
        &BinaryCrossEntropy,
        &f.get("w").values,
    );
}

#[test]
fn class_weights_match_keras_binary_cross_entropy() {
    let f = Fixture::load("fit/weights_bce_cw");
    let y = targets::<1>(&f);
    // A single binary target's class is the target rounded, as in Keras.
    let w = class_sample_weights::<f64, _>(&y, &[0.25, 4.0]).unwrap();
    assert_eq!(w, f.get("w").values);
    check::<W1<f64>, _, _>("fit/weights_bce_cw", &y, &BinaryCrossEntropy, &w);
}

#[test]
fn sample_weights_match_keras_mean_squared_error() {
    let f = Fixture::load("fit/weights_mse_sw");
    check::<W2<f64>, _, _>(
        "fit/weights_mse_sw",
        &targets::<2>(&f),
        &MeanSquaredError,
        &f.get("w").values,
    );
}

/// Weights of 1 are no weights, bit for bit; the mean divides by N, so
/// doubling every weight doubles the loss (it would not if it divided by
/// the sum of the weights).
#[test]
fn unit_weights_change_nothing_and_the_mean_divides_by_n() {
    let f = Fixture::load("fit/weights_sparse_sw");
    let x = inputs(&f);
    let y = labels(&f);
    let run = |w: Option<&[f64]>| {
        let mut m: W3<f64> = load(&f);
        let mut sgd = Sgd::<W3<f64>>::new(SgdConfig {
            lr: 0.1,
            ..Default::default()
        });
        let h = fit(
            &mut m,
            &mut sgd,
            &SparseCategoricalCrossEntropy,
            &NoMetric,
            &x,
            &y,
            &FitConfig {
                epochs: 3,
                batch_size: 3,
                verbose: 0,
                sample_weight: w,
                ..Default::default()
            },
        )
        .unwrap();
        (h.loss, params(&m))
    };
    assert_eq!(run(None), run(Some(&[1.0; 7])));
    let m: W3<f64> = load(&f);
    let one = evaluate(&m, &SparseCategoricalCrossEntropy, &NoMetric, &x, &y).unwrap();
    let two = evaluate_weighted(
        &m,
        &SparseCategoricalCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &[2.0; 7],
    )
    .unwrap();
    close("doubled weights", two.loss, 2.0 * one.loss);
}

/// With a validation split the last part's weights weight `val_loss`, as
/// Keras splits `sample_weight` with the data.
#[test]
fn validation_split_takes_its_part_of_the_weights() {
    let f = Fixture::load("fit/weights_sparse_sw");
    let x = inputs(&f);
    let y = labels(&f);
    let w = f.get("w").values.clone();
    let mut m: W3<f64> = load(&f);
    let m0: W3<f64> = load(&f);
    let mut sgd = Sgd::<W3<f64>>::new(SgdConfig {
        lr: 0.0,
        ..Default::default()
    });
    let h = fit(
        &mut m,
        &mut sgd,
        &SparseCategoricalCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            batch_size: 7,
            verbose: 0,
            validation: Validation::Split(0.3),
            sample_weight: Some(&w),
            ..Default::default()
        },
    )
    .unwrap();
    // floor(7 · 0.7) = 4 training samples, 3 validating.
    let v = evaluate_weighted(
        &m0,
        &SparseCategoricalCrossEntropy,
        &NoMetric,
        &x[4..],
        &y[4..],
        &w[4..],
    )
    .unwrap();
    close("val_loss", h.val_loss[0], v.loss);
}

#[test]
fn bad_weights_are_refused_before_training() {
    let f = Fixture::load("fit/weights_sparse_sw");
    let x = inputs(&f);
    let y = labels(&f);
    let mut m: W3<f64> = load(&f);
    let before = params(&m);
    for w in [
        &[1.0; 6][..],
        &[1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0],
        &[f64::NAN; 7],
    ] {
        let mut sgd = Sgd::<W3<f64>>::new(SgdConfig::default());
        let r = fit(
            &mut m,
            &mut sgd,
            &SparseCategoricalCrossEntropy,
            &NoMetric,
            &x,
            &y,
            &FitConfig {
                verbose: 0,
                sample_weight: Some(w),
                ..Default::default()
            },
        );
        assert!(matches!(r, Err(TrainError::Config(_))), "{r:?}");
    }
    assert_eq!(params(&m), before);
    assert!(matches!(
        class_sample_weights::<f64, _>(&[0usize, 3], &[1.0, 1.0]),
        Err(TrainError::LabelOutOfRange {
            label: 3,
            classes: 2
        })
    ));
}
