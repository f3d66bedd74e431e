//! `fit` on one and on two threads (issue 15, item 5): one epoch of 1,024
//! samples, batch 32, Adam, for W1 (the textbook CNN) and W2 (LSTM(32) on
//! [32, 8]). Criterion reports samples per second; the ratio of the
//! two-thread row to the one-thread row is the scaling. Wall time (the
//! point is both cores working), so run it on a quiet machine.
//!
//! Every timed epoch starts from the same weights and a fresh Adam (reset
//! untimed): timing epoch after epoch on the same data would memorise it,
//! and once the gradients and Adam's moments decay into subnormal floats
//! every operation on them takes a slow microcode path (what made `fit`
//! look half as fast as `Trainer::step_layers`). The `step_layers` rows run
//! the same 32 batches (the same shuffle) through `Trainer::step_layers`:
//! `fit`'s own cost on one thread is the difference.
//!
//! Before criterion's rows the bench prints, per network:
//! - what does not depend on the machine's load: the thread CPU time of a
//!   batch's forward and backward (split across the threads) and of the
//!   update on one thread (the mean of the gradient, the finiteness check
//!   and Adam: on two threads `fit` splits it between them), and the
//!   speed-up Amdahl's law allows two threads with that part serial;
//! - the hand-off between the calling thread and its helper, batch by
//!   batch (`fit::probe`'s wall-clock stamps, medians): how long after the
//!   job is handed out the helper starts it, how long after it finishes the
//!   calling thread sees it, each thread's part, the helper's idle time,
//!   the update's (its serial part), and the median batch against one
//!   thread's (medians shrug off the odd preemption that wall-clock epochs
//!   on a loaded machine do not);
//! - one epoch on one and on two threads, interleaved, and the ratio
//!   (issue 15 item 5's goal: ≥ 1.8×), with the load average.
//!
//! All of it takes about 5 s; criterion's rows about 35 s more:
//!
//! ```text
//! cargo bench --bench fit_threads                 # everything
//! cargo bench --bench fit_threads -- --list       # skips the printout
//! cargo bench --bench fit_threads -- nothing      # the printout only
//! ```

use cpu_time::{ProcessTime, ThreadTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use staticnet::fit::{fit, probe, shuffle, FitConfig};
use staticnet::loss::{BinaryCrossEntropy, Loss, MeanSquaredError};
use staticnet::metrics::NoMetric;
use staticnet::optim::{Adam, AdamConfig, Optimizer};
use staticnet::train::{
    accumulate_layers, apply_mean_parts, BatchMemory, BatchSums, Clip, LayerBatch, Trainer,
};
use staticnet::{model, Mode, Model, Rng, Tensor, Train, Vector, Zeroable};
use std::hint::black_box;
use std::time::{Duration, Instant};

model! {
    /// W1: the textbook CNN.
    pub struct Cnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(1, activation = sigmoid),
    }
}

model! {
    /// W2: an LSTM over 32 steps of 8 features, a Dense head on the last state.
    pub struct LstmNet {
        input: [32, 8],
        lstm1: Lstm(32),
        head:  Dense(1),
    }
}

const N: usize = 1024;
const BATCH: usize = 32;

type Target = Vector<f32, 1>;

fn data<X: Tensor<f32>>(seed: u64) -> (Vec<X>, Vec<Target>) {
    let mut rng = Rng::new(seed);
    let x: Vec<X> = (0..N)
        .map(|_| {
            let mut v = X::zeros();
            for e in v.as_flat_mut() {
                *e = rng.uniform() as f32 * 2.0 - 1.0;
            }
            v
        })
        .collect();
    let y = x
        .iter()
        .map(|v| Target::new(f32::from(u8::from(v.as_flat()[0] > 0.0))))
        .collect();
    (x, y)
}

fn config<'a, X, Y>(threads: usize) -> FitConfig<'a, X, Y> {
    FitConfig {
        epochs: 1,
        batch_size: BATCH,
        threads,
        verbose: 0,
        ..FitConfig::default()
    }
}

