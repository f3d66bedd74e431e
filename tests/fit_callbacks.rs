//! `fit`'s reduce-on-plateau (PyTorch's `ReduceLROnPlateau`, replayed
//! against `tools/make_plateau_fixtures.py`) and checkpointing (Keras'
//! `ModelCheckpoint`, the file checked against a PyTorch `state_dict`).

mod common;

use common::Fixture;
use staticnet::fit::{
    fit, Checkpoint, FitConfig, Monitor, Plateau, ReduceLrOnPlateau, Schedule, ThresholdMode,
    Validation,
};
use staticnet::loss::{MeanSquaredError, SparseCategoricalCrossEntropy};
use staticnet::metrics::{MeanAbsoluteError, NoMetric};
use staticnet::optim::{Optimizer, Sgd, SgdConfig};
use staticnet::{model, Image, Model, Rng, TrainError, Vector, Weights};
use std::path::PathBuf;

fn config(f: &Fixture, case: &str) -> (ReduceLrOnPlateau, bool, f64) {
    let num = |k: &str| -> f64 {
        f.meta(&format!("{case}.{k}"))
            .parse()
            .unwrap_or_else(|e| panic!("{case}.{k}: {e}"))
    };
    let c = ReduceLrOnPlateau {
        monitor: Monitor::Loss,
        factor: num("factor"),
        patience: num("patience") as usize,
        threshold: num("threshold"),
        threshold_mode: match f.meta(&format!("{case}.threshold_mode")) {
            "rel" => ThresholdMode::Rel,
            "abs" => ThresholdMode::Abs,
            m => panic!("threshold_mode {m}"),
        },
        cooldown: num("cooldown") as usize,
        min_lr: num("min_lr"),
        eps: num("eps"),
    };
    (c, f.meta(&format!("{case}.mode")) == "max", num("lr0"))
}

const CASES: &[&str] = &[
    "defaults",
    "patience2",
    "cooldown",
    "abs",
    "min_lr",
    "eps",
    "max",
    "max_abs_cooldown",
];

#[test]
fn plateau_replays_pytorchs_learning_rates() {
    let f = Fixture::load("fit/plateau");
    for case in CASES {
        let (c, maximise, lr0) = config(&f, case);
        let mut p = Plateau::new(c, maximise);
        let mut lr = lr0;
        let values = &f.get(&format!("{case}.values")).values;
        let expected = &f.get(&format!("{case}.lr")).values;
        for (e, (&v, &want)) in values.iter().zip(expected).enumerate() {
            lr = p.step(v, lr);
            assert!(
                (lr - want).abs() <= 1e-15 * want,
                "{case}, step {e}: lr {lr}, PyTorch {want}"
            );
        }
    }
    // The file holds every case this test replays.
    let n = f.tensors.keys().filter(|k| k.ends_with(".lr")).count();
    assert_eq!(n, CASES.len());
}

model! {
    struct Lin {
        input: [2],
        out: Dense(1),
    }
}

fn data() -> (Vec<Vector<f64, 2>>, Vec<Vector<f64, 1>>) {
    let mut rng = Rng::new(5);
    let x: Vec<_> = (0..16)
        .map(|_| Vector::<f64, 2>::from_fn(|_, _| rng.normal()))
        .collect();
    let y = x
        .iter()
        .map(|x| Vector::<f64, 1>::new(2.0 * x[0] - x[1] + 0.5 + 0.3 * rng.normal()))
        .collect();
    (x, y)
}

/// Inside `fit` the plateau is stepped with each epoch's monitored value
/// and the next epoch runs at the rate it returns: replaying `History`'s
/// losses through a fresh `Plateau` gives `History::lr`.
#[test]
fn fit_steps_the_plateau_after_every_epoch() {
    let (x, y) = data();
    for monitor in [Monitor::Loss, Monitor::ValLoss, Monitor::ValMetric] {
        let c = ReduceLrOnPlateau {
            monitor,
            patience: 1,
            factor: 0.5,
            threshold: 0.05,
            ..Default::default()
        };
        let mut m = Lin::<f64>::init(3);
        let mut sgd = Sgd::<Lin<f64>>::new(SgdConfig {
            lr: 0.3,
            ..Default::default()
        });
        let h = fit(
            &mut m,
            &mut sgd,
            &MeanSquaredError,
            &MeanAbsoluteError,
            &x,
            &y,
            &FitConfig {
                epochs: 25,
                batch_size: 4,
                verbose: 0,
                validation: Validation::Split(0.25),
                reduce_lr_on_plateau: Some(c),
                ..Default::default()
            },
        )
        .unwrap();
        let values = match monitor {
            Monitor::Loss => &h.loss,
            Monitor::ValLoss => &h.val_loss,
            _ => &h.val_metric, // MAE: minimised
        };
        let mut p = Plateau::new(c, false);
        let mut lr = 0.3;
        let mut expected = vec![];
        for v in values {
            expected.push(lr);
            lr = p.step(*v, lr);
        }
        assert_eq!(h.lr, expected, "{monitor:?}");
        assert!(
            h.lr.last() < h.lr.first(),
            "{monitor:?}: the rate never dropped: {:?}",
            h.lr
        );
        assert_eq!(sgd.learning_rate(), lr);
    }
}

