//! Run-time CPU dispatch (`staticnet::dispatch`): a model's forward,
//! streaming step and layer-major training step (`forward_train_layers`,
//! `backward_layers`) give the same results through the AVX2 + FMA copy
//! and the baseline copy, for every kind of layer the kernels have.
//!
//! The AVX2 copy widens the vectors, and the kernels it instantiates for
//! AVX2 (`kernels::avx2`: the recurrent cells, the matrix-vector products
//! behind them and the batched `Dense` training kernels) fuse their
//! multiply-adds, which round once instead of twice: so the copies agree
//! within what that rounding implies, [`TOL`] relative to the largest
//! value of each result (in `f32`, ~100 ulp of the largest value, for sums
//! of up to a few thousand products), not bit for bit. The kernels that do
//! not fuse (convolutions, pooling, BatchNorm, the per-sample `Dense`) give
//! bit-identical results through both copies, and the test checks that
//! too. On a CPU without AVX2 (or a build for another architecture, or
//! without `std`) both runs take the baseline copy and the test says so.
//!
//! Inside the AVX2 copy, the recurrent kernels run in a function
//! compiled for AVX-512 where the CPU has it
//! (`dispatch::avx512`), with the same blocking and fused multiply-adds:
//! those results must equal the AVX2 ones bit for bit.

use staticnet::{dispatch, model, Mode, Model, Rng, Tensor, Train};

/// The bound on `|dispatched − baseline|`, relative to `max(1, max |baseline|)`
/// over each result.
const TOL: f32 = 1e-5;

model! {
    /// Conv2d, MaxPool2d, Flatten, Dense (the textbook CNN).
    struct Cnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(3, activation = softmax),
    }
}

model! {
    /// Strided, depthwise and pointwise convolutions with BatchNorm fused,
    /// a residual Add and average pooling (the DS-CNN / ResNet shapes).
    struct DsRes {
        input: [3, 16, 16],
        c0:  Conv2d(8, kernel = 3, stride = 2, padding = same),
        bn0: BatchNorm,
        r0:  Relu,
        dw:  DepthwiseConv2d(kernel = 3, padding = same),
        bn1: BatchNorm,
        r1:  Relu,
        pw:  Conv2d(8, kernel = 1, activation = relu6),
        add: Add(r0, pw),
        ap:  AvgPool2d(2),
        gp:  GlobalAvgPool,
        out: Dense(4, activation = sigmoid),
    }
}

model! {
    /// Recurrent layers, per-step Dense and a causal Conv1d: streamable.
    /// The widths reach every path of the 512-bit recurrent kernels: the
    /// LSTM's 96 and the first GRU's 96 gate rows their matrix product,
    /// 24 and 20 units a 16-lane block and a scalar tail, 32 two blocks.
    struct Rnn {
        input: [24, 6],
        c:    Conv1d(8, kernel = 3, padding = causal, activation = tanh),
        l:    Lstm(24, return_sequences = true),
        g:    Gru(32, return_sequences = true),
        g2:   Gru(20, return_sequences = true),
        per:  Dense(5, activation = gelu),
        r:    SimpleRnn(4),
        head: Dense(2),
    }
}

fn random<X: Tensor<f32>>(seed: u64) -> X {
    let mut rng = Rng::new(seed);
    let mut x = X::zeros();
    for v in x.as_flat_mut() {
        *v = 2.0 * rng.uniform() as f32 - 1.0;
    }
    x
}

