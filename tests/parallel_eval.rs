//! `predict_parallel` and `evaluate_parallel` against their one-thread
//! forms: the same outputs bit for bit, the same metric, the loss within
//! the regrouping of one sum, and the first error in sample order.

use staticnet::fit::{evaluate, evaluate_parallel, predict, predict_parallel};
use staticnet::loss::SparseCategoricalCrossEntropy;
use staticnet::metrics::{MacroF1, SparseCategoricalAccuracy as Accuracy};
use staticnet::{model, Rng, Tensor, TrainError, Vector};

model! {
    struct Classifier {
        input: [6],
        hidden: Dense(16, activation = relu),
        out: Dense(4, activation = softmax),
    }
}

fn data(n: usize) -> (Vec<Vector<f32, 6>>, Vec<usize>) {
    let mut rng = Rng::new(5);
    let x = (0..n)
        .map(|_| {
            let mut v = Vector::<f32, 6>::zeros();
            for e in v.as_flat_mut() {
                *e = rng.normal() as f32;
            }
            v
        })
        .collect();
    let y = (0..n).map(|i| (i * 7) % 4).collect();
    (x, y)
}

#[test]
fn predict_parallel_is_predict_bit_for_bit() {
    let m = Classifier::<f32>::init(3);
    let (x, _) = data(103);
    let one = predict(&m, &x).unwrap();
    for threads in [1, 2, 3, 7, 200] {
        assert_eq!(
            predict_parallel(&m, &x, threads).unwrap(),
            one,
            "{threads} threads"
        );
    }
    assert!(predict_parallel(&m, &x[..0], 2).unwrap().is_empty());
}

#[test]
fn evaluate_parallel_is_evaluate() {
    let m = Classifier::<f32>::init(4);
    let (x, y) = data(101);
    let loss = SparseCategoricalCrossEntropy;
    for metric_is_f1 in [false, true] {
        let (one, many) = if metric_is_f1 {
            (
                evaluate(&m, &loss, &MacroF1, &x, &y).unwrap(),
                evaluate_parallel(&m, &loss, &MacroF1, &x, &y, 3).unwrap(),
            )
        } else {
            (
                evaluate(&m, &loss, &Accuracy, &x, &y).unwrap(),
                evaluate_parallel(&m, &loss, &Accuracy, &x, &y, 3).unwrap(),
            )
        };
        assert_eq!(many.metric, one.metric);
        assert!(
            (many.loss - one.loss).abs() <= 1e-14 * one.loss.abs(),
            "{} vs {}",
            many.loss,
            one.loss
        );
        assert!(one.loss > 0.5, "a real loss: {}", one.loss);
    }
    // One thread is the same sum, in the same order.
    let a = evaluate(&m, &loss, &Accuracy, &x, &y).unwrap();
    let b = evaluate_parallel(&m, &loss, &Accuracy, &x, &y, 1).unwrap();
    assert_eq!((a.loss, a.metric), (b.loss, b.metric));
}

#[test]
fn the_first_bad_sample_is_named_in_sample_order() {
    let m = Classifier::<f32>::init(5);
    let (mut x, y) = data(90);
    x[75].as_flat_mut()[2] = f32::NAN;
    x[40].as_flat_mut()[0] = f32::INFINITY;
    for threads in [1, 2, 4] {
        match predict_parallel(&m, &x, threads) {
            Err(TrainError::NonFiniteInput { index: 40, .. }) => {}
            other => panic!("{threads} threads: {other:?}"),
        }
        let loss = SparseCategoricalCrossEntropy;
        match evaluate_parallel(&m, &loss, &Accuracy, &x, &y, threads) {
            Err(TrainError::NonFiniteInput { index: 40, .. }) => {}
            other => panic!("{threads} threads: {other:?}"),
        }
    }
    assert!(matches!(
        predict_parallel(&m, &x, 0),
        Err(TrainError::Config(_))
    ));
}