#[test]
fn plateau_is_validated() {
    let (x, y) = data();
    let run = |c: ReduceLrOnPlateau, schedule: Schedule, validation| {
        let mut m = Lin::<f64>::init(3);
        fit(
            &mut m,
            &mut Sgd::<Lin<f64>>::new(SgdConfig::default()),
            &MeanSquaredError,
            &NoMetric,
            &x,
            &y,
            &FitConfig {
                verbose: 0,
                reduce_lr_on_plateau: Some(c),
                schedule,
                validation,
                ..Default::default()
            },
        )
    };
    let ok = ReduceLrOnPlateau {
        monitor: Monitor::Loss,
        ..Default::default()
    };
    assert!(run(ok, Schedule::Constant, Validation::None).is_ok());
    for bad in [
        ReduceLrOnPlateau { factor: 1.0, ..ok },
        ReduceLrOnPlateau { factor: 0.0, ..ok },
        ReduceLrOnPlateau { min_lr: -1.0, ..ok },
        ReduceLrOnPlateau {
            threshold: f64::NAN,
            ..ok
        },
        // The default monitors val_loss: no validation data.
        ReduceLrOnPlateau::default(),
        ReduceLrOnPlateau {
            monitor: Monitor::Metric,
            ..ok
        },
    ] {
        let r = run(bad, Schedule::Constant, Validation::None);
        assert!(matches!(r, Err(TrainError::Config(_))), "{bad:?}: {r:?}");
    }
    let r = run(ok, Schedule::Exponential { gamma: 0.9 }, Validation::None);
    assert!(matches!(r, Err(TrainError::Config(_))), "{r:?}");
}

// ---------------------------------------------------------------------------
// Checkpoints

model! {
    struct Ckpt {
        input: [1, 6, 6],
        conv1: Conv2d(2, kernel = 3, activation = relu),
        flat: Flatten,
        fc: Dense(3),
    }
}

type C = Ckpt<f64>;

