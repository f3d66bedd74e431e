//! `Conv1d`, `MaxPool1d` and `AvgPool1d` against PyTorch, and streaming of
//! causal dilated `Conv1d` stacks.
//!
//! Each fixture `tests/fixtures/conv1d_<case>.safetensors` was made by
//! `tools/make_fixtures_conv1d.py` (seeded, committed) from the `model!`
//! body below with the same name: its weights, input, a random `r`, and
//! PyTorch's output, `loss = Σ output ⊙ r` and autograd's gradients, in
//! float64 and (under `f32.`) computed by PyTorch in float32 from the same
//! values rounded to float32. The runner loads the weights, runs the
//! training forward, `backward` (with dL/dinput) and `backward_params`
//! (without), and compares everything: f64 within 1e-12, f32 within 1e-5
//! (scaled: `|ours − PyTorch| / max(1, |PyTorch|)`).

mod common;

use common::{compare, normalize_dsl, struct_body, Fixture};
use staticnet::{model, Float, Model, Param, ParamMut, Rng, Tensor, Train};

/// This file, to check that each model's DSL is its fixture's.
const SOURCE: &str = include_str!("conv1d.rs");

model! {
    pub struct C1Valid {
        input: [10, 3],
        c: Conv1d(4, kernel = 3, activation = tanh),
    }
}

model! {
    pub struct C1SameS2 {
        input: [11, 3],
        c: Conv1d(5, kernel = 4, stride = 2, padding = same, activation = relu),
    }
}

model! {
    /// A small WaveNet-like stack: dilations 1, 2, 4, causal.
    pub struct C1Causal {
        input: [16, 2],
        c1: Conv1d(4, kernel = 2, padding = causal, activation = tanh),
        c2: Conv1d(4, kernel = 2, dilation = 2, padding = causal, activation = tanh),
        c4: Conv1d(4, kernel = 3, dilation = 4, padding = causal, activation = sigmoid),
        head: Dense(1),
    }
}

model! {
    pub struct C1Groups {
        input: [8, 4],
        c: Conv1d(6, kernel = 3, groups = 2, padding = 1, activation = softmax),
    }
}

model! {
    pub struct C1NoBias {
        input: [9, 3],
        c: Conv1d(2, kernel = 3, dilation = 2, bias = false),
    }
}

model! {
    pub struct C1Pools {
        input: [13, 3],
        c: Conv1d(4, kernel = 3, activation = relu),
        mp: MaxPool1d(2),
        ap: AvgPool1d(2, stride = 1),
    }
}

model! {
    pub struct C1PoolsOverlap {
        input: [12, 2],
        mp: MaxPool1d(3, stride = 2),
        ap: AvgPool1d(2),
    }
}

/// Tensors of a fixture that are not parameters.
fn is_param(name: &str) -> bool {
    !matches!(name, "input" | "output" | "r" | "loss")
        && !name.starts_with("grad.")
        && !name.starts_with("f32.")
}

