//! The CRNN of `examples/crnn.rs` (Conv2d → BatchNorm → MaxPool2d →
//! Permute → Reshape → Gru → Gru → Dense on a spectrogram) against PyTorch:
//! forward, the training forward, dL/dinput and every parameter gradient,
//! with BatchNorm in eval mode (its running statistics loaded with the
//! weights). Fixture `tests/fixtures/crnn/crnn.safetensors` from
//! `tools/make_fixtures_crnn.py` (seeded, committed). f64 within 1e-12,
//! f32 within 1e-5, scaled: `|ours − PyTorch| / max(1, |PyTorch|)`.

mod common;

use common::{compare, normalize_dsl, struct_body, Fixture};
use staticnet::{model, Float, LoadOptions, Model, Param, Tensor, Train, Weights};

model! {
    /// A spectrogram of 16 frequency bins × 20 frames → 3 classes.
    pub struct Crnn {
        input: [1, 16, 20],
        conv1: Conv2d(8, kernel = 3, padding = same),
        bn1:   BatchNorm,
        relu1: Relu,
        pool1: MaxPool2d((2, 1)),
        conv2: Conv2d(8, kernel = 3, padding = same, activation = relu),
        pool2: MaxPool2d((2, 1)),
        perm:  Permute([2, 0, 1]),
        seq:   Reshape([20, 32]),
        gru1:  Gru(16, return_sequences = true),
        gru2:  Gru(16),
        out:   Dense(3, activation = softmax),
    }
}

/// The example's model is this one.
#[test]
fn the_example_has_this_model() {
    let here = struct_body(include_str!("crnn.rs"), "Crnn").expect("Crnn here");
    let there =
        struct_body(include_str!("../examples/crnn.rs"), "Crnn").expect("Crnn in the example");
    let dsl = |b: &str| {
        normalize_dsl(
            &b.lines()
                .filter(|l| !l.trim_start().starts_with("///"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    };
    assert_eq!(dsl(here), dsl(there));
}

fn to64<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// Everything against the fixture in `T` (`prefix` `""` for f64, `"f32."`
/// for f32); the errors found.
fn check<T: Float, M: Train<T> + Weights<T>>(
    fx: &Fixture,
    bytes: &[u8],
    prefix: &str,
    tol: f64,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |r: Result<f64, String>| {
        if let Err(e) = r {
            out.push(format!("{prefix}{e}"));
        }
    };
    // Strict load of the state_dict (BatchNorm's buffers included): only
    // the fixture's own tensors are skipped.
    let skip: Vec<&str> = fx
        .tensors
        .keys()
        .map(String::as_str)
        .filter(|k| {
            ["input", "output", "r", "loss"].contains(k)
                || k.starts_with("grad.")
                || k.starts_with("f32.")
        })
        .collect();
    let m = match M::from_safetensors_with(bytes, LoadOptions::new().ignore(&skip)) {
        Ok(m) => Box::new(m),
        Err(e) => return vec![format!("load: {e}")],
    };
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
    let want = fx
        .tensors
        .keys()
        .filter(|k| k.starts_with("grad.") && *k != "grad.input")
        .count();
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
        if n != want {
            push(Err(format!("{what}: {n} gradients, fixture {want}")));
        }
    }
    out
}

#[test]
fn crnn_matches_pytorch_forward_and_gradients() {
    let fx = Fixture::load("crnn/crnn");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/crnn/crnn.safetensors"
    );
    let bytes = std::fs::read(path).expect("fixture");
    let mut errors = check::<f64, Crnn<f64>>(&fx, &bytes, "", 1e-12);
    errors.extend(check::<f32, Crnn<f32>>(&fx, &bytes, "f32.", 1e-5));
    assert!(errors.is_empty(), "crnn:\n{}", errors.join("\n"));
}

/// The shapes of the bridge, as the summary reports them.
#[test]
fn crnn_shapes() {
    let s = Crnn::<f32>::summary().to_string();
    for want in ["[8, 4, 20]", "[20, 8, 4]", "[20, 32]", "[20, 16]", "[3]"] {
        assert!(s.contains(want), "summary lacks {want}:\n{s}");
    }
}
