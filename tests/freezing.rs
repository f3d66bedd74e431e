//! Layer freezing: `trainable = false` in the DSL and `FitConfig::frozen`
//! at run time. A frozen layer's parameters are unchanged bit for bit,
//! the optimizer's state for them stays zero, and the other parameters
//! follow Adam's update with the frozen gradients removed (PyTorch's
//! `requires_grad_(False)`, Keras' `trainable = False`): checked against
//! Adam written out here from its formula.

use staticnet::fit::{fit, FitConfig};
use staticnet::loss::MeanSquaredError;
use staticnet::metrics::NoMetric;
use staticnet::optim::{Adam, AdamConfig, AdamW, AdamWConfig, Optimizer, Sgd, SgdConfig};
use staticnet::train::accumulate;
use staticnet::{model, Clip, Model, Rng, Train, TrainError, Trainer, Vector};

model! {
    struct Frozen {
        input: [3],
        h: Dense(5, activation = tanh, trainable = false),
        out: Dense(2),
    }
}

model! {
    struct Free {
        input: [3],
        h: Dense(5, activation = tanh),
        out: Dense(2),
    }
}

fn data() -> (Vec<Vector<f64, 3>>, Vec<Vector<f64, 2>>) {
    let mut rng = Rng::new(11);
    let x: Vec<_> = (0..12)
        .map(|_| Vector::<f64, 3>::from_fn(|_, _| rng.normal()))
        .collect();
    let y = x
        .iter()
        .map(|x| Vector::<f64, 2>::new(x[0] * x[1], x[2] - 0.5))
        .collect();
    (x, y)
}

fn flat<M: Model<f64>>(m: &M) -> Vec<Vec<f64>> {
    (0..M::TENSORS).map(|i| m.tensor(i).to_vec()).collect()
}

fn cfg<'a>(frozen: &'a [&'a str]) -> FitConfig<'a, Vector<f64, 3>, Vector<f64, 2>> {
    FitConfig {
        epochs: 3,
        batch_size: 4,
        shuffle: false,
        verbose: 0,
        frozen,
        ..Default::default()
    }
}

const ADAM: AdamConfig = AdamConfig {
    lr: 0.05,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-7,
    weight_decay: 0.0,
};

#[test]
fn the_dsl_declares_the_frozen_layers() {
    assert_eq!(<Frozen<f64> as Model<f64>>::FROZEN_LAYERS, ["h"]);
    assert!(<Free<f64> as Model<f64>>::FROZEN_LAYERS.is_empty());
}

/// `h` frozen (in the DSL or at run time): its tensors (0 and 1) are the
/// initial bits and Adam's moments for them are zero; `out` follows Adam
/// on its own gradients, as written out here.
#[test]
fn frozen_layers_keep_their_weights_and_the_rest_trains_as_adam() {
    let (x, y) = data();
    // The DSL's `trainable = false`.
    let mut a = Frozen::<f64>::init(5);
    let init = flat(&a);
    let mut adam_a = Adam::<Frozen<f64>>::new(ADAM);
    fit(
        &mut a,
        &mut adam_a,
        &MeanSquaredError,
        &NoMetric,
        &x,
        &y,
        &cfg(&[]),
    )
    .unwrap();
    // The same at run time, on the same weights.
    let mut b = Free::<f64>::init(5);
    assert_eq!(flat(&b), init);
    let mut adam_b = Adam::<Free<f64>>::new(ADAM);
    fit(
        &mut b,
        &mut adam_b,
        &MeanSquaredError,
        &NoMetric,
        &x,
        &y,
        &cfg(&["h"]),
    )
    .unwrap();
    assert_eq!(
        flat(&a),
        flat(&b),
        "the DSL's and the run time's freezing differ"
    );

    let after = flat(&a);
    assert_eq!(after[0], init[0], "h.weight changed");
    assert_eq!(after[1], init[1], "h.bias changed");
    assert_ne!(after[2], init[2], "out.weight did not train");
    let (m, v) = adam_a.moments();
    for i in 0..2 {
        assert!(
            m.tensor(i).iter().chain(v.tensor(i)).all(|&s| s == 0.0),
            "Adam state of tensor {i}"
        );
    }

    // Reference: Adam's formula on `out` alone, from the gradients of the
    // whole model with `h`'s dropped.
    let mut r = Free::<f64>::init(5);
    let mut mom: Vec<Vec<f64>> = init.iter().map(|t| vec![0.0; t.len()]).collect();
    let mut vel = mom.clone();
    let mut t = 0;
    for _ in 0..3 {
        for batch in (0..x.len()).collect::<Vec<_>>().chunks(4) {
            let mut g = Free::<f64>::zeros();
            let mut tape = Free::<f64>::new_tape();
            let sums = accumulate(
                &r,
                &mut g,
                &mut tape,
                &MeanSquaredError,
                &NoMetric,
                batch.iter().map(|&i| (&x[i], &y[i])),
            )
            .unwrap();
            t += 1;
            let (b1, b2) = (ADAM.beta1, ADAM.beta2);
            let bc1 = 1.0 - b1.powi(t);
            let bc2 = 1.0 - b2.powi(t);
            for i in 2..Free::<f64>::TENSORS {
                let gi: Vec<f64> = g.tensor(i).iter().map(|v| v / sums.n as f64).collect();
                for (k, p) in r.tensor_mut(i).iter_mut().enumerate() {
                    mom[i][k] = b1 * mom[i][k] + (1.0 - b1) * gi[k];
                    vel[i][k] = b2 * vel[i][k] + (1.0 - b2) * gi[k] * gi[k];
                    *p -= ADAM.lr / bc1 * mom[i][k] / ((vel[i][k] / bc2).sqrt() + ADAM.eps);
                }
            }
        }
    }
    for (i, (got, want)) in after.iter().zip(flat(&r)).enumerate() {
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-12, "tensor {i}[{k}]: {g} vs {w}");
        }
    }
}

