//! Training throughput of generated code, batch 32, f32, one thread.
//!
//! For the two networks tools/bench_torch.py measures in PyTorch (ANCHORS.md
//! W1 and W2), each group times one batch of 32 samples, with
//! `Throughput::Elements(32)` so criterion reports samples per second:
//!
//! - `step`: the whole training step, `Trainer::step` with the chunk `fit`
//!   uses (`Trainer<_, _, _, CHUNK>`; built with AVX, CHUNK = 8: 4 × (8
//!   training forwards, losses and 8 backwards, `Dense` layers batched over
//!   the 8); for SSE2 only, CHUNK = 1: sample by sample), gradient mean and
//!   finiteness check, one Adam update: the figure compared with PyTorch. The weights and Adam
//!   are reset to their initial state every 32 steps, untimed, so that
//!   the batch is never memorised (tools/bench_torch.py does the same);
//! - `step_layers_avx2`: `step_layers` with the AVX-512 kernels switched
//!   off (`dispatch::set_avx512(false)`), the AVX2 kernels throughout: the
//!   path `step_layers` takes on a CPU without AVX-512;
//! - `step_per_sample`: the same step one sample at a time through one tape
//!   (`Trainer::new`, what firmware with one tape of RAM runs);
//! - `forward_train`: 32 training forwards alone (recording the tape, one
//!   sample at a time);
//! - `forward_backward`: the step's forwards, losses and backwards into
//!   the gradient, no update (`train::accumulate_chunked`);
//! - `adam`: one Adam update of the whole model (per batch, not per sample);
//! - `forward`: 32 inference forwards, for reference.
//!
//! And `train/fashion_net/step_layers`: examples/fashion_mnist.rs' BatchNorm
//! network (BatchNorm on batch statistics, Dropout drawn, residual `Add`s,
//! softmax cross-entropy on class indices, Adam) in the layer-major step
//! `fit` runs, beside tools/bench_fashion_torch.py (the same network in
//! PyTorch's `train()` mode, one thread).
//!
//! backward ≈ `forward_backward` − `forward_train`; the step's remainder
//! over `forward_backward` + `adam` is the gradient mean and check.
//!
//! Time is the benchmark thread's CPU time, not wall time: on a machine
//! shared with other jobs, wall time also counts the turns other processes
//! take on the core, and would make every figure depend on the machine's
//! load. On an idle machine the two agree for this single-threaded code.
//! tools/bench_torch.py reports PyTorch's thread CPU time the same way.
//!
//! ```text
//! cargo bench --bench train
//! RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=target/native cargo bench --bench train
//! ```

mod common;
use common::ThreadCpuTime;
use cpu_time::ThreadTime;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use staticnet::loss::{BinaryCrossEntropy, Loss, MeanSquaredError, SparseCategoricalCrossEntropy};
use staticnet::metrics::NoMetric;
use staticnet::optim::{Adam, AdamConfig, Optimizer};
use staticnet::train::{accumulate_chunked, BatchMemory, CHUNK};
use staticnet::{model, Model, Rng, Tensor, Train, Trainer, Vector};
use std::hint::black_box;
use std::time::Duration;

const BATCH: usize = 32;
/// Steps between resets of the weights and the optimizer in the `step`
/// benchmark (see there).
const RESET_EVERY: u64 = 32;

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

#[path = "../examples/common/fashion_net.rs"]
mod fashion_net;
use fashion_net::FashionNet;

/// A seeded batch: inputs uniform in [-1, 1), targets from `target`.
fn batch<M: Model<f32>>(
    seed: u64,
    target: impl Fn(&mut Rng) -> f32,
) -> (Vec<M::Input>, Vec<Vector<f32, 1>>) {
    let mut rng = Rng::new(seed);
    let xs = (0..BATCH)
        .map(|_| {
            let mut x = M::Input::zeros();
            for v in x.as_flat_mut() {
                *v = (2.0 * rng.uniform() - 1.0) as f32;
            }
            x
        })
        .collect();
    let ys = (0..BATCH)
        .map(|_| Vector::<f32, 1>::new(target(&mut rng)))
        .collect();
    (xs, ys)
}