/// `f` with dispatch off and on: (baseline, dispatched).
fn both<R>(mut f: impl FnMut() -> R) -> (R, R) {
    dispatch::set_enabled(false);
    assert!(!dispatch::avx2());
    let off = f();
    dispatch::set_enabled(true);
    let on = f();
    (off, on)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `on` within [`TOL`] of `off` (relative to `off`'s largest value), both
/// finite; returns whether they are bit-identical.
fn close(off: &[f32], on: &[f32], what: &str) -> bool {
    assert_eq!(off.len(), on.len());
    assert!(
        off.iter().chain(on).all(|v| v.is_finite()),
        "{what}: not finite"
    );
    let scale = off.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let worst = off
        .iter()
        .zip(on)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst <= TOL * scale,
        "{what}: differs by {worst:e} (scale {scale})"
    );
    bits(off) == bits(on)
}

/// Forward through both copies: close; bit-identical where `exact`.
fn same_forward<M: Model<f32>>(seed: u64, exact: bool) {
    let mut m = M::zeros();
    m.init_in(seed);
    for s in 0..4 {
        let x: M::Input = random(seed * 10 + s);
        let (off, on) = both(|| m.forward(&x));
        let identical = close(
            off.as_flat(),
            on.as_flat(),
            &format!("seed {seed}, input {s}"),
        );
        assert!(
            identical || !exact,
            "seed {seed}, input {s}: not bit-identical"
        );
    }
}

/// One layer-major training step's output, dL/d(input) and every
/// parameter gradient (flattened), batch of `n`, in `mode`.
fn train_step<M: Train<f32>>(m: &M, seed: u64, n: usize, mode: Mode) -> Vec<f32> {
    let xs: Vec<M::Input> = (0..n as u64).map(|k| random(seed * 100 + k)).collect();
    let refs: Vec<&M::Input> = xs.iter().collect();
    let mut tapes: Vec<M::Tape> = (0..n).map(|_| M::new_tape()).collect();
    let mut scratch: Vec<M::Tape> = (0..n).map(|_| M::new_tape()).collect();
    let mut outs = vec![M::Output::zeros(); n];
    let mut rng = Rng::new(seed);
    m.forward_train_layers(&refs, &mut tapes, &mut outs, mode, &mut rng)
        .unwrap();
    // dL/dy = y − t for seeded targets t.
    let dys: Vec<M::Output> = outs
        .iter()
        .enumerate()
        .map(|(k, y)| {
            let t: M::Output = random(seed * 1000 + k as u64);
            let mut d = *y;
            for (d, t) in d.as_flat_mut().iter_mut().zip(t.as_flat()) {
                *d -= t;
            }
            d
        })
        .collect();
    let mut grads = M::zeros();
    let mut dxs = vec![M::Input::zeros(); n];
    m.backward_layers(&tapes, &dys, false, &mut grads, &mut scratch, &mut dxs)
        .unwrap();
    let mut all: Vec<f32> = outs.iter().flat_map(|y| y.as_flat().to_vec()).collect();
    all.extend(dxs.iter().flat_map(|d| d.as_flat().to_vec()));
    grads.visit_params(&mut |p| all.extend(p.iter()));
    all
}

/// A training step through both copies: close, gradients not all zero;
/// bit-identical where `exact`.
fn same_training<M: Train<f32>>(seed: u64, exact: bool) {
    let mut m = M::zeros();
    m.init_in(seed);
    // 19 samples: two chunks of `CHUNK` = 8 and a partial rest.
    let (off, on) = both(|| train_step(&m, seed, 19, Mode::TRAIN));
    assert!(off.iter().any(|v| v.abs() > 1e-6), "vacuous");
    let identical = close(&off, &on, &format!("training, seed {seed}"));
    assert!(
        identical || !exact,
        "training seed {seed}: not bit-identical"
    );
}

/// The last output of streaming `x` through `m` step by step.
fn stream(m: &Rnn<f32>, x: &staticnet::Sequence<f32, 24, 6>) -> staticnet::Vector<f32, 2> {
    let mut state = RnnState::zeros();
    let mut y = staticnet::Vector::<f32, 2>::zeros();
    for t in 0..24 {
        y = m.step(&mut state, &x.column(t).into_owned());
    }
    y
}

// One test function: `set_enabled` switches every thread, so the cases
// run one after another rather than as parallel tests.
/// The switches are global: the two tests take turns.
static SWITCHES: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_avx2_copy_computes_what_the_baseline_computes() {
    let _guard = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    if !{
        dispatch::set_enabled(true);
        dispatch::avx2()
    } {
        eprintln!("no AVX2 + FMA copy here (CPU, target or build): both runs are the baseline");
    }
    // Conv, pooling, BatchNorm and the per-sample Dense do not fuse.
    same_forward::<Cnn<f32>>(1, true);
    same_forward::<DsRes<f32>>(2, true);
    same_forward::<Rnn<f32>>(3, false);
    // Training: the batched Dense kernels (every model here ends in one)
    // and the recurrent cells fuse.
    same_training::<Cnn<f32>>(5, false);
    same_training::<DsRes<f32>>(6, false);
    same_training::<Rnn<f32>>(7, false);

    // The streaming step through each copy, and against forward.
    let mut m = Rnn::<f32>::zeros();
    m.init_in(4);
    let x: staticnet::Sequence<f32, 24, 6> = random(40);
    let (off, on) = both(|| stream(&m, &x));
    close(off.as_slice(), on.as_slice(), "streaming step");
    let full = m.forward(&x);
    for (a, b) in on.iter().zip(full.iter()) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
    dispatch::set_enabled(true);
}

/// `f` inside the AVX2 copy with the AVX-512 kernels off and on.
fn both_wide<R>(mut f: impl FnMut() -> R) -> (R, R) {
    dispatch::set_enabled(true);
    dispatch::set_avx512(false);
    assert!(!dispatch::avx512());
    let off = f();
    dispatch::set_avx512(true);
    let on = f();
    (off, on)
}

// The switches are process-wide: [`SWITCHES`] keeps this test and the one
// above from running at the same time.
#[test]
fn the_avx512_kernels_compute_the_bits_of_the_avx2_ones() {
    let _guard = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    if !{
        dispatch::set_enabled(true);
        dispatch::set_avx512(true);
        dispatch::avx512()
    } {
        eprintln!("no AVX-512 here (CPU, target or build): both runs are the AVX2 kernels");
    }
    let mut m = Rnn::<f32>::zeros();
    m.init_in(8);
    for s in 0..3 {
        let x: staticnet::Sequence<f32, 24, 6> = random(80 + s);
        let (off, on) = both_wide(|| m.forward(&x));
        assert_eq!(bits(off.as_flat()), bits(on.as_flat()), "forward {s}");
    }
    for (seed, n) in [(9, 19), (10, 6), (11, 1)] {
        let (off, on) = both_wide(|| train_step(&m, seed, n, Mode::TRAIN));
        assert!(off.iter().any(|v| v.abs() > 1e-6), "vacuous");
        assert_eq!(bits(&off), bits(&on), "training, seed {seed}, {n} samples");
    }
    let x: staticnet::Sequence<f32, 24, 6> = random(90);
    let (off, on) = both_wide(|| stream(&m, &x));
    assert_eq!(bits(off.as_slice()), bits(on.as_slice()), "streaming step");
    dispatch::set_avx512(true);
}