/// Decoupled weight decay would shrink a frozen weight every step;
/// momentum SGD and gradient clipping by norm must not touch it either,
/// and the Trainer honours the DSL's freezing too.
#[test]
fn every_optimizer_and_the_trainer_leave_frozen_layers_alone() {
    let (x, y) = data();
    let init = flat(&Frozen::<f64>::init(5));
    let mut m = Frozen::<f64>::init(5);
    let mut adamw = AdamW::<Frozen<f64>>::new(AdamWConfig {
        weight_decay: 0.5,
        ..Default::default()
    });
    let config = FitConfig {
        clip: Clip::Norm(0.1),
        ..cfg(&[])
    };
    fit(
        &mut m,
        &mut adamw,
        &MeanSquaredError,
        &NoMetric,
        &x,
        &y,
        &config,
    )
    .unwrap();
    assert_eq!(flat(&m)[..2], init[..2]);

    let mut m = Frozen::<f64>::init(5);
    let mut sgd = Sgd::<Frozen<f64>>::new(SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 0.1,
        ..Default::default()
    });
    fit(
        &mut m,
        &mut sgd,
        &MeanSquaredError,
        &NoMetric,
        &x,
        &y,
        &cfg(&[]),
    )
    .unwrap();
    assert_eq!(flat(&m)[..2], init[..2]);

    let mut m = Frozen::<f64>::init(5);
    let mut trainer = Trainer::new(Adam::<Frozen<f64>>::new(ADAM));
    for _ in 0..3 {
        trainer.step(&mut m, &MeanSquaredError, &x, &y).unwrap();
    }
    let after = flat(&m);
    assert_eq!(after[..2], init[..2]);
    assert_ne!(after[2..], init[2..]);
    // The gradient it applied has the frozen tensors zeroed.
    assert!(trainer.grads.tensor(0).iter().all(|&g| g == 0.0));
}

/// Frozen gradients count for neither the norm nor the update: clipping
/// by norm on the frozen model equals clipping `out`'s gradient alone.
#[test]
fn clipping_by_norm_ignores_frozen_gradients() {
    let (x, y) = data();
    let run = |frozen: &[&str]| {
        let mut m = Free::<f64>::init(5);
        let mut sgd = Sgd::<Free<f64>>::new(SgdConfig {
            lr: 1.0,
            ..Default::default()
        });
        fit(
            &mut m,
            &mut sgd,
            &MeanSquaredError,
            &NoMetric,
            &x,
            &y,
            &FitConfig {
                epochs: 1,
                batch_size: 12,
                clip: Clip::Norm(0.01),
                ..cfg(frozen)
            },
        )
        .unwrap();
        flat(&m)
    };
    let frozen = run(&["h"]);
    let init = flat(&Free::<f64>::init(5));
    // out's step is its gradient scaled to norm 0.01 (+1e-6 in PyTorch's
    // denominator): the norm of the change in out's tensors.
    let sq: f64 = (2..4)
        .flat_map(|i| {
            frozen[i]
                .iter()
                .zip(&init[i])
                .map(|(a, b)| (a - b) * (a - b))
        })
        .sum();
    assert!((sq.sqrt() - 0.01).abs() < 1e-8, "{}", sq.sqrt());
    assert_eq!(frozen[..2], init[..2]);
}

#[test]
fn unknown_frozen_names_are_refused_before_training() {
    let (x, y) = data();
    let mut m = Free::<f64>::init(5);
    let init = flat(&m);
    let mut adam = Adam::<Free<f64>>::new(ADAM);
    let r = fit(
        &mut m,
        &mut adam,
        &MeanSquaredError,
        &NoMetric,
        &x,
        &y,
        &cfg(&["hh"]),
    );
    assert!(matches!(r, Err(TrainError::Config(_))), "{r:?}");
    assert_eq!(flat(&m), init);
    assert_eq!(adam.learning_rate(), ADAM.lr);
}
