//! `fit` on a pool of threads (one per `threads`, living for the whole
//! call): the same thread count gives the same bits every run; another
//! thread count gives the one-thread result up to the regrouping of the
//! gradient sums (within 1e-12 in f64 after several epochs), with sample
//! weights, a last short batch, a stateful metric and validation; a batch
//! smaller than the thread count still trains; a panic or a non-finite
//! gradient in either thread's part stops `fit` with the last good
//! weights, without a deadlock.

use staticnet::fit::{fit, FitConfig, History, Validation};
use staticnet::loss::MeanSquaredError;
use staticnet::metrics::NoMetric;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{model, Model, Rng, Tensor, Vector};

model! {
    struct Mlp {
        input: [5],
        fc1: Dense(16, activation = tanh),
        out: Dense(1),
    }
}

model! {
    /// 4,609 parameters: enough for `fit` to split the update across its
    /// threads (each updates a range of the parameters).
    struct Wide {
        input: [5],
        fc1: Dense(64, activation = tanh),
        fc2: Dense(64, activation = tanh),
        out: Dense(1),
    }
}

model! {
    struct Rnn {
        input: [4, 3],
        lstm1: Lstm(6),
        head:  Dense(1),
    }
}

fn data<X: Tensor<f64>>(n: usize) -> (Vec<X>, Vec<Vector<f64, 1>>, Vec<f64>) {
    let mut rng = Rng::new(11);
    let x: Vec<X> = (0..n)
        .map(|_| {
            let mut v = X::zeros();
            for e in v.as_flat_mut() {
                *e = rng.normal();
            }
            v
        })
        .collect();
    let y = x
        .iter()
        .map(|v| Vector::<f64, 1>::new(v.as_flat().iter().sum::<f64>().sin()))
        .collect();
    let w = (0..n).map(|k| 0.5 + (k % 3) as f64 * 0.25).collect();
    (x, y, w)
}

fn run<M: staticnet::Train<f64> + staticnet::Zeroable + Send + Sync>(
    threads: usize,
    batch_size: usize,
    x: &[M::Input],
    y: &[Vector<f64, 1>],
    w: &[f64],
) -> (Box<M>, History)
where
    M::Tape: Send,
    M::Input: Sync,
{
    let mut m: Box<M> = M::boxed_init(5);
    let mut adam: Box<Adam<M>> = Adam::boxed(AdamConfig {
        lr: 0.01,
        ..Default::default()
    });
    let h = fit(
        &mut *m,
        &mut *adam,
        &MeanSquaredError,
        &NoMetric,
        x,
        y,
        &FitConfig {
            epochs: 4,
            batch_size,
            threads,
            verbose: 0,
            seed: 9,
            sample_weight: Some(w),
            validation: Validation::Split(0.2),
            ..Default::default()
        },
    )
    .expect("fit");
    (m, h)
}

fn params<M: Model<f64>>(m: &M) -> Vec<f64> {
    (0..M::TENSORS).flat_map(|i| m.tensor(i).to_vec()).collect()
}

fn same_and_close<M: staticnet::Train<f64> + staticnet::Zeroable + Send + Sync>(name: &str)
where
    M::Tape: Send,
    M::Input: Sync,
{
    // 101 samples: 80 train in batches of 12, the last of 8.
    let (x, y, w) = data::<M::Input>(101);
    let (m1, h1) = run::<M>(1, 12, &x, &y, &w);
    assert!(h1.loss[3] < h1.loss[0], "{name}: it trains: {:?}", h1.loss);
    for threads in [2, 3, 5] {
        let (a, ha) = run::<M>(threads, 12, &x, &y, &w);
        let (b, hb) = run::<M>(threads, 12, &x, &y, &w);
        assert_eq!(params(&*a), params(&*b), "{name}: {threads} threads, twice");
        assert_eq!(ha, hb, "{name}: {threads} threads, twice");
        for (p, q) in params(&*a).iter().zip(params(&*m1)) {
            assert!(
                (p - q).abs() <= 1e-12,
                "{name}: {threads} threads: {p} vs {q}"
            );
        }
        for (p, q) in ha.loss.iter().zip(&h1.loss) {
            assert!((p - q).abs() <= 1e-12, "{name}: {threads} threads");
        }
        for (p, q) in ha.val_loss.iter().zip(&h1.val_loss) {
            assert!((p - q).abs() <= 1e-12, "{name}: {threads} threads");
        }
    }
    // More threads than samples in a batch.
    let (a, _) = run::<M>(8, 3, &x, &y, &w);
    let (b, _) = run::<M>(1, 3, &x, &y, &w);
    for (p, q) in params(&*a).iter().zip(params(&*b)) {
        assert!((p - q).abs() <= 1e-12, "{name}: 8 threads, batch 3");
    }
}