fn bench_network<M, L>(
    c: &mut Criterion<ThreadCpuTime>,
    name: &str,
    loss: &L,
    xs: &[M::Input],
    ys: &[Vector<f32, 1>],
) where
    M: Train<f32> + Clone,
    M::Tape: staticnet::Zeroable,
    M::Output: staticnet::Zeroable,
    L: Loss<f32, Vector<f32, 1>>,
{
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut initial: Box<M> = Box::new(M::zeros());
    initial.init_in(1);
    let mut model: Box<M> = initial.clone();
    let mut trainer: Box<Trainer<f32, M, Adam<M>, CHUNK>> =
        Trainer::boxed_chunked(Adam::new(AdamConfig::default()));
    let mut per_sample: Box<Trainer<f32, M, Adam<M>>> =
        Trainer::boxed(Adam::new(AdamConfig::default()));
    // The layer-major step `fit` runs (each layer over the whole batch).
    let mut layered: Box<Trainer<f32, M, Adam<M>>> =
        Trainer::boxed(Adam::new(AdamConfig::default()));
    let mut memory: Box<BatchMemory<f32, M, BATCH>> = BatchMemory::boxed();
    // Thousands of steps on one batch would memorise it: the loss and the
    // gradients go to zero, Adam's moments decay into subnormal floats and
    // every operation on them takes a slow microcode path. To time the
    // steps of a training run instead, the weights and the optimizer are
    // reset every RESET_EVERY steps, outside the timed region.
    // `step(model, false)` runs one step; `step(model, true)` resets the
    // trainer's optimizer instead (untimed, with the weights).
    let mut step = |name: &str, step: &mut dyn FnMut(&mut M, bool) -> f32| {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(RESET_EVERY);
                    model.clone_from(&initial);
                    step(&mut model, true);
                    let start = ThreadTime::now();
                    for _ in 0..n {
                        black_box(step(&mut model, false));
                    }
                    total += start.elapsed();
                    left -= n;
                }
                total
            })
        });
    };
    // Thousands of steps on one batch would memorise it: the loss and the
    // gradients go to zero, Adam's moments decay into subnormal floats and
    // every operation on them takes a slow microcode path. To time the
    // steps of a training run instead, the weights and the optimizer are
    // reset every RESET_EVERY steps, outside the timed region.
    step("step", &mut |m, reset| {
        if reset {
            trainer.optimizer.reset();
            return 0.0;
        }
        trainer
            .step(m, loss, black_box(xs), ys)
            .expect("finite loss")
    });
    step("step_layers", &mut |m, reset| {
        if reset {
            layered.optimizer.reset();
            return 0.0;
        }
        layered
            .step_layers(m, loss, black_box(xs), ys, &mut memory)
            .expect("finite loss")
    });
    // The same with the recurrent kernels on AVX2 where `step_layers` runs
    // their copy compiled for AVX-512
    // (`dispatch::avx512`): the two paths side by side. Equal to
    // `step_layers` where the CPU lacks AVX-512 or the build has no AVX2
    // copy.
    step("step_layers_avx2", &mut |m, reset| {
        if reset {
            layered.optimizer.reset();
            return 0.0;
        }
        staticnet::dispatch::set_avx512(false);
        let loss = layered
            .step_layers(m, loss, black_box(xs), ys, &mut memory)
            .expect("finite loss");
        staticnet::dispatch::set_avx512(true);
        loss
    });
    step("step_per_sample", &mut |m, reset| {
        if reset {
            per_sample.optimizer.reset();
            return 0.0;
        }
        per_sample
            .step(m, loss, black_box(xs), ys)
            .expect("finite loss")
    });

    model.init_in(1);
    let mut tape: Box<M::Tape> = Box::new(M::new_tape());
    let mut tapes: Box<[M::Tape; CHUNK]> = Box::new(std::array::from_fn(|_| M::new_tape()));
    group.bench_function("forward_train", |b| {
        b.iter(|| {
            for x in xs {
                black_box(model.forward_train(black_box(x), &mut tape));
            }
        })
    });

    let mut grads: Box<M> = Box::new(M::zeros());
    group.bench_function("forward_backward", |b| {
        b.iter(|| {
            M::zero_grads(&mut grads);
            let sums = accumulate_chunked(
                &*model,
                &mut *grads,
                &mut tapes,
                loss,
                &NoMetric,
                black_box(xs).iter().zip(ys),
            )
            .expect("finite loss");
            black_box(sums)
        })
    });

    // The batch's mean gradient, then repeated Adam updates with it.
    M::zero_grads(&mut grads);
    accumulate_chunked(
        &*model,
        &mut *grads,
        &mut tapes,
        loss,
        &NoMetric,
        xs.iter().zip(ys),
    )
    .expect("finite loss");
    for i in 0..M::TENSORS {
        for g in grads.tensor_mut(i) {
            *g /= BATCH as f32;
        }
    }
    let mut adam: Box<Adam<M>> = Adam::boxed(AdamConfig::default());
    group.bench_function("adam", |b| {
        b.iter(|| adam.step(&mut *model, black_box(&*grads)))
    });

    // On the initial weights: after the `adam` benchmark's thousands of
    // updates with one fixed gradient the weights have drifted far enough
    // to saturate the LSTM's gates, and the forward then timed the FPU's
    // slow path (W2: 683 µs per 32 against 180 µs on sane weights).
    group.bench_function("forward", |b| {
        b.iter(|| {
            for x in xs {
                black_box(initial.forward(black_box(x)));
            }
        })
    });
    group.finish();
}