fn images() -> (Vec<Image<f64, 1, 6, 6>>, Vec<usize>) {
    let mut rng = Rng::new(9);
    let x: Vec<Image<f64, 1, 6, 6>> = (0..24)
        .map(|_| {
            [core::array::from_fn(|_| {
                core::array::from_fn(|_| rng.normal())
            })]
        })
        .collect();
    let y = x
        .iter()
        .map(|im| {
            let s: f64 = im[0].iter().flatten().sum();
            if s > 1.0 {
                2
            } else if s > -1.0 {
                1
            } else {
                0
            }
        })
        .collect();
    (x, y)
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("staticnet-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn flat(m: &C) -> Vec<f64> {
    (0..C::TENSORS).flat_map(|i| m.tensor(i).to_vec()).collect()
}

/// Every epoch's file is written, `{epoch:02d}` is filled in, and each
/// file holds the weights at the end of its epoch (the last one: the
/// model's own); it loads back with `load`.
#[test]
fn checkpoints_every_epoch_load_back() {
    let d = dir("every");
    let pattern = d.join("w-{epoch:02d}.safetensors");
    let pattern = pattern.to_str().unwrap();
    let (x, y) = images();
    let mut m = C::init(1);
    let h = fit(
        &mut m,
        &mut Sgd::<C>::new(SgdConfig {
            lr: 0.05,
            ..Default::default()
        }),
        &SparseCategoricalCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            epochs: 3,
            batch_size: 8,
            verbose: 0,
            checkpoint: Some(Checkpoint {
                path: pattern,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(h.saved, [1, 2, 3]);
    for e in 1..=3 {
        assert!(d.join(format!("w-{e:02}.safetensors")).is_file());
    }
    let last = C::load(d.join("w-03.safetensors")).unwrap();
    assert_eq!(flat(&last), flat(&m));
    let first = C::load(d.join("w-01.safetensors")).unwrap();
    assert_ne!(flat(&first), flat(&m));
    let _ = std::fs::remove_dir_all(&d);
}

/// `save_best_only`: a file only after an epoch that strictly beats the
/// best monitored value so far (Keras' `np.less`), and the file holds
/// that epoch's weights.
#[test]
fn checkpoint_save_best_only_follows_the_monitored_value() {
    let d = dir("best");
    let path = d.join("best.safetensors");
    let (x, y) = images();
    let mut m = C::init(2);
    // A large learning rate, so that val_loss goes up and down.
    let h = fit(
        &mut m,
        &mut Sgd::<C>::new(SgdConfig {
            lr: 0.8,
            ..Default::default()
        }),
        &SparseCategoricalCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            epochs: 12,
            batch_size: 6,
            verbose: 0,
            validation: Validation::Split(0.25),
            checkpoint: Some(Checkpoint {
                path: path.to_str().unwrap(),
                monitor: Monitor::ValLoss,
                save_best_only: true,
            }),
            ..Default::default()
        },
    )
    .unwrap();
    let mut best = f64::INFINITY;
    let mut expected = Vec::new();
    for (e, &v) in h.val_loss.iter().enumerate() {
        if v < best {
            best = v;
            expected.push(e + 1);
        }
    }
    assert_eq!(h.saved, expected, "val_loss {:?}", h.val_loss);
    assert!(
        h.saved.len() < 12,
        "val_loss never went up: {:?}",
        h.val_loss
    );
    // The file is the best epoch's: its val_loss is the minimum.
    let saved = C::load(&path).unwrap();
    let e = staticnet::fit::evaluate(
        &saved,
        &SparseCategoricalCrossEntropy,
        &NoMetric,
        &x[18..],
        &y[18..],
    )
    .unwrap();
    assert!((e.loss - best).abs() < 1e-12, "{} vs {best}", e.loss);
    let _ = std::fs::remove_dir_all(&d);
}

/// The checkpoint is a PyTorch state_dict of the equivalent module
/// (Conv2d(1, 2, 3) → Flatten → Linear(32, 3)): the same keys, shapes
/// and dtype as the one `tools/make_plateau_fixtures.py` saved, which is
/// what `load_state_dict(strict=True)` checks (that script's `--check
/// FILE` runs it on a file of ours).
#[test]
fn checkpoint_is_a_pytorch_state_dict() {
    let d = dir("torch");
    let path = d.join("c.safetensors");
    let (x, y) = images();
    let mut m = C::init(3);
    fit(
        &mut m,
        &mut Sgd::<C>::new(SgdConfig::default()),
        &SparseCategoricalCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            verbose: 0,
            checkpoint: Some(Checkpoint {
                path: path.to_str().unwrap(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    // STATICNET_CHECKPOINT_COPY=FILE keeps a copy for
    // `tools/make_plateau_fixtures.py --check FILE`.
    if let Some(copy) = std::env::var_os("STATICNET_CHECKPOINT_COPY") {
        std::fs::copy(&path, copy).unwrap();
    }
    let torch = Fixture::load("fit/checkpoint_state_dict");
    let bytes = std::fs::read(&path).unwrap();
    let ours = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = ours.names().into_iter().map(str::to_owned).collect();
    names.sort();
    let want: Vec<String> = torch.tensors.keys().cloned().collect();
    assert_eq!(names, want);
    for (name, t) in &torch.tensors {
        let v = ours.tensor(name).unwrap();
        assert_eq!(v.shape(), &t.shape[..], "{name}");
        assert_eq!(v.dtype(), safetensors::Dtype::F64, "{name}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_unwritable_checkpoint_stops_fit_with_an_error() {
    let (x, y) = images();
    let mut m = C::init(3);
    let r = fit(
        &mut m,
        &mut Sgd::<C>::new(SgdConfig::default()),
        &SparseCategoricalCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            epochs: 3,
            verbose: 0,
            checkpoint: Some(Checkpoint {
                path: "/nonexistent-staticnet-dir/c.safetensors",
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    assert_eq!(r, Err(TrainError::Checkpoint { epoch: 1 }));
    let r = fit(
        &mut m,
        &mut Sgd::<C>::new(SgdConfig::default()),
        &SparseCategoricalCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            verbose: 0,
            checkpoint: Some(Checkpoint {
                path: "c.safetensors",
                save_best_only: true,
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    assert!(
        matches!(r, Err(TrainError::Config(_))),
        "val_loss without validation: {r:?}"
    );
}