#[test]
fn a_dense_network_on_threads() {
    same_and_close::<Mlp<f64>>("mlp");
}

#[test]
fn a_recurrent_network_on_threads() {
    same_and_close::<Rnn<f64>>("rnn");
}

#[test]
fn a_network_whose_update_is_split_across_the_threads() {
    same_and_close::<Wide<f64>>("wide");
}

/// Adam without its value-by-value form: `fit` updates on the calling
/// thread alone with it.
struct Whole(Box<Adam<Wide<f64>>>);

impl staticnet::optim::Optimizer<f64, Wide<f64>> for Whole {
    fn step(&mut self, model: &mut Wide<f64>, grads: &Wide<f64>) {
        self.0.step(model, grads)
    }
    fn reset(&mut self) {
        self.0.reset()
    }
    fn learning_rate(&self) -> f64 {
        self.0.learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.0.set_learning_rate(lr)
    }
}

#[test]
fn the_split_update_gives_the_bits_of_the_whole_one() {
    use staticnet::optim::Optimizer;
    let (x, y, w) = data::<<Wide<f64> as Model<f64>>::Input>(101);
    for threads in [2, 3] {
        let config = FitConfig {
            epochs: 3,
            batch_size: 12,
            threads,
            verbose: 0,
            seed: 4,
            sample_weight: Some(&w),
            ..Default::default()
        };
        let adam = || {
            Adam::<Wide<f64>>::boxed(AdamConfig {
                lr: 0.01,
                weight_decay: 0.01,
                ..Default::default()
            })
        };
        let (mut a, mut b): (Box<Wide<f64>>, Box<Wide<f64>>) =
            (Wide::boxed_init(3), Wide::boxed_init(3));
        let (mut split, mut whole) = (adam(), Whole(adam()));
        assert!(split.elementwise().is_some() && whole.elementwise().is_none());
        let ha = fit(
            &mut *a,
            &mut *split,
            &MeanSquaredError,
            &NoMetric,
            &x,
            &y,
            &config,
        );
        let hb = fit(
            &mut *b,
            &mut whole,
            &MeanSquaredError,
            &NoMetric,
            &x,
            &y,
            &config,
        );
        assert_eq!(ha.expect("fit"), hb.expect("fit"), "{threads} threads");
        assert_eq!(params(&*a), params(&*b), "{threads} threads: weights");
        // The helpers' ranges of the moments went back into the optimizer.
        let (ma, va) = split.moments();
        let (mb, vb) = whole.0.moments();
        assert_eq!(params(ma), params(mb), "{threads} threads: first moments");
        assert_eq!(params(va), params(vb), "{threads} threads: second moments");
        assert_eq!(split.steps(), whole.0.steps());
        assert!(params(ma).iter().all(|&m| m != 0.0));
    }
}

#[test]
fn a_non_finite_gradient_or_a_panic_stops_the_split_update_with_the_last_good_state() {
    // The NaN target's gradient lands in every range (it reaches every
    // weight), so every thread's check sees it.
    let (x, mut y, _) = data::<<Wide<f64> as Model<f64>>::Input>(12);
    let run = |y: &[Vector<f64, 1>], n: usize| {
        let mut m: Box<Wide<f64>> = Wide::boxed_init(5);
        let mut adam: Box<Adam<Wide<f64>>> = Adam::boxed(AdamConfig::default());
        let config = FitConfig {
            epochs: 1,
            batch_size: 4,
            shuffle: false,
            threads: 2,
            verbose: 0,
            ..Default::default()
        };
        let h = fit(
            &mut *m,
            &mut *adam,
            &Trap,
            &NoMetric,
            &x[..n],
            &y[..n],
            &config,
        );
        let (mm, vv) = adam.moments();
        (params(&*m), params(mm), params(vv), adam.steps(), h)
    };
    let good = run(&y, 4);
    good.4.as_ref().expect("one good batch");
    y[7] = Vector::<f64, 1>::new(77.0);
    let bad = run(&y, 12);
    assert_eq!(
        bad.4.unwrap_err(),
        staticnet::TrainError::NonFinite {
            what: "gradient",
            at: Some((1, 2))
        }
    );
    assert_eq!(
        (&bad.0, &bad.1, &bad.2, bad.3),
        (&good.0, &good.1, &good.2, good.3)
    );
}

