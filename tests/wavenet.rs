//! NAM-style WaveNets (NeuralAmpModeler's "standard" and "nano"
//! configurations) and a small causal Conv1d stack with residual Adds,
//! written in the DSL: their forward against PyTorch, and streaming one
//! sample per `step` against the whole-sequence forward, bit for bit.
//!
//! Fixtures `tests/fixtures/wavenet/<case>.safetensors` come from
//! `tools/make_fixtures_wavenet.py` (seeded, committed), whose PyTorch
//! WaveNet has NAM's structure (nam/models/wavenet/_layer_array.py): per
//! layer array a 1×1 rechannel; per layer a dilated conv, a 1×1 input mixin
//! from the condition (the model's input), tanh of their sum, a 1×1 back to
//! the channels and the residual sum; the head sums every layer's
//! post-activation (starting from the previous array's head) into a 1×1
//! head rechannel. NAM's `head_scale = 0.02` is folded into the last head's
//! weight and bias by the script. The last array's last 1×1 feeds nothing
//! in NAM (its residual output is discarded), so the DSL leaves it out: an
//! unused line would be a compile error.
//!
//! NAM's gated layers (`gated = true`, not used by its standard and nano
//! configurations) need nothing new either: `NamGated` splits each 2C-filter
//! conv and mixin into halves and multiplies `tanh` by `sigmoid`; its
//! fixture maps PyTorch's 2C tensors onto the halves.
//!
//! Tolerances: f64 within 1e-12, f32 within 1e-5 (scaled:
//! `|ours − PyTorch| / max(1, |PyTorch|)`). Streaming compares with `==`.

mod common;

use common::{compare, normalize_dsl, struct_body, Fixture};
use staticnet::{model, Float, Model, Param, ParamMut, Tensor, Train};

// `NamNano` and `NamStandard`, shared with the example and the benchmark.
include!("../examples/wavenet/models.rs");

/// The files holding the models, to check that each model's DSL is its
/// fixture's.
const SOURCES: [&str; 2] = [
    include_str!("wavenet.rs"),
    include_str!("../examples/wavenet/models.rs"),
];

/// The steps of the WaveNet fixtures: at least twice the receptive field
/// (4093 steps for both configurations).
const STEPS: usize = 8192;

model! {
    /// A causal dilated Conv1d stack (stride 1; dilations 1, 2, 4, 3) with
    /// residual Adds, a three-way skip sum, a pointwise mix and a square.
    pub struct ResStack {
        input: [40, 2],
        c0: Conv1d(4, kernel = 2, padding = causal, activation = tanh),
        c1: Conv1d(4, kernel = 3, dilation = 2, padding = causal, activation = tanh),
        r1: Add(c0, c1),
        c2: Conv1d(4, kernel = 2, dilation = 4, padding = causal, activation = relu),
        r2: Add(r1, c2, activation = tanh),
        c3: Conv1d(4, kernel = 3, dilation = 3, padding = causal, bias = false),
        skip: Add(c0, r2, c3),
        mix: Conv1d(3, kernel = 1, activation = sigmoid)(skip),
        out: Multiply(mix, mix),
    }
}

