//! `fit`'s early stopping (Keras' `EarlyStopping`) and learning-rate
//! schedules (PyTorch's `StepLR`, `ExponentialLR`, `CosineAnnealingLR`,
//! stepped once per epoch), on a generated model.

use staticnet::fit::{fit, EarlyStopping, FitConfig, Monitor, Schedule, Validation};
use staticnet::loss::MeanSquaredError;
use staticnet::metrics::NoMetric;
use staticnet::optim::{Optimizer, Sgd, SgdConfig};
use staticnet::{model, TrainError, Trainer, Vector};

model! {
    struct Lin {
        input: [2],
        out: Dense(1),
    }
}

type M = Lin<f64>;

fn data(target: f64) -> (Vec<Vector<f64, 2>>, Vec<Vector<f64, 1>>) {
    let x = (0..8)
        .map(|i| Vector::<f64, 2>::new(i as f64 / 8.0, 1.0 - i as f64 / 16.0))
        .collect();
    (x, vec![Vector::<f64, 1>::new(target); 8])
}

fn sgd(lr: f64) -> Sgd<M> {
    Sgd::new(SgdConfig {
        lr,
        ..Default::default()
    })
}

fn cfg<'a>(epochs: usize) -> FitConfig<'a, Vector<f64, 2>, Vector<f64, 1>> {
    FitConfig {
        epochs,
        batch_size: 8,
        shuffle: false,
        verbose: 0,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// Schedules

fn lrs(schedule: Schedule, epochs: usize) -> Vec<f64> {
    let (x, y) = data(1.0);
    let mut m = M::init(1);
    let h = fit(
        &mut m,
        &mut sgd(0.1),
        &MeanSquaredError,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            schedule,
            ..cfg(epochs)
        },
    )
    .unwrap();
    h.lr
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(b) {
        assert!((a - b).abs() < 1e-15, "{a} vs {b}");
    }
}

#[test]
fn schedules_follow_pytorchs_closed_forms() {
    // StepLR(step_size=2, gamma=0.5) from lr 0.1.
    close(
        &lrs(
            Schedule::Step {
                step_size: 2,
                gamma: 0.5,
            },
            5,
        ),
        &[0.1, 0.1, 0.05, 0.05, 0.025],
    );
    // ExponentialLR(gamma=0.9).
    close(
        &lrs(Schedule::Exponential { gamma: 0.9 }, 4),
        &[0.1, 0.1 * 0.9, 0.1 * 0.81, 0.1 * 0.729],
    );
    // CosineAnnealingLR(T_max=4, eta_min=0.01): eta_min + (lr0 - eta_min)(1 + cos(pi e / 4)) / 2.
    let r = std::f64::consts::FRAC_1_SQRT_2;
    close(
        &lrs(
            Schedule::Cosine {
                t_max: 4,
                eta_min: 0.01,
            },
            5,
        ),
        &[
            0.1,
            0.01 + 0.09 * (1.0 + r) / 2.0,
            0.01 + 0.09 / 2.0,
            0.01 + 0.09 * (1.0 - r) / 2.0,
            0.01,
        ],
    );
    assert!(lrs(Schedule::Constant, 3).is_empty());
}

/// The scheduled learning rates are the ones the updates use: one batch
/// per epoch, so `fit` equals a Trainer stepped with each epoch's rate.
#[test]
fn the_schedule_drives_the_optimizer() {
    let (x, y) = data(1.0);
    let schedule = Schedule::Step {
        step_size: 1,
        gamma: 0.5,
    };
    let mut m = M::init(2);
    let mut opt = sgd(0.2);
    fit(
        &mut m,
        &mut opt,
        &MeanSquaredError,
        &NoMetric,
        &x,
        &y,
        &FitConfig { schedule, ..cfg(3) },
    )
    .unwrap();
    assert_eq!(opt.learning_rate(), 0.05);
    let mut want = M::init(2);
    let mut t = Trainer::new(sgd(0.2));
    for lr in [0.2, 0.1, 0.05] {
        t.optimizer.set_learning_rate(lr);
        t.step(&mut want, &MeanSquaredError, &x, &y).unwrap();
    }
    assert_eq!(m, want);
    // Bad schedules are errors before the first step.
    for bad in [
        Schedule::Step {
            step_size: 0,
            gamma: 0.5,
        },
        Schedule::Exponential { gamma: f64::NAN },
        Schedule::Cosine {
            t_max: 0,
            eta_min: 0.0,
        },
        Schedule::Cosine {
            t_max: 3,
            eta_min: -1.0,
        },
    ] {
        let mut m = M::init(2);
        let e = fit(
            &mut m,
            &mut sgd(0.2),
            &MeanSquaredError,
            &NoMetric,
            &x,
            &y,
            &FitConfig {
                schedule: bad,
                ..cfg(3)
            },
        )
        .unwrap_err();
        assert!(matches!(e, TrainError::Config(_)), "{bad:?}: {e}");
        assert_eq!(m, M::init(2));
    }
}

// ---------------------------------------------------------------------------
// Early stopping

fn stop(es: EarlyStopping, lr: f64, epochs: usize) -> staticnet::History {
    let (x, y) = data(1.0);
    let mut m = M::init(3);
    fit(
        &mut m,
        &mut sgd(lr),
        &MeanSquaredError,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            early_stopping: Some(es),
            ..cfg(epochs)
        },
    )
    .unwrap()
}