/// Mean squared error that panics on a target of 99 and gives a NaN
/// gradient (with a finite loss) on a target of 77: a failure inside one
/// thread's part of a batch.
struct Trap;

impl staticnet::loss::Loss<f64, Vector<f64, 1>> for Trap {
    fn loss(
        &self,
        out: &[f64],
        act: staticnet::OutputActivation,
        y: &Vector<f64, 1>,
        grad: Option<&mut [f64]>,
    ) -> Result<(f64, staticnet::loss::Wrt), staticnet::TrainError> {
        assert!(y[0] != 99.0, "the trap's target");
        let nan = y[0] == 77.0;
        let mut grad = grad;
        let r = MeanSquaredError.loss(out, act, y, grad.as_deref_mut());
        if let (true, Some(g)) = (nan, grad) {
            g[0] = f64::NAN;
        }
        r
    }
}

/// Two threads, batches of 4 in order (the calling thread takes samples 0
/// and 1 of each batch, the helper 2 and 3): the weights after `n` samples.
fn two_threads(
    x: &[<Mlp<f64> as Model<f64>>::Input],
    y: &[Vector<f64, 1>],
) -> (Box<Mlp<f64>>, Result<History, staticnet::TrainError>) {
    let mut m: Box<Mlp<f64>> = Mlp::boxed_init(5);
    let mut adam: Box<Adam<Mlp<f64>>> = Adam::boxed(AdamConfig::default());
    let config = FitConfig {
        epochs: 1,
        batch_size: 4,
        shuffle: false,
        threads: 2,
        verbose: 0,
        ..Default::default()
    };
    let h = fit(&mut *m, &mut *adam, &Trap, &NoMetric, x, y, &config);
    (m, h)
}

#[test]
fn a_helper_that_panics_stops_fit_with_the_last_good_weights() {
    let (x, mut y, _) = data::<<Mlp<f64> as Model<f64>>::Input>(12);
    // The first batch alone: the weights the failing run must keep.
    let (good, h) = two_threads(&x[..4], &y[..4]);
    h.expect("one good batch");
    // Sample 6: the helper's part of the second batch.
    y[6] = Vector::<f64, 1>::new(99.0);
    let (m, h) = two_threads(&x, &y);
    assert_eq!(
        h.unwrap_err(),
        staticnet::TrainError::Config("a training thread panicked")
    );
    assert_eq!(params(&*m), params(&*good));
}

#[test]
fn a_non_finite_gradient_in_the_helpers_part_stops_fit_with_the_last_good_weights() {
    let (x, mut y, _) = data::<<Mlp<f64> as Model<f64>>::Input>(12);
    let (good, h) = two_threads(&x[..4], &y[..4]);
    h.expect("one good batch");
    y[7] = Vector::<f64, 1>::new(77.0);
    let (m, h) = two_threads(&x, &y);
    assert_eq!(
        h.unwrap_err(),
        staticnet::TrainError::NonFinite {
            what: "gradient",
            at: Some((1, 2))
        }
    );
    assert_eq!(params(&*m), params(&*good));
}

#[test]
fn a_panic_in_the_calling_threads_part_ends_fit_without_a_deadlock() {
    let (x, mut y, _) = data::<<Mlp<f64> as Model<f64>>::Input>(12);
    // Sample 4: the calling thread's part of the second batch. The panic
    // leaves `fit` (the helper is told to stop, and is joined).
    y[4] = Vector::<f64, 1>::new(99.0);
    let run = std::panic::catch_unwind(|| two_threads(&x, &y));
    assert!(run.is_err());
}
