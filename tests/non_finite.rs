//! NaN and infinite values in the data and in the model: a non-finite
//! input is reported with its index before anything runs, and `evaluate`
//! and `predict` refuse to report a non-finite output or loss.

use staticnet::fit::{evaluate, fit, predict, FitConfig, Validation};
use staticnet::loss::{BinaryCrossEntropy, MeanSquaredError};
use staticnet::metrics::NoMetric;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{model, TrainError, Trainer, Vector};

model! {
    struct Net {
        input: [3],
        h: Dense(4, activation = tanh),
        out: Dense(1, activation = sigmoid),
    }
}

type M = Net<f64>;

fn data(n: usize) -> (Vec<Vector<f64, 3>>, Vec<Vector<f64, 1>>) {
    let x: Vec<Vector<f64, 3>> = (0..n)
        .map(|i| Vector::<f64, 3>::new(i as f64 / n as f64, 0.5, -(i as f64)))
        .collect();
    let y = (0..n)
        .map(|i| Vector::<f64, 1>::new((i % 2) as f64))
        .collect();
    (x, y)
}

fn quiet<'a, X, Y>() -> FitConfig<'a, X, Y> {
    FitConfig {
        epochs: 2,
        batch_size: 4,
        verbose: 0,
        ..Default::default()
    }
}

#[test]
fn a_nan_input_is_reported_with_its_index_and_changes_nothing() {
    let (mut x, y) = data(12);
    x[9][1] = f64::NAN;
    let mut m = M::init(1);
    let mut adam = Adam::<M>::new(AdamConfig::default());
    let e = fit(
        &mut m,
        &mut adam,
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &quiet(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        TrainError::NonFiniteInput {
            index: 9,
            validation: false
        }
    );
    assert_eq!(
        e.to_string(),
        "input 9 holds a NaN or infinite value; nothing was changed"
    );
    assert_eq!(m, M::init(1));
    assert_eq!(adam.steps(), 0);

    // In separate validation data it is named as such.
    let (good_x, _) = data(12);
    let (mut vx, vy) = data(5);
    vx[3][0] = f64::INFINITY;
    let e = fit(
        &mut m,
        &mut adam,
        &BinaryCrossEntropy,
        &NoMetric,
        &good_x,
        &y,
        &FitConfig {
            validation: Validation::Data(&vx, &vy),
            ..quiet()
        },
    )
    .unwrap_err();
    assert_eq!(
        e,
        TrainError::NonFiniteInput {
            index: 3,
            validation: true
        }
    );
    assert!(e.to_string().starts_with("validation input 3 "), "{e}");
    assert_eq!(m, M::init(1));

    // A Trainer names the index in the batch it was given (sample by
    // sample and four at a time).
    let mut t = Trainer::new(Adam::<M>::new(AdamConfig::default()));
    let e = t
        .step(&mut m, &BinaryCrossEntropy, &x[4..], &y[4..])
        .unwrap_err();
    assert!(
        matches!(e, TrainError::NonFiniteInput { index: 5, .. }),
        "{e}"
    );
    let mut t4 = Trainer::<f64, M, Adam<M>, 4>::chunked(Adam::new(AdamConfig::default()));
    let e = t4.step(&mut m, &BinaryCrossEntropy, &x, &y).unwrap_err();
    assert!(
        matches!(e, TrainError::NonFiniteInput { index: 9, .. }),
        "{e}"
    );
    assert_eq!(m, M::init(1));

    // evaluate and predict too.
    let e = evaluate(&m, &BinaryCrossEntropy, &NoMetric, &x, &y).unwrap_err();
    assert!(
        matches!(e, TrainError::NonFiniteInput { index: 9, .. }),
        "{e}"
    );
    let e = predict(&m, &x).unwrap_err();
    assert!(
        matches!(e, TrainError::NonFiniteInput { index: 9, .. }),
        "{e}"
    );
}

#[test]
fn evaluate_and_predict_refuse_non_finite_outputs() {
    let (x, y) = data(6);
    let mut m = M::init(2);
    // Finite before.
    assert!(evaluate(&m, &MeanSquaredError, &NoMetric, &x, &y).is_ok());
    assert_eq!(predict(&m, &x).unwrap().len(), 6);
    m.out.bias[0] = f64::NAN;
    let e = evaluate(&m, &MeanSquaredError, &NoMetric, &x, &y).unwrap_err();
    assert_eq!(e, TrainError::NonFiniteOutput { index: 0 });
    assert!(e.to_string().contains("output for input 0"), "{e}");
    assert_eq!(
        predict(&m, &x).unwrap_err(),
        TrainError::NonFiniteOutput { index: 0 }
    );
    // A NaN target gives a NaN loss: an error, not a NaN "result".
    let m = M::init(2);
    let mut bad = y.clone();
    bad[4][0] = f64::NAN;
    let e = evaluate(&m, &MeanSquaredError, &NoMetric, &x, &bad).unwrap_err();
    assert!(
        matches!(e, TrainError::NonFinite { what: "loss", .. }),
        "{e}"
    );
}