/// Keras: a value that never improves after the first epoch stops
/// training after `patience` more epochs (here the loss is constant:
/// lr 0), and `start_from_epoch` delays the watch.
#[test]
fn patience_and_start_from_epoch_as_keras() {
    for patience in [1, 2, 4] {
        let h = stop(
            EarlyStopping {
                monitor: Monitor::Loss,
                patience,
                ..Default::default()
            },
            0.0,
            20,
        );
        assert_eq!(h.stopped_epoch, Some(patience + 1), "patience {patience}");
        assert_eq!(h.loss.len(), patience + 1);
        assert_eq!(h.best_epoch, Some(1));
    }
    // patience 0 still never stops after the first epoch (Keras' `epoch > 0`).
    let h = stop(
        EarlyStopping {
            monitor: Monitor::Loss,
            ..Default::default()
        },
        0.0,
        20,
    );
    assert_eq!(h.stopped_epoch, Some(2));
    let h = stop(
        EarlyStopping {
            monitor: Monitor::Loss,
            patience: 1,
            start_from_epoch: 2,
            ..Default::default()
        },
        0.0,
        20,
    );
    assert_eq!(h.stopped_epoch, Some(4));
    assert_eq!(h.best_epoch, Some(3));
    // A loss that decreases every epoch never stops...
    let h = stop(
        EarlyStopping {
            monitor: Monitor::Loss,
            ..Default::default()
        },
        0.05,
        6,
    );
    assert!(h.loss.windows(2).all(|w| w[1] < w[0]), "{:?}", h.loss);
    assert_eq!((h.stopped_epoch, h.best_epoch), (None, Some(6)));
    // ...unless each decrease is below min_delta.
    let big = 10.0 * (h.loss[0] - h.loss[1]);
    let h = stop(
        EarlyStopping {
            monitor: Monitor::Loss,
            min_delta: big,
            patience: 2,
            ..Default::default()
        },
        0.05,
        6,
    );
    assert_eq!((h.stopped_epoch, h.best_epoch), (Some(3), Some(1)));
}

/// Training towards +1 while validating against −1: the validation loss
/// rises every epoch, so the best epoch is the first, training stops after
/// `patience` more, and `restore_best_weights` leaves the model with the
/// weights it had after epoch 1.
#[test]
fn restore_best_weights_restores_the_best_epoch() {
    let (x, y) = data(1.0);
    let (vx, vy) = data(-1.0);
    let run = |epochs: usize, es: Option<EarlyStopping>| {
        let mut m = M::zeros();
        let h = fit(
            &mut m,
            &mut sgd(0.05),
            &MeanSquaredError,
            &NoMetric,
            &x,
            &y,
            &FitConfig {
                validation: Validation::Data(&vx, &vy),
                early_stopping: es,
                ..cfg(epochs)
            },
        )
        .unwrap();
        (m, h)
    };
    let es = EarlyStopping {
        patience: 2,
        restore_best_weights: true,
        ..Default::default()
    };
    let (m, h) = run(10, Some(es));
    assert!(
        h.val_loss.windows(2).all(|w| w[1] > w[0]),
        "{:?}",
        h.val_loss
    );
    assert_eq!((h.stopped_epoch, h.best_epoch), (Some(3), Some(1)));
    let (after_one, _) = run(1, None);
    let (after_three, _) = run(3, None);
    assert_eq!(m, after_one);
    assert_ne!(m, after_three);
    // Without restore_best_weights the last epoch's weights stay.
    let (m, _) = run(
        10,
        Some(EarlyStopping {
            restore_best_weights: false,
            ..es
        }),
    );
    assert_eq!(m, after_three);
}

#[test]
fn early_stopping_needs_what_it_monitors() {
    let (x, y) = data(1.0);
    for (es, what) in [
        (EarlyStopping::default(), "validation"),
        (
            EarlyStopping {
                monitor: Monitor::Metric,
                ..Default::default()
            },
            "NoMetric",
        ),
        (
            EarlyStopping {
                monitor: Monitor::Loss,
                min_delta: -1.0,
                ..Default::default()
            },
            "min_delta",
        ),
    ] {
        let mut m = M::init(1);
        let e = fit(
            &mut m,
            &mut sgd(0.1),
            &MeanSquaredError,
            &NoMetric,
            &x,
            &y,
            &FitConfig {
                early_stopping: Some(es),
                ..cfg(3)
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains(what), "{what}: {e}");
        assert_eq!(m, M::init(1));
    }
}
