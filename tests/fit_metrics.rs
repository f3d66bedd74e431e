//! Precision, recall, F1 (binary and macro-averaged), the confusion
//! matrix, MAE and RMSE, against hand-computed values of their
//! scikit-learn / Keras definitions; through `evaluate` (on a model whose
//! output is its input) and as `fit`'s monitored metrics.

use staticnet::fit::{
    confusion_matrix, evaluate, fit, EarlyStopping, FitConfig, Monitor, Validation,
};
use staticnet::loss::{MeanSquaredError, SparseCategoricalCrossEntropy};
use staticnet::metrics::{
    F1Score, MacroF1, MacroPrecision, MacroRecall, MeanAbsoluteError, Metric, Precision, Recall,
    RootMeanSquaredError,
};
use staticnet::optim::{Sgd, SgdConfig};
use staticnet::{model, Model, Rng, Vector};

model! {
    struct Id1 {
        input: [1],
        out: Dense(1),
    }
}
model! {
    struct Id3 {
        input: [3],
        out: Dense(3),
    }
}
model! {
    struct Id4 {
        input: [4],
        out: Dense(4),
    }
}

/// A Dense model with identity weights and zero bias: its output is its
/// input, so `evaluate` sees the outputs the test chooses.
fn identity<M: Model<f64>>() -> M {
    let mut m = M::zeros();
    m.visit_params_mut(&mut |mut p| {
        if p.name.ends_with("weight") {
            let n = (p.len() as f64).sqrt() as usize;
            let eye: Vec<f64> = (0..n * n)
                .map(|k| f64::from(u8::from(k % (n + 1) == 0)))
                .collect();
            p.copy_from(&eye).unwrap();
        }
    });
    m
}

fn close(what: &str, a: f64, b: f64) {
    assert!((a - b).abs() < 1e-15, "{what}: {a}, expected {b}");
}

/// Scores of `metric` over the whole set through `evaluate`.
fn eval<M: staticnet::Train<f64>, Y, A: Metric<f64, Y>>(
    m: &M,
    a: &A,
    x: &[M::Input],
    y: &[Y],
) -> f64
where
    MeanSquaredError: staticnet::loss::Loss<f64, Y>,
{
    evaluate(m, &MeanSquaredError, a, x, y)
        .unwrap()
        .metric
        .unwrap()
        .1
}

// Binary: targets [1 1 1 0 0 1 0], outputs [.9 .6 .4 .7 .2 .55 .51],
// threshold 0.5: predictions [1 1 0 1 0 1 1]: tp = 3 (0, 1, 5), fp = 2
// (3, 6), fn = 1 (2). precision 3/5, recall 3/4, F1 2·3/(2·3 + 2 + 1) = 2/3.
#[test]
fn binary_precision_recall_f1_over_the_set() {
    let m: Id1<f64> = identity();
    let out = [0.9, 0.6, 0.4, 0.7, 0.2, 0.55, 0.51];
    let t = [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0];
    let x: Vec<_> = out.iter().map(|&v| Vector::<f64, 1>::new(v)).collect();
    let y: Vec<_> = t.iter().map(|&v| Vector::<f64, 1>::new(v)).collect();
    close(
        "precision",
        eval(&m, &Precision::default(), &x, &y),
        3.0 / 5.0,
    );
    close("recall", eval(&m, &Recall::default(), &x, &y), 3.0 / 4.0);
    close("f1", eval(&m, &F1Score::default(), &x, &y), 2.0 / 3.0);
    // Threshold 0.65: predictions [1 0 0 1 0 0 0]: tp 1, fp 1, fn 3.
    let p = Precision { threshold: 0.65 };
    close("precision@0.65", eval(&m, &p, &x, &y), 0.5);
    close(
        "recall@0.65",
        eval(&m, &Recall { threshold: 0.65 }, &x, &y),
        0.25,
    );
    // Nothing predicted positive: precision 0 (zero_division = 0), not NaN.
    close(
        "no positives",
        eval(&m, &Precision { threshold: 0.95 }, &x, &y),
        0.0,
    );
}

// Three classes: true [0 0 0 1 1 2], predicted [0 0 1 1 2 2].
//   class 0: tp 2, fp 0, fn 1 -> P 1,   R 2/3, F1 4/5
//   class 1: tp 1, fp 1, fn 1 -> P 1/2, R 1/2, F1 1/2
//   class 2: tp 1, fp 1, fn 0 -> P 1/2, R 1,   F1 2/3
// macro P 2/3, macro R 13/18, macro F1 (4/5 + 1/2 + 2/3)/3 = 59/90.
const TRUE: [usize; 6] = [0, 0, 0, 1, 1, 2];
const PRED: [usize; 6] = [0, 0, 1, 1, 2, 2];

