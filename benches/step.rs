//! Streaming (one time step) and whole-sequence latency of the recurrent
//! layers, f32, batch 1: staticnet side by side with the same network
//! written by hand with nalgebra, holding the same weights. Setup asserts
//! that both agree (within 1e-4 at every step) before anything is timed.
//!
//! Groups (compare rows within a group, measured in the same run):
//! - `lstm_step`: one step of [8] → Lstm(32) → Dense(1), the streaming call
//!   an audio or control loop makes per sample: `LstmNet::step` (generated),
//!   `kernels::lstm_step` alone (the cell without the head), and the
//!   hand-written step (cell and head);
//! - `gru_step`: the same with Gru(32);
//! - `lstm_sequence`: W2 of ANCHORS.md, [32, 8] → Lstm(32) → Dense(1) on
//!   the last state: `forward` and the hand-written 32 steps plus head.
//!
//! A step benchmark walks through a fixed random 32-step sequence, one step
//! per iteration, and resets the state after the 32nd (as a stream of
//! 32-step windows would), so the state stays in the range real inputs
//! give (the hand-written version's `expf`/`tanhf` take longer on some
//! arguments than on others).
//!
//! Time is the benchmark thread's CPU time, as in benches/train.rs: on a
//! shared machine wall time would also count other processes' turns on
//! the core. On an idle machine the two agree for this single-threaded code.
//!
//! ```text
//! cargo bench --bench step
//! RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=<another dir> cargo bench --bench step
//! ```

mod common;
use common::ThreadCpuTime;
use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::{SMatrix, SVector};
use staticnet::kernels::{lstm_step, LstmState};
use staticnet::{model, Model, Rng, Tensor};
use std::hint::black_box;
use std::time::Duration;

model! {
    /// W2 of ANCHORS.md: one LSTM layer, a linear head on the last state.
    pub struct LstmNet {
        input: [32, 8],
        lstm1: Lstm(32),
        head:  Dense(1),
    }
}

model! {
    /// The same with a GRU.
    pub struct GruNet {
        input: [32, 8],
        gru1: Gru(32),
        head: Dense(1),
    }
}

/// Agreement required between the two versions before timing.
const TOL: f32 = 1e-4;
const STEPS: usize = 32;

/// Keras' zero biases would leave the bias paths untested: small random
/// biases make the agreement check cover them.
fn randomise_biases<M: Model<f32>>(net: &mut M, rng: &mut Rng) {
    net.visit_params_mut(&mut |mut p| {
        if p.name.contains("bias") {
            for k in 0..p.len() {
                p.set(k, rng.uniform() as f32 * 0.2 - 0.1);
            }
        }
    });
}