/// `to`'s parameters set to `from`'s.
fn copy_params<M: Model<f32>>(to: &mut M, from: &M) {
    for i in 0..M::TENSORS {
        to.tensor_mut(i).copy_from_slice(from.tensor(i));
    }
}

/// The epoch's batches as `fit` draws them (its shuffle, seed 0).
fn epoch_order() -> Vec<usize> {
    let mut order: Vec<usize> = (0..N).collect();
    shuffle(&mut order, &mut Rng::new(0));
    order
}

/// Mean thread CPU time of `f` over `reps` calls.
fn cpu(reps: u32, mut f: impl FnMut()) -> Duration {
    f();
    let t = ThreadTime::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed() / reps
}

/// The serial fraction of a two-thread `fit` step of `M` by thread CPU
/// time, printed with Amdahl's bound.
fn amdahl<M, L>(name: &str, loss: &L, x: &[M::Input], y: &[Target])
where
    M: Train<f32> + Zeroable,
    L: Loss<f32, Target>,
{
    let model: Box<M> = M::boxed_init(1);
    let mut grads: Box<M> = M::boxed_zeroed();
    let helper: Box<M> = M::boxed_zeroed();
    let mut tapes: Vec<M::Tape> = (0..BATCH).map(|_| M::new_tape()).collect();
    let mut scratch: Vec<M::Tape> = (0..BATCH).map(|_| M::new_tape()).collect();
    let mut outs = vec![M::Output::zeros(); BATCH];
    let mut rng = Rng::new(0);
    let xs: Vec<&M::Input> = x[..BATCH].iter().collect();
    let ys: Vec<&Target> = y[..BATCH].iter().collect();
    let mut sums = BatchSums::default();
    // The parallel part: zeroing, forward, loss and backward of a batch.
    let parallel = cpu(200, || {
        M::zero_grads(&mut grads);
        let work = staticnet::train::Workspace {
            tapes: &mut tapes,
            scratch: &mut scratch,
            outs: &mut outs,
            mode: Mode::TRAIN,
            rng: &mut rng,
        };
        let batch = LayerBatch {
            xs: &xs,
            ys: &ys,
            weights: None,
        };
        sums = accumulate_layers(&*model, &mut grads, work, loss, &NoMetric, batch, &mut [])
            .expect("finite");
    });
    // The serial part: the helper's gradient added in, then the mean, the
    // finiteness check and Adam's update (on a scratch model).
    let mut target: Box<M> = M::boxed_init(1);
    let mut adam: Box<Adam<M>> = Adam::boxed(AdamConfig::default());
    let mut g: Box<M> = M::boxed_zeroed();
    copy_params(&mut *g, &*grads);
    // The pass that adds the helper's gradient in, takes the mean and
    // checks it, then Adam: what fit's calling thread runs alone.
    let update = cpu(2000, || {
        black_box(
            apply_mean_parts(
                &mut *target,
                &mut *g,
                &[&*helper],
                &mut *adam,
                &sums,
                Clip::None,
                None,
            )
            .expect("finite"),
        );
        // (The pass divided g by the batch size: undo it, exactly.)
        for i in 0..M::TENSORS {
            for a in g.tensor_mut(i) {
                *a *= BATCH as f32;
            }
        }
    });
    let adam_only = cpu(2000, || adam.step(&mut *target, black_box(&*g)));
    let undo = cpu(2000, || {
        for i in 0..M::TENSORS {
            for a in g.tensor_mut(i) {
                *a *= 1.0;
            }
        }
        black_box(&mut *g);
    });
    let serial = update.saturating_sub(undo);
    let s = serial.as_secs_f64() / (serial + parallel).as_secs_f64();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{name}: batch of {BATCH}, thread CPU: forward+backward {:.1} us; serial {:.1} us \
         (sum+mean+check {:.1}, Adam {:.1}): serial fraction {:.2}%, \
         Amdahl bound on 2 threads {:.2}x",
        us(parallel),
        us(serial),
        us(serial.saturating_sub(adam_only)),
        us(adam_only),
        s * 100.0,
        1.0 / (s + (1.0 - s) / 2.0)
    );
}