fn scores(pred: &[usize]) -> Vec<Vector<f64, 3>> {
    pred.iter()
        .map(|&p| Vector::<f64, 3>::from_fn(|i, _| if i == p { 0.8 } else { 0.1 }))
        .collect()
}

#[test]
fn macro_averages_as_scikit_learn() {
    let m: Id3<f64> = identity();
    let x = scores(&PRED);
    let y = TRUE.to_vec();
    let e = |metric: &str| -> f64 {
        match metric {
            "p" => evaluate(&m, &SparseCategoricalCrossEntropy, &MacroPrecision, &x, &y),
            "r" => evaluate(&m, &SparseCategoricalCrossEntropy, &MacroRecall, &x, &y),
            _ => evaluate(&m, &SparseCategoricalCrossEntropy, &MacroF1, &x, &y),
        }
        .unwrap()
        .metric
        .unwrap()
        .1
    };
    close("macro precision", e("p"), 2.0 / 3.0);
    close("macro recall", e("r"), 13.0 / 18.0);
    close("macro f1", e("f"), 59.0 / 90.0);
    // One-hot targets give the same.
    let onehot: Vec<Vector<f64, 3>> = TRUE
        .iter()
        .map(|&t| Vector::<f64, 3>::from_fn(|i, _| f64::from(u8::from(i == t))))
        .collect();
    close("one-hot", eval(&m, &MacroF1, &x, &onehot), 59.0 / 90.0);
}

/// A class that is neither present nor predicted counts 0 in the macro
/// average over all the output's classes (`labels=range(K)`,
/// `zero_division=0`): the 3-class sums over 4.
#[test]
fn an_absent_class_counts_zero() {
    let m: Id4<f64> = identity();
    let x: Vec<Vector<f64, 4>> = PRED
        .iter()
        .map(|&p| Vector::<f64, 4>::from_fn(|i, _| if i == p { 0.7 } else { 0.1 }))
        .collect();
    let y = TRUE.to_vec();
    let p = evaluate(&m, &SparseCategoricalCrossEntropy, &MacroPrecision, &x, &y).unwrap();
    close("macro precision / 4", p.metric.unwrap().1, 2.0 / 4.0);
}

#[test]
fn confusion_matrix_rows_are_true_classes() {
    let m: Id3<f64> = identity();
    let cm = confusion_matrix(&m, &scores(&PRED), &TRUE).unwrap();
    assert_eq!(cm.classes, 3);
    assert_eq!(cm.counts, [2, 1, 0, 0, 1, 1, 0, 0, 1]);
    close("accuracy", cm.accuracy(), 4.0 / 6.0);
    close("precision(2)", cm.precision(2), 0.5);
    close("recall(0)", cm.recall(0), 2.0 / 3.0);
    close("f1(0)", cm.f1(0), 0.8);
    close("macro f1", cm.macro_f1(), 59.0 / 90.0);
    close("macro recall", cm.macro_recall(), 13.0 / 18.0);
    assert_eq!(
        cm.to_string(),
        "true\\pred    0    1    2\n        0    2    1    0\n        1    0    1    1\n        2    0    0    1"
    );
    // A single sigmoid output: two classes, above 0.5 predicts 1.
    let b: Id1<f64> = identity();
    let x: Vec<_> = [0.9, 0.2, 0.7]
        .iter()
        .map(|&v| Vector::<f64, 1>::new(v))
        .collect();
    let y: Vec<_> = [1.0, 1.0, 0.0]
        .iter()
        .map(|&v| Vector::<f64, 1>::new(v))
        .collect();
    let cm = confusion_matrix(&b, &x, &y).unwrap();
    assert_eq!(cm.counts, [0, 1, 1, 1]);
}