fn random_sequence(rng: &mut Rng) -> SMatrix<f32, 8, STEPS> {
    let mut x = SMatrix::<f32, 8, STEPS>::zeros();
    for v in x.as_flat_mut() {
        *v = rng.uniform() as f32 * 2.0 - 1.0;
    }
    x
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// An LSTM step as a competent nalgebra user writes it: two matrix-vector
/// products by reference, then the gates with `f32::exp`/`tanh` from the C
/// math library (PyTorch gate order i, f, g, o).
struct HandLstm {
    w_ih: SMatrix<f32, 128, 8>,
    w_hh: SMatrix<f32, 128, 32>,
    b: SVector<f32, 128>,
    head_w: SMatrix<f32, 1, 32>,
    head_b: f32,
}

impl HandLstm {
    fn from(net: &LstmNet<f32>) -> Self {
        HandLstm {
            w_ih: net.lstm1.weight_ih,
            w_hh: net.lstm1.weight_hh,
            b: net.lstm1.bias_ih + net.lstm1.bias_hh,
            head_w: net.head.weight,
            head_b: net.head.bias[0],
        }
    }

    // By reference: `self.w_hh * h` would copy the 16 KB matrix per call.
    #[allow(clippy::op_ref)]
    fn cell(&self, h: &mut SVector<f32, 32>, c: &mut SVector<f32, 32>, x: &SVector<f32, 8>) {
        let z = &self.w_ih * x + &self.w_hh * &*h + self.b;
        for k in 0..32 {
            let i = sigmoid(z[k]);
            let f = sigmoid(z[32 + k]);
            let g = z[64 + k].tanh();
            let o = sigmoid(z[96 + k]);
            c[k] = f * c[k] + i * g;
            h[k] = o * c[k].tanh();
        }
    }

    fn head(&self, h: &SVector<f32, 32>) -> f32 {
        (self.head_w * h)[0] + self.head_b
    }

    fn step(&self, h: &mut SVector<f32, 32>, c: &mut SVector<f32, 32>, x: &SVector<f32, 8>) -> f32 {
        self.cell(h, c, x);
        self.head(h)
    }

    fn forward(&self, x: &SMatrix<f32, 8, STEPS>) -> f32 {
        let (mut h, mut c) = (SVector::zeros(), SVector::zeros());
        for t in 0..STEPS {
            self.cell(&mut h, &mut c, &x.column(t).into_owned());
        }
        self.head(&h)
    }
}

/// A GRU step written the same way (PyTorch gate order r, z, n).
struct HandGru {
    w_ih: SMatrix<f32, 96, 8>,
    w_hh: SMatrix<f32, 96, 32>,
    b_ih: SVector<f32, 96>,
    b_hh: SVector<f32, 96>,
    head_w: SMatrix<f32, 1, 32>,
    head_b: f32,
}

impl HandGru {
    fn from(net: &GruNet<f32>) -> Self {
        HandGru {
            w_ih: net.gru1.weight_ih,
            w_hh: net.gru1.weight_hh,
            b_ih: net.gru1.bias_ih,
            b_hh: net.gru1.bias_hh,
            head_w: net.head.weight,
            head_b: net.head.bias[0],
        }
    }

    // By reference, as in `HandLstm::cell`.
    #[allow(clippy::op_ref)]
    fn step(&self, h: &mut SVector<f32, 32>, x: &SVector<f32, 8>) -> f32 {
        let gi = &self.w_ih * x + self.b_ih;
        let gh = &self.w_hh * &*h + self.b_hh;
        for k in 0..32 {
            let r = sigmoid(gi[k] + gh[k]);
            let z = sigmoid(gi[32 + k] + gh[32 + k]);
            let n = (gi[64 + k] + r * gh[64 + k]).tanh();
            h[k] = (1.0 - z) * n + z * h[k];
        }
        (self.head_w * &*h)[0] + self.head_b
    }
}

fn column(x: &SMatrix<f32, 8, STEPS>, t: usize) -> SVector<f32, 8> {
    x.column(t).into_owned()
}

fn assert_close(what: &str, got: f32, want: f32) {
    assert!(
        (got - want).abs() <= TOL,
        "{what}: staticnet {got} vs hand-written {want}"
    );
}

fn lstm(c: &mut Criterion<ThreadCpuTime>) {
    let mut rng = Rng::new(7);
    let mut net = LstmNet::<f32>::init(11);
    randomise_biases(&mut net, &mut rng);
    let hand = HandLstm::from(&net);
    let xs = random_sequence(&mut rng);
    let cols: Vec<SVector<f32, 8>> = (0..STEPS).map(|t| column(&xs, t)).collect();

    // Every step and the sequence agree before anything is timed.
    let mut state = LstmNetState::zeros();
    let mut kernel = LstmState::<f32, 32>::zeros();
    let (mut h, mut cs) = (SVector::zeros(), SVector::zeros());
    for (t, x) in cols.iter().enumerate() {
        let y = net.step(&mut state, x)[0];
        let want = hand.step(&mut h, &mut cs, x);
        assert_close(&format!("LSTM step {t}"), y, want);
        lstm_step(&net.lstm1, x, &mut kernel);
        // The generated step runs the AVX2 copy where the CPU has it,
        // which fuses multiply-adds: equal to the kernel up to rounding.
        for (a, b) in kernel.h.iter().zip(state.lstm1.h.iter()) {
            assert!(
                (a - b).abs() <= 1e-5,
                "kernel and generated step differ: {a} vs {b}"
            );
        }
    }
    assert_close("LSTM sequence", net.forward(&xs)[0], hand.forward(&xs));

    let mut g = c.benchmark_group("lstm_step");
    g.bench_function("staticnet_step", |b| {
        let mut s = LstmNetState::zeros();
        let mut t = 0;
        b.iter(|| {
            let y = net.step(&mut s, black_box(&cols[t]));
            t += 1;
            if t == STEPS {
                t = 0;
                s.reset();
            }
            y
        })
    });
    g.bench_function("staticnet_kernel_lstm_step", |b| {
        let mut s = LstmState::<f32, 32>::zeros();
        let mut t = 0;
        b.iter(|| {
            lstm_step(&net.lstm1, black_box(&cols[t]), &mut s);
            t += 1;
            if t == STEPS {
                t = 0;
                s = LstmState::zeros();
            }
            s.h[0]
        })
    });
    g.bench_function("nalgebra_hand", |b| {
        let (mut h, mut cs) = (SVector::zeros(), SVector::zeros());
        let mut t = 0;
        b.iter(|| {
            let y = hand.step(&mut h, &mut cs, black_box(&cols[t]));
            t += 1;
            if t == STEPS {
                t = 0;
                h = SVector::zeros();
                cs = SVector::zeros();
            }
            y
        })
    });
    g.finish();

    let mut g = c.benchmark_group("lstm_sequence");
    g.bench_function("staticnet_forward", |b| {
        b.iter(|| net.forward(black_box(&xs)))
    });
    g.bench_function("nalgebra_hand", |b| b.iter(|| hand.forward(black_box(&xs))));
    g.finish();
}

fn gru(c: &mut Criterion<ThreadCpuTime>) {
    let mut rng = Rng::new(8);
    let mut net = GruNet::<f32>::init(12);
    randomise_biases(&mut net, &mut rng);
    let hand = HandGru::from(&net);
    let xs = random_sequence(&mut rng);
    let cols: Vec<SVector<f32, 8>> = (0..STEPS).map(|t| column(&xs, t)).collect();

    let mut state = GruNetState::zeros();
    let mut h = SVector::zeros();
    for (t, x) in cols.iter().enumerate() {
        let y = net.step(&mut state, x)[0];
        assert_close(&format!("GRU step {t}"), y, hand.step(&mut h, x));
    }
    assert_close("GRU sequence", net.forward(&xs)[0], {
        let mut h = SVector::zeros();
        let mut y = 0.0;
        for x in &cols {
            y = hand.step(&mut h, x);
        }
        y
    });

    let mut g = c.benchmark_group("gru_step");
    g.bench_function("staticnet_step", |b| {
        let mut s = GruNetState::zeros();
        let mut t = 0;
        b.iter(|| {
            let y = net.step(&mut s, black_box(&cols[t]));
            t += 1;
            if t == STEPS {
                t = 0;
                s.reset();
            }
            y
        })
    });
    g.bench_function("nalgebra_hand", |b| {
        let mut h = SVector::zeros();
        let mut t = 0;
        b.iter(|| {
            let y = hand.step(&mut h, black_box(&cols[t]));
            t += 1;
            if t == STEPS {
                t = 0;
                h = SVector::zeros();
            }
            y
        })
    });
    g.finish();
}

fn config() -> Criterion<ThreadCpuTime> {
    // Short runs: the machine is shared; medians of 60 samples are stable
    // to a few percent for these sub-microsecond calls.
    Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(60)
}

criterion_group! {
    name = benches;
    config = config();
    targets = lstm, gru
}
criterion_main!(benches);
