//! Regression tests for the training bugs of issue 14, on models generated
//! by `model!`: a loss that does not fit the last activation, the loss and
//! accuracy of per-step classifiers, hyperparameters validated before the
//! first step, and the last good weights kept on every non-finite path.
//!
//! Every test here compiles against the API as it was before the fixes, and
//! each of the first three groups failed there (see the commit messages).

use staticnet::fit::{evaluate, fit, FitConfig, Validation};
use staticnet::loss::{BinaryCrossEntropy, CategoricalCrossEntropy, Loss, MeanSquaredError, Wrt};
use staticnet::metrics::{CategoricalAccuracy, NoMetric};
use staticnet::optim::{Adam, AdamConfig, Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig};
use staticnet::{
    model, Model, OutputActivation, Rng, Sequence, Tensor, TrainError, Trainer, Vector,
};

model! {
    struct SoftmaxHead {
        input: [4],
        h: Dense(5, activation = tanh),
        out: Dense(3, activation = softmax),
    }
}

model! {
    struct SigmoidHead {
        input: [4],
        h: Dense(5, activation = tanh),
        out: Dense(3, activation = sigmoid),
    }
}

model! {
    /// The per-step classifier: output [10, 3].
    struct PerStep {
        input: [10, 4],
        gru: Gru(16, return_sequences = true),
        out: Dense(3, activation = softmax),
    }
}

fn inputs<X: Tensor<f64>>(n: usize, seed: u64) -> Vec<X> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let mut x = X::zeros();
            x.as_flat_mut().iter_mut().for_each(|v| *v = rng.normal());
            x
        })
        .collect()
}

/// Every parameter's bits, to compare models exactly (NaN included).
fn bits<M: Model<f64>>(m: &M) -> Vec<u64> {
    (0..M::TENSORS)
        .flat_map(|i| m.tensor(i).iter().map(|v| v.to_bits()))
        .collect()
}

fn quiet<'a, X, Y>(epochs: usize, batch_size: usize) -> FitConfig<'a, X, Y> {
    FitConfig {
        epochs,
        batch_size,
        shuffle: false,
        verbose: 0,
        ..Default::default()
    }
}