/// Loads every parameter by PyTorch name; `Err` on any mismatch or a
/// fixture parameter the model does not have.
fn load<T: Float, M: Model<T>>(fx: &Fixture, m: &mut M) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut seen = Vec::new();
    m.visit_params_mut(&mut |mut p: ParamMut<'_, T>| {
        seen.push(p.name.to_owned());
        match fx.tensors.get(p.name) {
            Some(t) if t.shape == p.shape => {
                let v: Vec<T> = t.values.iter().map(|&v| T::of_f64(v)).collect();
                if let Err(e) = p.copy_from(&v) {
                    errors.push(format!("{}: {e}", p.name));
                }
            }
            Some(t) => errors.push(format!(
                "{}: ours {:?}, PyTorch {:?}",
                p.name, p.shape, t.shape
            )),
            None => errors.push(format!("model has {}, fixture not", p.name)),
        }
    });
    for k in fx.tensors.keys().filter(|k| is_param(k)) {
        if !seen.contains(k) {
            errors.push(format!("fixture has {k}, model not"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn to64<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// Everything against the fixture in float `T`: `prefix` is `""` for f64
/// and `"f32."` for f32. Returns the errors found.
fn check<T: Float, M: Train<T>>(fx: &Fixture, prefix: &str, tol: f64) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |r: Result<f64, String>| {
        if let Err(e) = r {
            out.push(format!("{prefix}{e}"));
        }
    };
    let mut m = Box::new(M::zeros());
    if let Err(e) = load(fx, &mut *m) {
        return vec![e];
    }
    let of = |name: &str| -> Vec<T> { fx.get(name).values.iter().map(|&v| T::of_f64(v)).collect() };
    let x = M::Input::from_flat(&of("input")).expect("input shape");
    let r = M::Output::from_flat(&of("r")).expect("r shape");
    let key = |k: &str| format!("{prefix}{k}");
    push(compare(
        "forward",
        &to64(m.forward(&x).as_flat()),
        fx.get(&key("output")),
        tol,
    ));
    let mut tape = Box::new(M::new_tape());
    let y = m.forward_train(&x, &mut tape);
    push(compare(
        "forward_train",
        &to64(y.as_flat()),
        fx.get(&key("output")),
        tol,
    ));
    let loss: f64 = to64(y.as_flat())
        .iter()
        .zip(to64(r.as_flat()))
        .map(|(a, b)| a * b)
        .sum();
    push(compare("loss", &[loss], fx.get(&key("loss")), tol));
    let mut g = Box::new(M::zeros());
    let dx = m.backward(&tape, &r, &mut g);
    push(compare(
        "grad.input",
        &to64(dx.as_flat()),
        fx.get(&key("grad.input")),
        tol,
    ));
    let mut gp = Box::new(M::zeros());
    m.backward_params(&tape, &r, false, &mut gp);
    for (what, grads) in [("backward", &g), ("backward_params", &gp)] {
        let mut n = 0;
        grads.visit_params(&mut |p: Param<'_, T>| {
            n += 1;
            let name = format!("grad.{}", p.name);
            let got: Vec<f64> = p.iter().map(|v| v.to_f64()).collect();
            push(compare(
                &format!("{what} {name}"),
                &got,
                fx.get(&key(&name)),
                tol,
            ));
        });
        let want = fx.tensors.keys().filter(|k| is_param(k)).count();
        if n != want {
            push(Err(format!("{what}: {n} gradients, fixture {want}")));
        }
    }
    out
}

fn case<M64: Train<f64>, M32: Train<f32>>(case: &str) {
    let fx = Fixture::load(&format!("conv1d_{case}"));
    let ty = fx.meta("type");
    let body = struct_body(SOURCE, ty).unwrap_or_else(|| panic!("{case}: no `pub struct {ty}`"));
    // The doc comment of a model is not part of its DSL.
    let body: String = body
        .lines()
        .filter(|l| !l.trim_start().starts_with("///"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        normalize_dsl(&body),
        normalize_dsl(fx.meta("dsl")),
        "{case}: DSL differs from the fixture's"
    );
    let mut errors = check::<f64, M64>(&fx, "", 1e-12);
    errors.extend(check::<f32, M32>(&fx, "f32.", 1e-5));
    assert!(errors.is_empty(), "{case}:\n{}", errors.join("\n"));
}

#[test]
fn valid_k3_matches_pytorch() {
    case::<C1Valid<f64>, C1Valid<f32>>("valid_k3");
}

#[test]
fn same_stride_2_matches_pytorch() {
    case::<C1SameS2<f64>, C1SameS2<f32>>("same_s2");
}

#[test]
fn causal_dilated_stack_matches_pytorch() {
    case::<C1Causal<f64>, C1Causal<f32>>("causal_stack");
}

#[test]
fn groups_2_matches_pytorch() {
    case::<C1Groups<f64>, C1Groups<f32>>("groups2");
}

#[test]
fn no_bias_matches_pytorch() {
    case::<C1NoBias<f64>, C1NoBias<f32>>("nobias");
}

#[test]
fn pools_match_pytorch() {
    // After a relu, many maxima tie at 0: the gradient goes to the first,
    // as PyTorch's.
    case::<C1Pools<f64>, C1Pools<f32>>("pools");
    case::<C1PoolsOverlap<f64>, C1PoolsOverlap<f32>>("pools_overlap");
}

// Shapes, parameter counts and initialisation.

/// The last layer's output shape.
fn out_shape<M: Model<T>, T: Float>() -> &'static [usize] {
    M::LAYERS.last().map_or(&[], |l| l.output)
}

#[test]
fn shapes_counts_and_tensors() {
    // same, stride 2: ceil(11 / 2) = 6 steps.
    assert_eq!(out_shape::<C1SameS2<f32>, f32>(), &[6, 5]);
    // causal keeps the length.
    assert_eq!(out_shape::<C1Causal<f32>, f32>(), &[16, 1]);
    // groups 2: weight [6, 2, 3] + bias 6.
    assert_eq!(<C1Groups<f32> as Model<f32>>::PARAMS, 6 * 2 * 3 + 6);
    // no bias: weight [2, 3, 3] only.
    assert_eq!(<C1NoBias<f32> as Model<f32>>::PARAMS, 2 * 3 * 3);
    let mut names = Vec::new();
    C1NoBias::<f32>::zeros().visit_params(&mut |p: Param<'_, f32>| names.push((p.name, p.shape)));
    assert_eq!(names, [("c.weight", &[2usize, 3, 3][..])]);
    let s = C1Pools::<f32>::summary().to_string();
    for want in ["MaxPool1d", "AvgPool1d", "Conv1d", "[5, 4]", "[4, 4]"] {
        assert!(s.contains(want), "summary lacks {want}:\n{s}");
    }
}

/// Keras' glorot_uniform with fan-in `(f/groups)·k` and fan-out
/// `filters·k`, zero bias.
#[test]
fn init_is_glorot_with_conv1d_fans() {
    let m = C1Groups::<f64>::init(3);
    let limit = (6.0f64 / (2.0 * 3.0 + 6.0 * 3.0)).sqrt();
    let (mut max, mut n) = (0.0f64, 0);
    m.visit_params(&mut |p: Param<'_, f64>| {
        if p.name == "c.weight" {
            for v in p.iter() {
                max = max.max(v.abs());
                n += 1;
            }
        } else {
            assert!(p.iter().all(|v| v == 0.0), "{} not zero", p.name);
        }
    });
    assert_eq!(n, 36);
    assert!(
        max <= limit && max > 0.8 * limit,
        "max |w| {max}, limit {limit}"
    );
}

// Streaming.

model! {
    /// Causal dilated stack returning every step.
    pub struct WaveStack {
        input: [20, 2],
        c1: Conv1d(6, kernel = 2, padding = causal, activation = tanh),
        c2: Conv1d(6, kernel = 2, dilation = 2, padding = causal, activation = relu),
        c4: Conv1d(5, kernel = 3, dilation = 4, padding = causal, groups = 1),
        c8: Conv1d(4, kernel = 2, dilation = 8, padding = causal, bias = false, activation = softmax),
        per_step: Dense(3, activation = tanh),
    }
}

model! {
    /// Causal dilated convolutions into an LSTM and a head (last step).
    pub struct WaveLstm {
        input: [15, 3],
        c1: Conv1d(4, kernel = 3, padding = causal, activation = tanh),
        c2: Conv1d(4, kernel = 3, dilation = 2, padding = causal, activation = sigmoid),
        l: Lstm(5),
        head: Dense(2),
    }
}

fn random_input<T: Float, M: Model<T>>(seed: u64) -> M::Input {
    let mut rng = Rng::new(seed);
    let mut x = M::Input::zeros();
    for v in x.as_flat_mut() {
        *v = T::of_f64(2.0 * rng.uniform() - 1.0);
    }
    x
}

/// Every step of `step` equals the column of `forward`, exactly (`==`).
fn every_step<T: Float>() {
    let m = WaveStack::<T>::init(11);
    for seed in 0..3 {
        let x = random_input::<T, WaveStack<T>>(seed);
        let full = m.forward(&x);
        let mut state = WaveStackState::<T>::zeros();
        for t in 0..20 {
            let y = m.step(&mut state, &x.column(t).into_owned());
            assert!(
                y == full.column(t).into_owned(),
                "seed {seed} step {t}: {y:?} vs {:?}",
                full.column(t)
            );
        }
        state.reset();
        assert_eq!(state, WaveStackState::zeros());
    }
}

#[test]
fn streaming_a_causal_dilated_stack_equals_forward_exactly() {
    every_step::<f64>();
    every_step::<f32>();
}

fn last_step<T: Float>() {
    let mut m = WaveLstm::<T>::init(5);
    // Non-zero biases, so the causal padding (skipped) and zeros differ.
    m.visit_params_mut(&mut |mut p: ParamMut<'_, T>| {
        if p.name.ends_with(".bias") {
            let v: Vec<T> = (0..p.shape[0])
                .map(|i| T::of_f64(0.1 * i as f64 - 0.2))
                .collect();
            p.copy_from(&v).expect("bias");
        }
    });
    for seed in 0..3 {
        let x = random_input::<T, WaveLstm<T>>(seed);
        let mut state = WaveLstmState::<T>::zeros();
        let mut y = staticnet::Vector::<T, 2>::zeros();
        for t in 0..15 {
            y = m.step(&mut state, &x.column(t).into_owned());
        }
        assert!(y == m.forward(&x), "seed {seed}");
    }
}

#[test]
fn streaming_convolutions_into_an_lstm_equals_forward_exactly() {
    last_step::<f64>();
    last_step::<f32>();
}

// Only stride-1 causal Conv1d streams: these models have no `step`
// (checked by `tests/ui/conv1d-not-streamable.rs`), and compile.
model! {
    pub struct NotStreamed {
        input: [8, 2],
        c: Conv1d(3, kernel = 2, padding = same),
        p: MaxPool1d(2),
    }
}

#[test]
fn non_streamable_models_still_run() {
    let m = NotStreamed::<f64>::init(1);
    let y = m.forward(&random_input::<f64, NotStreamed<f64>>(1));
    assert_eq!(out_shape::<NotStreamed<f64>, f64>(), &[4, 3]);
    assert!(y.iter().all(|v| v.is_finite()));
}
