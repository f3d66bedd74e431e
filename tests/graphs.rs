//! Residual graphs and the merge layers against PyTorch (fixtures by
//! tools/make_fixtures_graphs.py) and central finite differences.
//!
//! Each model reads something other than the line above it somewhere: a
//! projection shortcut from `input`, a node read by two layers (its
//! gradient is the sum of what both send back), `Add`, `Multiply` and
//! `Concatenate` of images and sequences, a node merged with itself.
//! Checked: the forward in f64 (1e-12) and f32 (1e-5), dL/dinput and every
//! parameter gradient in f64 (1e-12), the parameter-only backward and the
//! batched training paths against the full backward, and streaming.

mod common;

use common::{compare, load_params, Fixture};
use staticnet::{model, Model, Param, Tensor, Train};

model! {
    pub struct ResidualDense {
        input: [6],
        h:    Dense(5, activation = tanh),
        x2:   Dense(5),
        skip: Dense(5)(input),
        s:    Add(h, x2, skip),
        r:    Relu,
        out:  Dense(3),
    }
}

model! {
    pub struct ResnetBlock {
        input: [2, 6, 6],
        c1:  Conv2d(3, kernel = 3, padding = same, activation = relu),
        c2:  Conv2d(3, kernel = 3, padding = same),
        sc:  Conv2d(3, kernel = 1)(input),
        s:   Add(c2, sc, activation = relu),
        p:   MaxPool2d(2),
        f:   Flatten,
        out: Dense(2),
    }
}

model! {
    pub struct GatedSequence {
        input: [4, 3],
        l1:  Lstm(4, return_sequences = true),
        d1:  Dense(4, activation = sigmoid)(input),
        mul: Multiply(l1, d1),
        cat: Concatenate(mul, input),
        g:   Gru(3),
        out: Dense(2, activation = softmax),
    }
}

model! {
    pub struct ConcatImages {
        input: [1, 4, 4],
        a:   Conv2d(2, kernel = 1),
        b:   Conv2d(3, kernel = 1)(input),
        c:   Concatenate(a, b, input),
        s:   Add(c, c, activation = tanh),
        f:   Flatten,
        out: Dense(1, activation = sigmoid),
    }
}

model! {
    pub struct StreamingResidual {
        input: [5, 3],
        l: Lstm(4, return_sequences = true),
        d: Dense(4)(input),
        s: Add(l, d),
        g: Gru(2),
    }
}

const TOL: f64 = 1e-12;

/// The model with the fixture's weights, its input and PyTorch's output.
fn setup<T: staticnet::Float, M: Model<T>>(case: &str) -> (Box<M>, M::Input, Fixture) {
    let fx = Fixture::load(&format!("graphs/graph_{case}"));
    let mut model = Box::new(M::zeros());
    load_params(&fx, &mut *model).unwrap_or_else(|e| panic!("{e}"));
    let values: Vec<T> = fx
        .get("input")
        .values
        .iter()
        .map(|&v| T::of_f64(v))
        .collect();
    let x = M::Input::from_flat(&values).unwrap_or_else(|e| panic!("{case}: {e}"));
    (model, x, fx)
}

fn forward_matches<M32: Model<f32>, M64: Model<f64>>(case: &str) {
    let (model, x, fx) = setup::<f64, M64>(case);
    let y = model.forward(&x);
    compare("output (f64)", y.as_flat(), fx.get("output"), TOL)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let (model, x, fx) = setup::<f32, M32>(case);
    let y: Vec<f64> = model
        .forward(&x)
        .as_flat()
        .iter()
        .map(|&v| v as f64)
        .collect();
    compare("output (f32)", &y, fx.get("output"), 1e-5).unwrap_or_else(|e| panic!("{case}: {e}"));
}

/// Every parameter gradient of `grads` against the fixture's `grad.*`.
fn params_match(case: &str, grads: &impl Model<f64>, want: &Fixture, tol: f64) {
    let mut n = 0;
    grads.visit_params(&mut |p: Param<'_, f64>| {
        let name = format!("grad.{}", p.name);
        let values: Vec<f64> = p.iter().collect();
        compare(&name, &values, want.get(&name), tol).unwrap_or_else(|e| panic!("{case}: {e}"));
        n += 1;
    });
    let expected = want
        .tensors
        .keys()
        .filter(|k| k.starts_with("grad.") && *k != "grad.input");
    assert_eq!(n, expected.count(), "{case}: parameter count");
}