/// The median of `v` in microseconds.
fn median_us(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

/// The hand-off between `fit`'s calling thread and its helper on two
/// threads, batch by batch (wall-clock stamps from `fit::probe`), and the
/// process CPU time against the wall time of the whole call.
fn hand_off<M, L>(name: &str, loss: &L, x: &[M::Input], y: &[Target])
where
    M: Train<f32> + Zeroable + Send + Sync,
    M::Tape: Send,
    M::Input: Sync,
    L: Loss<f32, Target> + Sync,
{
    let mut m: Box<M> = M::boxed_init(1);
    let mut opt: Box<Adam<M>> = Adam::boxed(AdamConfig::default());
    let mut run = |threads: usize| {
        let cfg = FitConfig {
            epochs: 4,
            ..config(threads)
        };
        probe::start();
        let (wall, cpu) = (Instant::now(), ProcessTime::now());
        fit(&mut *m, &mut *opt, loss, &NoMetric, x, y, &cfg).expect("fit");
        let (wall, cpu) = (wall.elapsed(), cpu.elapsed());
        (probe::take(), cpu.as_secs_f64() / wall.as_secs_f64())
    };
    run(2);
    let (one, _) = run(1);
    let (log, cores) = run(2);
    let d = |f: &dyn Fn(&probe::Batch) -> Duration| median_us(log.iter().map(f).collect());
    let next = |log: &[probe::Batch], f: &dyn Fn(&probe::Batch, &probe::Batch) -> Duration| {
        median_us(log.windows(2).map(|w| f(&w[0], &w[1])).collect())
    };
    let batch = |a: &probe::Batch, b: &probe::Batch| b.sent.saturating_duration_since(a.sent);
    let (batch1, batch2) = (next(&one, &batch), next(&log, &batch));
    println!(
        "{name} hand-off on 2 threads, medians over {} batches: job sent -> helper starts {:.1} us; \
         helper done -> caller sees it {:.1} us (caller idle {:.1} us); parts: caller {:.1}, \
         helper {:.1} us; helper idle between batches {:.1} us; update {:.1} us; \
         batch {:.1} us (1 thread: {:.1} us, {:.2}x); process CPU / wall {:.2}",
        log.len(),
        d(&|b| b.started.saturating_duration_since(b.sent)),
        d(&|b| b.seen.saturating_duration_since(b.finished.max(b.own_done))),
        d(&|b| b.seen.saturating_duration_since(b.own_done)),
        d(&|b| b.own_done.saturating_duration_since(b.sent)),
        d(&|b| b.finished.saturating_duration_since(b.started)),
        next(&log, &|a, b| b.started.saturating_duration_since(a.finished)),
        d(&|b| b.applied.saturating_duration_since(b.seen)),
        batch2,
        batch1,
        batch1 / batch2,
        cores,
    );
}

/// `fit`'s one-epoch throughput on one and on two threads, the epochs of
/// the two interleaved (so a change in the machine's load hits both alike),
/// medians of `REPS` each, wall time, and their ratio: the figure issue 15
/// item 5 asks for (≥ 1.8), printed with the load average.
fn scaling<M, L>(name: &str, loss: &L, x: &[M::Input], y: &[Target])
where
    M: Train<f32> + Zeroable + Send + Sync,
    M::Tape: Send,
    M::Input: Sync,
    L: Loss<f32, Target> + Sync,
{
    const REPS: usize = 15;
    let initial: Box<M> = M::boxed_init(1);
    let mut m: Box<M> = M::boxed_init(1);
    let mut opt: Box<Adam<M>> = Adam::boxed(AdamConfig::default());
    let mut times = [Vec::new(), Vec::new()];
    for rep in 0..=REPS {
        for (t, times) in times.iter_mut().enumerate() {
            copy_params(&mut *m, &*initial);
            opt.reset();
            let start = Instant::now();
            fit(&mut *m, &mut *opt, loss, &NoMetric, x, y, &config(t + 1)).expect("fit");
            if rep > 0 {
                times.push(start.elapsed());
            }
        }
    }
    let rate = |v: &mut Vec<Duration>| {
        v.sort();
        N as f64 / v[v.len() / 2].as_secs_f64()
    };
    let (one, two) = (rate(&mut times[0]), rate(&mut times[1]));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{name}: fit, one epoch, wall, medians of {REPS} interleaved: 1 thread {:.1}k, \
         2 threads {:.1}k samples/s: {:.2}x (load average {})",
        one / 1e3,
        two / 1e3,
        two / one,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// The fit rows (1 and 2 threads) and the `step_layers` row of one network.
fn rows<M, L>(c: &mut Criterion, name: &str, loss: &L, x: &[M::Input], y: &[Target])
where
    M: Train<f32> + Zeroable + Send + Sync,
    M::Tape: Send + Zeroable,
    M::Output: Zeroable,
    M::Input: Sync,
    L: Loss<f32, Target> + Sync,
{
    let mut g = c.benchmark_group("fit_epoch_1024");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    let initial: Box<M> = M::boxed_init(1);
    let mut m: Box<M> = M::boxed_init(1);
    let mut opt: Box<Adam<M>> = Adam::boxed(AdamConfig::default());
    for threads in [1, 2] {
        g.bench_function(BenchmarkId::new(name, threads), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    copy_params(&mut *m, &*initial);
                    opt.reset();
                    let start = Instant::now();
                    black_box(
                        fit(&mut *m, &mut *opt, loss, &NoMetric, x, y, &config(threads))
                            .expect("fit"),
                    );
                    total += start.elapsed();
                }
                total
            })
        });
    }
    // The same epoch, batch by batch through Trainer::step_layers.
    let order = epoch_order();
    let batches: Vec<(Vec<M::Input>, Vec<Target>)> = order
        .chunks(BATCH)
        .map(|idx| {
            (
                idx.iter().map(|&i| x[i]).collect(),
                idx.iter().map(|&i| y[i]).collect(),
            )
        })
        .collect();
    let mut trainer: Box<Trainer<f32, M, Adam<M>>> =
        Trainer::boxed(Adam::new(AdamConfig::default()));
    let mut memory: Box<BatchMemory<f32, M, BATCH>> = BatchMemory::boxed();
    g.bench_function(BenchmarkId::new(format!("{name}_step_layers"), 1), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                copy_params(&mut *m, &*initial);
                trainer.optimizer.reset();
                let start = Instant::now();
                for (xs, ys) in &batches {
                    black_box(
                        trainer
                            .step_layers(&mut *m, loss, xs, ys, &mut memory)
                            .expect("finite"),
                    );
                }
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let (x1, y1) = data::<<Cnn<f32> as Model<f32>>::Input>(1);
    let (x2, y2) = data::<<LstmNet<f32> as Model<f32>>::Input>(2);
    if !std::env::args().any(|a| a == "--list") {
        amdahl::<Cnn<f32>, _>("w1", &BinaryCrossEntropy, &x1, &y1);
        amdahl::<LstmNet<f32>, _>("w2", &MeanSquaredError, &x2, &y2);
        hand_off::<Cnn<f32>, _>("w1", &BinaryCrossEntropy, &x1, &y1);
        hand_off::<LstmNet<f32>, _>("w2", &MeanSquaredError, &x2, &y2);
        scaling::<Cnn<f32>, _>("w1", &BinaryCrossEntropy, &x1, &y1);
        scaling::<LstmNet<f32>, _>("w2", &MeanSquaredError, &x2, &y2);
    }
    rows::<Cnn<f32>, _>(c, "w1", &BinaryCrossEntropy, &x1, &y1);
    rows::<LstmNet<f32>, _>(c, "w2", &MeanSquaredError, &x2, &y2);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