model! {
    /// A gated NAM layer array (NAM's `gated = true`): each 2C-filter conv
    /// and input mixin split into the C filters of the tanh half and the C
    /// of the sigmoid half, multiplied — `tanh(a) · σ(b)` with no new layer.
    pub struct NamGated {
        input: [64, 1],
        g_in: Conv1d(3, kernel = 1, bias = false),
        g_ct0: Conv1d(3, kernel = 3, dilation = 1, padding = causal)(g_in),
        g_cs0: Conv1d(3, kernel = 3, dilation = 1, padding = causal)(g_in),
        g_mt0: Conv1d(3, kernel = 1, bias = false)(input),
        g_ms0: Conv1d(3, kernel = 1, bias = false)(input),
        g_zt0: Add(g_ct0, g_mt0, activation = tanh),
        g_zs0: Add(g_cs0, g_ms0, activation = sigmoid),
        g_z0: Multiply(g_zt0, g_zs0),
        g_p0: Conv1d(3, kernel = 1),
        g_r0: Add(g_in, g_p0),
        g_ct1: Conv1d(3, kernel = 3, dilation = 2, padding = causal)(g_r0),
        g_cs1: Conv1d(3, kernel = 3, dilation = 2, padding = causal)(g_r0),
        g_mt1: Conv1d(3, kernel = 1, bias = false)(input),
        g_ms1: Conv1d(3, kernel = 1, bias = false)(input),
        g_zt1: Add(g_ct1, g_mt1, activation = tanh),
        g_zs1: Add(g_cs1, g_ms1, activation = sigmoid),
        g_z1: Multiply(g_zt1, g_zs1),
        g_p1: Conv1d(3, kernel = 1),
        g_r1: Add(g_r0, g_p1),
        g_ct2: Conv1d(3, kernel = 3, dilation = 4, padding = causal)(g_r1),
        g_cs2: Conv1d(3, kernel = 3, dilation = 4, padding = causal)(g_r1),
        g_mt2: Conv1d(3, kernel = 1, bias = false)(input),
        g_ms2: Conv1d(3, kernel = 1, bias = false)(input),
        g_zt2: Add(g_ct2, g_mt2, activation = tanh),
        g_zs2: Add(g_cs2, g_ms2, activation = sigmoid),
        g_z2: Multiply(g_zt2, g_zs2),
        g_sum: Add(g_z0, g_z1, g_z2),
        g_head: Conv1d(1, kernel = 1),
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

/// The fixture of `case`, after checking that its DSL is the body of the
/// model written in this file.
fn fixture(case: &str) -> Fixture {
    let fx = Fixture::load(&format!("wavenet/{case}"));
    let ty = fx.meta("type");
    let body = SOURCES
        .iter()
        .find_map(|s| struct_body(s, ty))
        .unwrap_or_else(|| panic!("{case}: no `pub struct {ty}`"));
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
    fx
}

/// `M` with the fixture's weights, on the heap, and the fixture's input.
fn loaded<T: Float, M: Model<T>>(fx: &Fixture) -> (Box<M>, M::Input) {
    let mut m = Box::new(M::zeros());
    load(fx, &mut *m).unwrap_or_else(|e| panic!("{}: {e}", fx.case));
    let x: Vec<T> = fx
        .get("input")
        .values
        .iter()
        .map(|&v| T::of_f64(v))
        .collect();
    (m, M::Input::from_flat(&x).expect("input shape"))
}

/// Runs `f` on a thread with a stack large enough for whole-sequence
/// forwards of 8192 steps (each node's output is a local of up to 1 MiB
/// in f64; tests otherwise run on 2 MiB stacks).
fn big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(f)
        .expect("spawn")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

/// The forward of `M` on the fixture's input against PyTorch's output.
fn forward_matches<T: Float, M: Model<T>>(
    fx: &Fixture,
    key: &str,
    tol: f64,
) -> Result<f64, String> {
    let (m, x) = loaded::<T, M>(fx);
    let y = m.forward(&x);
    compare(key, &to64(y.as_flat()), fx.get(key), tol)
}

/// Everything against the fixture in float `T` (forward, the training
/// forward, the loss, dL/dinput and every parameter gradient, by
/// `backward` and by `backward_params`): `prefix` is `""` for f64 and
/// `"f32."` for f32. Returns the errors found.
fn gradients_match<T: Float, M: Train<T>>(fx: &Fixture, prefix: &str, tol: f64) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |r: Result<f64, String>| {
        if let Err(e) = r {
            out.push(format!("{prefix}{e}"));
        }
    };
    let (m, x) = loaded::<T, M>(fx);
    let of = |name: &str| -> Vec<T> { fx.get(name).values.iter().map(|&v| T::of_f64(v)).collect() };
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

#[test]
fn residual_stack_matches_pytorch_with_gradients() {
    let fx = fixture("resstack");
    let mut errors = gradients_match::<f64, ResStack<f64>>(&fx, "", 1e-12);
    errors.extend(gradients_match::<f32, ResStack<f32>>(&fx, "f32.", 1e-5));
    assert!(errors.is_empty(), "resstack:\n{}", errors.join("\n"));
}

#[test]
fn nam_nano_forward_matches_pytorch() {
    big_stack(|| {
        let fx = fixture("nano");
        let e64 = forward_matches::<f64, NamNano<f64>>(&fx, "output", 1e-12);
        let e32 = forward_matches::<f32, NamNano<f32>>(&fx, "f32.output", 1e-5);
        eprintln!("nano: largest scaled error f64 {e64:?}, f32 {e32:?}");
        assert!(e64.is_ok() && e32.is_ok(), "nano: {e64:?} {e32:?}");
    });
}

#[test]
fn nam_standard_forward_matches_pytorch() {
    big_stack(|| {
        let fx = fixture("standard");
        let e64 = forward_matches::<f64, NamStandard<f64>>(&fx, "output", 1e-12);
        let e32 = forward_matches::<f32, NamStandard<f32>>(&fx, "f32.output", 1e-5);
        eprintln!("standard: largest scaled error f64 {e64:?}, f32 {e32:?}");
        assert!(e64.is_ok() && e32.is_ok(), "standard: {e64:?} {e32:?}");
    });
}

/// NAM's parameter counts, by hand from the configurations, less the last
/// array's unused last 1×1 (`c·c + c`).
#[test]
fn parameter_counts_are_nams() {
    // One layer of `c` channels: conv `c·c·3 + c`, mixin `c`, 1×1 `c·c + c`.
    let layer = |c: usize| c * c * 3 + c + c + c * c + c;
    // An array from `i` inputs: rechannel `i·c`, its layers, head `c·h (+ h)`.
    let array = |i: usize, c: usize, n: usize, h: usize, bias: bool| {
        i * c + n * layer(c) + c * h + if bias { h } else { 0 }
    };
    let standard = array(1, 16, 10, 8, false) + array(16, 8, 10, 1, true);
    let nano = array(1, 4, 7, 2, false) + array(4, 2, 13, 1, true);
    assert_eq!((standard, nano), (13_801, 841));
    assert_eq!(
        <NamStandard<f32> as Model<f32>>::PARAMS,
        standard - (8 * 8 + 8)
    );
    assert_eq!(<NamNano<f32> as Model<f32>>::PARAMS, nano - (2 * 2 + 2));
}

/// Streams `x` one step at a time through `step` and asserts that every
/// step's output is `==` the matching step of `full` (the whole-sequence
/// forward), then that `reset` restores the zero state.
macro_rules! assert_streams_exactly {
    ($m:expr, $state:ty, $x:expr, $full:expr, $steps:expr, $what:expr) => {{
        let mut state = Box::new(<$state>::zeros());
        for t in 0..$steps {
            let y = $m.step(&mut state, &$x.column(t).into_owned());
            assert!(
                y == $full.column(t).into_owned(),
                "{}: step {t}: stream {:?}, forward {:?}",
                $what,
                y.as_slice(),
                $full.column(t).as_slice()
            );
        }
        state.reset();
        assert!(*state == <$state>::zeros(), "{}: reset", $what);
    }};
}

#[test]
fn streaming_the_residual_stack_equals_forward_exactly() {
    let fx = fixture("resstack");
    fn run<T: Float>(fx: &Fixture) {
        let (m, x) = loaded::<T, ResStack<T>>(fx);
        let full = m.forward(&x);
        assert_streams_exactly!(m, ResStackState<T>, x, full, 40, "resstack");
    }
    run::<f64>(&fx);
    run::<f32>(&fx);
}

#[test]
fn streaming_nam_nano_equals_forward_exactly() {
    big_stack(|| {
        let fx = fixture("nano");
        fn run<T: Float>(fx: &Fixture) {
            let (m, x) = loaded::<T, NamNano<T>>(fx);
            let full = Box::new(m.forward(&x));
            assert_streams_exactly!(m, NamNanoState<T>, x, full, STEPS, "nano");
        }
        run::<f64>(&fx);
        run::<f32>(&fx);
    });
}

#[test]
fn streaming_nam_standard_equals_forward_exactly() {
    big_stack(|| {
        let fx = fixture("standard");
        fn run<T: Float>(fx: &Fixture) {
            let (m, x) = loaded::<T, NamStandard<T>>(fx);
            let full = Box::new(m.forward(&x));
            assert_streams_exactly!(m, NamStandardState<T>, x, full, STEPS, "standard");
        }
        run::<f64>(&fx);
        run::<f32>(&fx);
    });
}

#[test]
fn gated_nam_layers_match_pytorch_with_gradients() {
    let fx = fixture("gated");
    let mut errors = gradients_match::<f64, NamGated<f64>>(&fx, "", 1e-12);
    errors.extend(gradients_match::<f32, NamGated<f32>>(&fx, "f32.", 1e-5));
    assert!(errors.is_empty(), "gated:\n{}", errors.join("\n"));
}

#[test]
fn streaming_gated_nam_layers_equals_forward_exactly() {
    let fx = fixture("gated");
    fn run<T: Float>(fx: &Fixture) {
        let (m, x) = loaded::<T, NamGated<T>>(fx);
        let full = m.forward(&x);
        assert_streams_exactly!(m, NamGatedState<T>, x, full, 64, "gated");
    }
    run::<f64>(&fx);
    run::<f32>(&fx);
}