fn sgd<M: Model<f64>>(lr: f64) -> Sgd<M> {
    Sgd::new(SgdConfig {
        lr,
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------
// One rule for which losses fit which last activation.

/// Binary cross-entropy after a softmax, and categorical cross-entropy
/// after a sigmoid, are errors in `fit`, `evaluate` and `Trainer` alike,
/// and change nothing. (Before: `fit` and `Trainer` trained on them.)
#[test]
fn a_loss_that_does_not_fit_the_last_activation_is_rejected_everywhere() {
    let x: Vec<Vector<f64, 4>> = inputs(6, 1);
    let y: Vec<Vector<f64, 3>> = (0..6)
        .map(|i| {
            let mut v = Vector::zeros();
            v[i % 3] = 1.0;
            v
        })
        .collect();

    let mut m = SoftmaxHead::<f64>::init(1);
    let before = bits(&m);
    let cfg = quiet(1, 3);
    let e = fit(
        &mut m,
        &mut sgd(0.1),
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &cfg,
    )
    .unwrap_err();
    assert_eq!(
        e,
        TrainError::Activation {
            loss: "binary cross-entropy",
            act: OutputActivation::Softmax,
            needs: OutputActivation::Sigmoid,
        }
    );
    assert_eq!(
        e.to_string(),
        "binary cross-entropy needs a model whose last activation is sigmoid or linear \
         (logits), but this one ends with softmax"
    );
    let e2 = evaluate(&m, &BinaryCrossEntropy, &NoMetric, &x, &y).unwrap_err();
    assert_eq!(e, e2);
    let mut t = Trainer::new(sgd::<SoftmaxHead<f64>>(0.1));
    assert_eq!(t.step(&mut m, &BinaryCrossEntropy, &x, &y).unwrap_err(), e);
    assert_eq!(bits(&m), before);

    let mut m = SigmoidHead::<f64>::init(1);
    let before = bits(&m);
    let e = fit(
        &mut m,
        &mut sgd(0.1),
        &CategoricalCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &cfg,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::Activation {
                act: OutputActivation::Sigmoid,
                needs: OutputActivation::Softmax,
                ..
            }
        ),
        "{e}"
    );
    let e2 = evaluate(&m, &CategoricalCrossEntropy, &NoMetric, &x, &y).unwrap_err();
    assert_eq!(e, e2);
    let mut t = Trainer::<f64, SigmoidHead<f64>, Sgd<SigmoidHead<f64>>, 4>::chunked(sgd(0.1));
    assert_eq!(
        t.step(&mut m, &CategoricalCrossEntropy, &x, &y)
            .unwrap_err(),
        e
    );
    assert_eq!(bits(&m), before);

    // The pairs that fit still train: BCE after the sigmoid, CCE after the
    // softmax.
    fit(
        &mut m,
        &mut sgd(0.1),
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &cfg,
    )
    .unwrap();
    let mut s = SoftmaxHead::<f64>::init(1);
    fit(
        &mut s,
        &mut sgd(0.1),
        &CategoricalCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &cfg,
    )
    .unwrap();
}

// ---------------------------------------------------------------------------
// Per-step softmax + cross-entropy and per-step accuracy.

/// With all-zero weights every step's softmax is uniform over 3 classes,
/// so the per-step cross-entropy is ln 3 at every step and its mean over
/// steps and batch (Keras' `sum_over_batch_size`, PyTorch's
/// `CrossEntropyLoss(reduction="mean")`) is ln 3 = 1.0986, in `fit`, in
/// `evaluate` and in a `Trainer` step. (Before: `fit` 10·ln 30 = 34.01, one
/// softmax over all 30 values, and `evaluate` 10·ln 3 = 10.99, the sum
/// over steps.) The accuracy is per step: the argmax of every uniform step
/// is class 0, right at 4 of the 10 steps. (Before: 1.0, the argmax over
/// all 30 values.)
#[test]
fn per_step_cross_entropy_and_accuracy_on_zero_weights() {
    let x: Vec<Sequence<f64, 10, 4>> = inputs(5, 2);
    let classes = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0];
    let mut onehot = Sequence::<f64, 10, 3>::zeros();
    for (t, &c) in classes.iter().enumerate() {
        onehot[(c, t)] = 1.0;
    }
    let y = vec![onehot; 5];
    let ln3 = 3f64.ln();

    let m = PerStep::<f64>::zeros();
    let e = evaluate(&m, &CategoricalCrossEntropy, &CategoricalAccuracy, &x, &y).unwrap();
    assert!((e.loss - ln3).abs() < 1e-12, "evaluate: {}", e.loss);
    assert_eq!(e.metric, Some(("accuracy", 0.4)));

    let mut m = PerStep::<f64>::zeros();
    let h = fit(
        &mut m,
        &mut sgd(0.0),
        &CategoricalCrossEntropy,
        &CategoricalAccuracy,
        &x,
        &y,
        &quiet(1, 2),
    )
    .unwrap();
    assert!((h.loss[0] - ln3).abs() < 1e-12, "fit: {:?}", h.loss);
    assert!((h.metric[0] - 0.4).abs() < 1e-12, "fit: {:?}", h.metric);

    let mut t = Trainer::new(sgd::<PerStep<f64>>(0.0));
    let l = t.step(&mut m, &CategoricalCrossEntropy, &x, &y).unwrap();
    assert!((l - ln3).abs() < 1e-12, "Trainer: {l}");
}

// ---------------------------------------------------------------------------
// Hyperparameters validated before the first step.

/// Every out-of-range hyperparameter is an error from `fit` before the
/// first step, and from a `Trainer` step, and the weights and the
/// optimizer are unchanged. (Before: a NaN or negative learning rate, a
/// beta of 1, a negative eps... trained, and `epochs = 0` returned an
/// empty history.)
#[test]
fn every_hyperparameter_is_validated_before_the_first_step() {
    type M = SigmoidHead<f64>;
    let x: Vec<Vector<f64, 4>> = inputs(6, 3);
    let y = vec![Vector::<f64, 3>::new(1.0, 0.0, 1.0); 6];
    let adam = |c: AdamConfig| Adam::<M>::new(c);
    let d = AdamConfig::default();
    let bad_adam = [
        AdamConfig { lr: f64::NAN, ..d },
        AdamConfig { lr: -0.1, ..d },
        AdamConfig {
            lr: f64::INFINITY,
            ..d
        },
        AdamConfig { beta1: 1.0, ..d },
        AdamConfig { beta2: -0.5, ..d },
        AdamConfig {
            beta1: f64::NAN,
            ..d
        },
        AdamConfig { eps: -1e-8, ..d },
        AdamConfig {
            weight_decay: f64::NAN,
            ..d
        },
    ];
    let s = SgdConfig::default();
    let bad_sgd = [
        SgdConfig { lr: f64::NAN, ..s },
        SgdConfig {
            momentum: -0.9,
            ..s
        },
        SgdConfig {
            dampening: f64::INFINITY,
            ..s
        },
        SgdConfig {
            weight_decay: -1.0,
            ..s
        },
        SgdConfig {
            nesterov: true,
            ..s
        },
        SgdConfig {
            nesterov: true,
            momentum: 0.9,
            dampening: 0.1,
            ..s
        },
    ];
    let r = RmsPropConfig::default();
    let bad_rms = [
        RmsPropConfig { lr: -1.0, ..r },
        RmsPropConfig { rho: 1.5, ..r },
        RmsPropConfig { eps: f64::NAN, ..r },
        RmsPropConfig {
            momentum: -0.1,
            ..r
        },
    ];
    let mut optimizers: Vec<Box<dyn Optimizer<f64, M>>> = Vec::new();
    optimizers.extend(bad_adam.map(|c| Box::new(adam(c)) as Box<dyn Optimizer<f64, M>>));
    optimizers.extend(bad_sgd.map(|c| Box::new(Sgd::<M>::new(c)) as Box<dyn Optimizer<f64, M>>));
    optimizers
        .extend(bad_rms.map(|c| Box::new(RmsProp::<M>::new(c)) as Box<dyn Optimizer<f64, M>>));
    for (i, opt) in optimizers.iter_mut().enumerate() {
        let mut m = M::init(5);
        let before = bits(&m);
        let e = fit(
            &mut m,
            &mut **opt,
            &BinaryCrossEntropy,
            &NoMetric,
            &x,
            &y,
            &quiet(2, 3),
        )
        .unwrap_err();
        assert!(matches!(e, TrainError::Config(_)), "optimizer {i}: {e}");
        assert_eq!(bits(&m), before, "optimizer {i} changed the weights");
    }
    for c in bad_adam {
        let mut m = M::init(5);
        let before = bits(&m);
        let mut t = Trainer::new(adam(c));
        let e = t.step(&mut m, &BinaryCrossEntropy, &x, &y).unwrap_err();
        assert!(matches!(e, TrainError::Config(_)), "{c:?}: {e}");
        assert_eq!(bits(&m), before, "{c:?}");
        assert_eq!(t.optimizer.steps(), 0);
    }

    // fit's own options.
    let configs: [(FitConfig<'_, _, _>, &str); 5] = [
        (quiet(0, 3), "epochs"),
        (quiet(1, 0), "batch_size"),
        (
            FitConfig {
                threads: 0,
                ..quiet(1, 3)
            },
            "threads",
        ),
        (
            FitConfig {
                verbose: 3,
                ..quiet(1, 3)
            },
            "verbose",
        ),
        (
            FitConfig {
                validation: Validation::Split(f64::NAN),
                ..quiet(1, 3)
            },
            "validation_split",
        ),
    ];
    for (cfg, what) in configs {
        let mut m = M::init(5);
        let before = bits(&m);
        let e = fit(
            &mut m,
            &mut adam(d),
            &BinaryCrossEntropy,
            &NoMetric,
            &x,
            &y,
            &cfg,
        )
        .unwrap_err();
        assert!(e.to_string().contains(what), "{what}: {e}");
        assert_eq!(bits(&m), before, "{what}");
    }
}

// ---------------------------------------------------------------------------
// The last good weights kept on every non-finite path.

/// A learning rate made NaN between steps (as a schedule might) is an
/// error before the update: the weights and the optimizer's state stay
/// those of the last good step. (Before: the step "succeeded" and every
/// weight became NaN.)
#[test]
fn a_nan_learning_rate_keeps_the_last_good_weights() {
    type M = SigmoidHead<f64>;
    let x: Vec<Vector<f64, 4>> = inputs(6, 4);
    let y = vec![Vector::<f64, 3>::new(1.0, 0.0, 1.0); 6];
    let mut m = M::init(6);
    let mut t = Trainer::new(Adam::<M>::new(AdamConfig::default()));
    t.step(&mut m, &BinaryCrossEntropy, &x, &y).unwrap();
    let good = bits(&m);
    let (m1, v1) = (bits(t.optimizer.moments().0), bits(t.optimizer.moments().1));
    t.optimizer.set_learning_rate(f64::NAN);
    let e = t.step(&mut m, &BinaryCrossEntropy, &x, &y).unwrap_err();
    assert!(e.to_string().contains("lr"), "{e}");
    assert_eq!(bits(&m), good);
    assert_eq!(t.optimizer.steps(), 1);
    assert_eq!(bits(t.optimizer.moments().0), m1);
    assert_eq!(bits(t.optimizer.moments().1), v1);
    // And `fit` with it refuses to start.
    let e = fit(
        &mut m,
        &mut t.optimizer,
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &quiet(1, 3),
    )
    .unwrap_err();
    assert!(matches!(e, TrainError::Config(_)), "{e}");
    assert_eq!(bits(&m), good);
}

/// `n` samples of `SigmoidHead` data.
fn data(n: usize) -> (Vec<Vector<f64, 4>>, Vec<Vector<f64, 3>>) {
    let x: Vec<Vector<f64, 4>> = inputs(n, 7);
    let y = x
        .iter()
        .map(|x| Vector::<f64, 3>::new(f64::from(x[0] > 0.0), f64::from(x[1] > 0.0), 0.0))
        .collect();
    (x, y)
}

/// The weights after `fit` stops at batch 2 are exactly those after batch
/// 1 (one good Adam step), and the optimizer has taken one step.
fn assert_stopped_after_first_batch<L: Loss<f64, Vector<f64, 3>> + Sync>(
    loss: &L,
    y: &[Vector<f64, 3>],
    what: &'static str,
) {
    type M = SigmoidHead<f64>;
    let (x, _) = data(12);
    let mut m = M::init(8);
    let mut adam = Adam::<M>::new(AdamConfig {
        lr: 0.01,
        ..Default::default()
    });
    let e = fit(&mut m, &mut adam, loss, &NoMetric, &x, y, &quiet(2, 4)).unwrap_err();
    assert_eq!(
        e,
        TrainError::NonFinite {
            what,
            at: Some((1, 2))
        }
    );
    let mut want = M::init(8);
    let mut t = Trainer::new(Adam::<M>::new(AdamConfig {
        lr: 0.01,
        ..Default::default()
    }));
    t.step(&mut want, loss, &x[..4], &y[..4]).unwrap();
    assert_eq!(bits(&m), bits(&want));
    assert_eq!(adam.steps(), 1);
    assert_eq!(bits(adam.moments().0), bits(t.optimizer.moments().0));
}

/// A NaN target makes the loss of batch 2 NaN: `fit` stops there with the
/// weights after batch 1.
#[test]
fn a_non_finite_loss_keeps_the_last_good_weights() {
    let (_, mut y) = data(12);
    y[5][1] = f64::NAN;
    assert_stopped_after_first_batch(&BinaryCrossEntropy, &y, "loss");
    assert_stopped_after_first_batch(&MeanSquaredError, &y, "loss");
}

/// The gradient is checked after the whole batch: an infinite one in batch
/// 2 stops `fit` with the weights after batch 1.
#[test]
fn a_non_finite_gradient_keeps_the_last_good_weights() {
    /// MSE whose gradient is infinite for a target marked with a 7 (its
    /// value stays finite).
    struct Inf;
    impl Loss<f64, Vector<f64, 3>> for Inf {
        fn loss(
            &self,
            out: &[f64],
            act: OutputActivation,
            y: &Vector<f64, 3>,
            mut grad: Option<&mut [f64]>,
        ) -> Result<(f64, Wrt), TrainError> {
            let r = MeanSquaredError.loss(out, act, y, grad.as_deref_mut())?;
            if y[2] == 7.0 {
                if let Some(g) = grad {
                    g.fill(f64::INFINITY);
                }
            }
            Ok(r)
        }
    }
    let (_, mut y) = data(12);
    y[6][2] = 7.0;
    assert_stopped_after_first_batch(&Inf, &y, "gradient");
}

/// The same on the multi-threaded path: the gradients of the workers are
/// summed before the check, and nothing is applied.
#[test]
fn a_non_finite_loss_on_threads_keeps_the_last_good_weights() {
    type M = SigmoidHead<f64>;
    let (x, mut y) = data(12);
    y[7][0] = f64::NAN;
    let mut m = M::init(8);
    let mut adam = Adam::<M>::new(AdamConfig::default());
    let e = fit(
        &mut m,
        &mut adam,
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            threads: 2,
            ..quiet(1, 4)
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::NonFinite {
                what: "loss",
                at: Some((1, 2))
            }
        ),
        "{e}"
    );
    assert_eq!(adam.steps(), 1);
}