fn gradients_match<M: Train<f64>>(case: &str) {
    let (model, x, _) = setup::<f64, M>(case);
    let want = Fixture::load(&format!("graphs/grad_graph_{case}"));
    let r = M::Output::from_flat(&want.get("r").values).unwrap_or_else(|e| panic!("{e}"));
    let mut tape = Box::new(M::new_tape());
    let y = model.forward_train(&x, &mut tape);
    let loss: f64 = y
        .as_flat()
        .iter()
        .zip(r.as_flat())
        .map(|(a, b)| a * b)
        .sum();
    compare("loss", &[loss], want.get("loss"), TOL).unwrap_or_else(|e| panic!("{case}: {e}"));
    let mut grads = Box::new(M::zeros());
    let dx = model.backward(&tape, &r, &mut grads);
    compare("grad.input", dx.as_flat(), want.get("grad.input"), TOL)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    params_match(case, &*grads, &want, TOL);

    // What a training step runs: no input gradient, the same parameter
    // gradients (the `*_params` kernels sum in another order: equal to
    // rounding); and the batched paths over three copies of the sample.
    let mut only = Box::new(M::zeros());
    model.backward_params(&tape, &r, false, &mut only);
    params_match(&format!("{case} (backward_params)"), &*only, &want, TOL);
    let mut tapes = Box::new([M::new_tape(), M::new_tape(), M::new_tape()]);
    let ys = model.forward_train_batch([&x, &x, &x], &mut tapes);
    for v in &ys {
        for (a, b) in v.as_flat().iter().zip(y.as_flat()) {
            assert!(
                (a - b).abs() <= TOL * b.abs().max(1.0),
                "{case}: batched forward {a} vs {b}"
            );
        }
    }
    let mut batch = Box::new(M::zeros());
    model.backward_params_batch(&tapes, &[r, r, r], false, &mut batch);
    let mut thrice = Vec::new();
    grads.visit_params(&mut |p: Param<'_, f64>| thrice.extend(p.iter().map(|v| 3.0 * v)));
    let mut got = Vec::new();
    batch.visit_params(&mut |p: Param<'_, f64>| got.extend(p.iter()));
    assert_eq!(got.len(), thrice.len());
    for (k, (a, b)) in got.iter().zip(&thrice).enumerate() {
        assert!(
            (a - b).abs() <= TOL * b.abs().max(1.0),
            "{case}: batch [{k}] {a} vs {b}"
        );
    }
}

#[test]
fn residual_dense() {
    forward_matches::<ResidualDense<f32>, ResidualDense<f64>>("residual_dense");
    gradients_match::<ResidualDense<f64>>("residual_dense");
}

#[test]
fn resnet_block() {
    forward_matches::<ResnetBlock<f32>, ResnetBlock<f64>>("resnet_block");
    gradients_match::<ResnetBlock<f64>>("resnet_block");
}

#[test]
fn gated_sequence() {
    forward_matches::<GatedSequence<f32>, GatedSequence<f64>>("gated_sequence");
    gradients_match::<GatedSequence<f64>>("gated_sequence");
}

#[test]
fn concat_images() {
    forward_matches::<ConcatImages<f32>, ConcatImages<f64>>("concat_images");
    gradients_match::<ConcatImages<f64>>("concat_images");
}

#[test]
fn streaming_residual() {
    forward_matches::<StreamingResidual<f32>, StreamingResidual<f64>>("streaming_residual");
    gradients_match::<StreamingResidual<f64>>("streaming_residual");
    // Step by step, the graph gives exactly what the whole-sequence
    // forward gives.
    let (model, x, _) = setup::<f64, StreamingResidual<f64>>("streaming_residual");
    let mut state = StreamingResidualState::zeros();
    let mut last = staticnet::Vector::<f64, 2>::zeros();
    for t in 0..5 {
        last = model.step(&mut state, &x.column(t).into_owned());
    }
    assert_eq!(last, model.forward(&x));
}

/// L = Σ r ⊙ forward(x): dL/dx and dL/dθ by central differences in f64,
/// against the generated backward (independent of PyTorch).
fn finite_differences<M: Train<f64> + Clone>(case: &str) {
    let (model, x, _) = setup::<f64, M>(case);
    let want = Fixture::load(&format!("graphs/grad_graph_{case}"));
    let r = M::Output::from_flat(&want.get("r").values).unwrap_or_else(|e| panic!("{e}"));
    let loss = |m: &M, x: &M::Input| -> f64 {
        m.forward(x)
            .as_flat()
            .iter()
            .zip(r.as_flat())
            .map(|(a, b)| a * b)
            .sum()
    };
    let mut tape = Box::new(M::new_tape());
    model.forward_train(&x, &mut tape);
    let mut grads = Box::new(M::zeros());
    let dx = model.backward(&tape, &r, &mut grads);
    let h = 1e-6;
    let check = |what: &str, k: usize, analytic: f64, numeric: f64| {
        let err = (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(1e-3);
        assert!(
            err < 1e-6,
            "{case} {what}[{k}]: backward {analytic:e}, differences {numeric:e}"
        );
    };
    for k in 0..x.as_flat().len() {
        let (mut up, mut down) = (x, x);
        up.as_flat_mut()[k] += h;
        down.as_flat_mut()[k] -= h;
        check(
            "x",
            k,
            dx.as_flat()[k],
            (loss(&model, &up) - loss(&model, &down)) / (2.0 * h),
        );
    }
    for t in 0..M::TENSORS {
        for k in 0..model.tensor(t).len() {
            let (mut up, mut down) = (model.clone(), model.clone());
            up.tensor_mut(t)[k] += h;
            down.tensor_mut(t)[k] -= h;
            let numeric = (loss(&up, &x) - loss(&down, &x)) / (2.0 * h);
            check(&format!("tensor {t}"), k, grads.tensor(t)[k], numeric);
        }
    }
}

#[test]
fn finite_differences_through_merges() {
    finite_differences::<ResidualDense<f64>>("residual_dense");
    finite_differences::<ConcatImages<f64>>("concat_images");
    finite_differences::<GatedSequence<f64>>("gated_sequence");
}