// Targets [1 2 3], outputs [1.5 2 1]: errors .5, 0, 2. MAE 2.5/3; RMSE
// over the set √((.25 + 0 + 4)/3) (the mean of per-sample roots would be
// 2.5/3: RMSE is not a mean of per-sample scores).
#[test]
fn mae_and_rmse_over_the_set() {
    let m: Id1<f64> = identity();
    let x: Vec<_> = [1.5, 2.0, 1.0]
        .iter()
        .map(|&v| Vector::<f64, 1>::new(v))
        .collect();
    let y: Vec<_> = [1.0, 2.0, 3.0]
        .iter()
        .map(|&v| Vector::<f64, 1>::new(v))
        .collect();
    close("mae", eval(&m, &MeanAbsoluteError, &x, &y), 2.5 / 3.0);
    close(
        "rmse",
        eval(&m, &RootMeanSquaredError, &x, &y),
        (4.25f64 / 3.0).sqrt(),
    );
    // Several outputs: the mean over every value.
    let m3: Id3<f64> = identity();
    let x = [Vector::<f64, 3>::new(0.0, 1.0, 2.0)];
    let y = [Vector::<f64, 3>::new(1.0, 1.0, 0.0)];
    close("mae of 3", eval(&m3, &MeanAbsoluteError, &x, &y), 1.0);
    close(
        "rmse of 3",
        eval(&m3, &RootMeanSquaredError, &x, &y),
        (5.0f64 / 3.0).sqrt(),
    );
}

model! {
    struct Clf {
        input: [2],
        h: Dense(8, activation = tanh),
        out: Dense(3),
    }
}

fn blobs() -> (Vec<Vector<f64, 2>>, Vec<usize>) {
    let mut rng = Rng::new(4);
    let centres = [(-1.0, 0.0), (1.0, 0.5), (0.0, -1.0)];
    (0..30)
        .map(|i| {
            let (cx, cy) = centres[i % 3];
            (
                Vector::<f64, 2>::new(cx + 0.6 * rng.normal(), cy + 0.6 * rng.normal()),
                i % 3,
            )
        })
        .unzip()
}

/// In `fit` a stateful metric is counted over the whole epoch, not
/// averaged over batches: with the weights held still (lr 0) the
/// epoch's F1 and RMSE equal `evaluate`'s over the training part, for
/// any batch size and thread count; the validation metric is
/// `evaluate`'s on the validation part.
#[test]
fn fit_counts_stateful_metrics_over_the_epoch() {
    let (x, y) = blobs();
    let m0 = Clf::<f64>::init(7);
    for (batch_size, threads) in [(4, 1), (7, 2), (30, 1)] {
        let mut m = Clf::<f64>::init(7);
        let h = fit(
            &mut m,
            &mut Sgd::<Clf<f64>>::new(SgdConfig {
                lr: 0.0,
                ..Default::default()
            }),
            &SparseCategoricalCrossEntropy,
            &MacroF1,
            &x,
            &y,
            &FitConfig {
                batch_size,
                threads,
                verbose: 0,
                validation: Validation::Split(0.2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(h.metric_name, Some("f1_score"));
        let whole = evaluate(
            &m0,
            &SparseCategoricalCrossEntropy,
            &MacroF1,
            &x[..24],
            &y[..24],
        )
        .unwrap()
        .metric
        .unwrap()
        .1;
        close(&format!("train f1, batch {batch_size}"), h.metric[0], whole);
        let val = evaluate(
            &m0,
            &SparseCategoricalCrossEntropy,
            &MacroF1,
            &x[24..],
            &y[24..],
        )
        .unwrap()
        .metric
        .unwrap()
        .1;
        close("val f1", h.val_metric[0], val);
    }
}

/// MAE and RMSE are minimised when monitored (Keras' `mode = "auto"`):
/// on a regression whose MAE falls every epoch, early stopping with
/// patience 1 never stops and the best epoch is the last.
#[test]
fn lower_is_better_metrics_are_minimised_when_monitored() {
    let mut rng = Rng::new(2);
    let x: Vec<_> = (0..32)
        .map(|_| Vector::<f64, 2>::from_fn(|_, _| rng.normal()))
        .collect();
    let y: Vec<_> = x
        .iter()
        .map(|x| Vector::<f64, 1>::new(1.5 * x[0] - 0.5 * x[1] + 1.0))
        .collect();
    model! {
        struct Reg {
            input: [2],
            out: Dense(1),
        }
    }
    let mut m = Reg::<f64>::init(1);
    let h = fit(
        &mut m,
        &mut Sgd::<Reg<f64>>::new(SgdConfig {
            lr: 0.05,
            ..Default::default()
        }),
        &MeanSquaredError,
        &MeanAbsoluteError,
        &x,
        &y,
        &FitConfig {
            epochs: 8,
            batch_size: 32,
            verbose: 0,
            early_stopping: Some(EarlyStopping {
                monitor: Monitor::Metric,
                patience: 1,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        h.metric.windows(2).all(|w| w[1] < w[0]),
        "MAE {:?}",
        h.metric
    );
    assert_eq!(h.stopped_epoch, None);
    assert_eq!(h.best_epoch, Some(8));
}