/// The layer-major step of the BatchNorm network on seeded images in
/// [0, 1) and classes (the speed of a step does not depend on the values),
/// its weights and Adam reset every RESET_EVERY steps as above.
fn bench_fashion(c: &mut Criterion<ThreadCpuTime>) {
    type M = FashionNet<f32>;
    let mut rng = Rng::new(13);
    let xs: Vec<<M as Model<f32>>::Input> = (0..BATCH)
        .map(|_| {
            let mut x = <M as Model<f32>>::Input::zeros();
            for v in x.as_flat_mut() {
                *v = rng.uniform() as f32;
            }
            x
        })
        .collect();
    let ys: Vec<usize> = (0..BATCH).map(|_| rng.below(10)).collect();
    let mut group = c.benchmark_group("train/fashion_net");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut initial: Box<M> = Box::new(M::zeros());
    initial.init_in(1);
    let mut model: Box<M> = initial.clone();
    let mut layered: Box<Trainer<f32, M, Adam<M>>> =
        Trainer::boxed(Adam::new(AdamConfig::default()));
    let mut memory: Box<BatchMemory<f32, M, BATCH>> = BatchMemory::boxed();
    group.bench_function("step_layers", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(RESET_EVERY);
                model.clone_from(&initial);
                layered.optimizer.reset();
                let start = ThreadTime::now();
                for _ in 0..n {
                    black_box(
                        layered
                            .step_layers(
                                &mut model,
                                &SparseCategoricalCrossEntropy,
                                black_box(&xs),
                                &ys,
                                &mut memory,
                            )
                            .expect("finite loss"),
                    );
                }
                total += start.elapsed();
                left -= n;
            }
            total
        })
    });
    group.finish();
}

fn train(c: &mut Criterion<ThreadCpuTime>) {
    let (xs, ys) = batch::<Cnn<f32>>(11, |r| r.below(2) as f32);
    bench_network::<Cnn<f32>, _>(c, "train/W1_cnn", &BinaryCrossEntropy, &xs, &ys);
    let (xs, ys) = batch::<LstmNet<f32>>(12, |r| r.normal() as f32);
    bench_network::<LstmNet<f32>, _>(c, "train/W2_lstm", &MeanSquaredError, &xs, &ys);
    bench_fashion(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .sample_size(50);
    targets = train
}
criterion_main!(benches);
