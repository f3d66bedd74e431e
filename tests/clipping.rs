//! Gradient clipping (`Clip`) against PyTorch's definitions:
//! `torch.nn.utils.clip_grad_norm_(params, max_norm)` scales every
//! gradient by `min(1, max_norm / (total_norm + 1e-6))`, the total norm
//! taken over all parameters together; `clip_grad_value_(params, v)`
//! clamps each value to `[-v, v]`. With SGD at lr 1 the update is exactly
//! minus the clipped gradient, so the weights after one step show it.

use staticnet::fit::{fit, FitConfig};
use staticnet::loss::MeanSquaredError;
use staticnet::metrics::NoMetric;
use staticnet::optim::{Sgd, SgdConfig};
use staticnet::{model, Clip, Model, Rng, TrainError, Trainer, Vector};

model! {
    struct Net {
        input: [3],
        h: Dense(4, activation = tanh),
        out: Dense(2),
    }
}

type M = Net<f64>;

fn data() -> (Vec<Vector<f64, 3>>, Vec<Vector<f64, 2>>) {
    let mut rng = Rng::new(3);
    let x = (0..6)
        .map(|_| Vector::<f64, 3>::from_fn(|_, _| rng.normal()))
        .collect();
    let y = (0..6)
        .map(|_| Vector::<f64, 2>::from_fn(|_, _| 5.0 * rng.normal()))
        .collect();
    (x, y)
}

fn flat(m: &M) -> Vec<f64> {
    (0..M::TENSORS).flat_map(|i| m.tensor(i).to_vec()).collect()
}

fn sgd(lr: f64) -> Sgd<M> {
    Sgd::new(SgdConfig {
        lr,
        ..Default::default()
    })
}

/// The weights after one SGD(lr = 1) step with `clip`.
fn step(clip: Clip) -> Vec<f64> {
    let (x, y) = data();
    let mut m = M::init(1);
    let mut t = Trainer::new(sgd(1.0));
    t.clip = clip;
    t.step(&mut m, &MeanSquaredError, &x, &y).unwrap();
    flat(&m)
}

fn mean_gradient() -> Vec<f64> {
    let (x, y) = data();
    let mut m = M::init(1);
    let mut t = Trainer::new(sgd(0.0));
    t.step(&mut m, &MeanSquaredError, &x, &y).unwrap();
    flat(&t.grads)
}

fn close(a: &[f64], b: &[f64]) {
    for (k, (a, b)) in a.iter().zip(b).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1.0),
            "[{k}] {a} vs {b}"
        );
    }
}

#[test]
fn clip_by_norm_is_pytorchs_clip_grad_norm() {
    let g = mean_gradient();
    let w0 = flat(&M::init(1));
    let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(norm > 1.0, "{norm}");
    // Below the norm: scaled by max_norm / (norm + 1e-6).
    let max_norm = 0.25 * norm;
    let coef = max_norm / (norm + 1e-6);
    let want: Vec<f64> = w0.iter().zip(&g).map(|(w, g)| w - coef * g).collect();
    close(&step(Clip::Norm(max_norm)), &want);
    // Above it: untouched.
    let plain: Vec<f64> = w0.iter().zip(&g).map(|(w, g)| w - g).collect();
    close(&step(Clip::Norm(2.0 * norm)), &plain);
    close(&step(Clip::None), &plain);
}

#[test]
fn clip_by_value_is_pytorchs_clip_grad_value() {
    let g = mean_gradient();
    let w0 = flat(&M::init(1));
    let v = 0.1;
    assert!(g.iter().any(|x| x.abs() > v) && g.iter().any(|x| x.abs() < v));
    let want: Vec<f64> = w0.iter().zip(&g).map(|(w, g)| w - g.clamp(-v, v)).collect();
    close(&step(Clip::Value(v)), &want);
}

#[test]
fn fit_clips_the_same_way_and_validates_the_bound() {
    let (x, y) = data();
    let cfg = |clip| FitConfig {
        epochs: 1,
        batch_size: 6,
        shuffle: false,
        verbose: 0,
        clip,
        ..Default::default()
    };
    let mut m = M::init(1);
    fit(
        &mut m,
        &mut sgd(1.0),
        &MeanSquaredError,
        &NoMetric,
        &x,
        &y,
        &cfg(Clip::Value(0.1)),
    )
    .unwrap();
    close(&flat(&m), &step(Clip::Value(0.1)));
    for bad in [Clip::Norm(0.0), Clip::Norm(f64::NAN), Clip::Value(-1.0)] {
        let mut m = M::init(1);
        let e = fit(
            &mut m,
            &mut sgd(1.0),
            &MeanSquaredError,
            &NoMetric,
            &x,
            &y,
            &cfg(bad),
        )
        .unwrap_err();
        assert!(matches!(e, TrainError::Config(_)), "{bad:?}: {e}");
        assert_eq!(m, M::init(1));
        let mut t = Trainer::new(sgd(1.0));
        t.clip = bad;
        assert!(t.step(&mut m, &MeanSquaredError, &x, &y).is_err());
        assert_eq!(m, M::init(1));
    }
}
