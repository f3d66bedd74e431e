//! The activations relu6, leaky_relu, elu, gelu, silu, hard_sigmoid and
//! hard_swish against PyTorch: as layers (on a vector and on an image),
//! fused into a `Dense` (inside the network and as its last layer) and
//! fused into a `Conv2d`.
//!
//! Each case is a `model!` below and a fixture
//! `tests/fixtures/activations_<case>.safetensors` made by
//! `tools/make_fixtures_activations.py`: the weights, `input`, `output`,
//! a random `r`, `loss = Σ output ⊙ r` and autograd's gradients of it with
//! respect to the input and every parameter. The inputs and weights put
//! values exactly at the kinks (0, −3, 3, 6), where PyTorch's one-sided
//! choices must be matched.
//!
//! [`run`] loads the weights, runs `forward_train` and `backward` with
//! `dy = r`, and compares the output, `dL/dinput` and every parameter
//! gradient: in f64 within 1e-12, in f32 (weights, input and `r` rounded)
//! within 1e-5, each scaled as [`common::scaled_error`]. In f64 it also
//! runs the training paths (`backward_params`, the batched forward and
//! backward over three copies) and a central finite-difference check of
//! `dL/dinput` at the inputs that are not at a kink.

mod common;

use common::{compare, load_params, Fixture, Tensor64};
use staticnet::{model, Float, Param, Tensor, Train};

/// f64 against PyTorch's float64.
const TOL_F64: f64 = 1e-12;
/// f32 against PyTorch's float64 (the issue's bound).
const TOL_F32: f64 = 1e-5;

/// The fixture's parameters alone (what `load_params` must find, no more).
fn params_of(fx: &Fixture) -> Fixture {
    let mut p = fx.clone();
    p.tensors.retain(|k, _| {
        !k.starts_with("grad.") && !["input", "output", "r", "loss"].contains(&k.as_str())
    });
    p
}

fn as_f64<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// Forward and backward of `M` in float `T` on the fixture, compared
/// with PyTorch within `tol`.
fn run<T: Float, M: Train<T>>(fx: &Fixture, tol: f64) -> Vec<Result<f64, String>> {
    let float = std::any::type_name::<T>();
    let cast = |v: &[f64]| -> Vec<T> { v.iter().map(|&x| T::of_f64(x)).collect() };
    let mut model = Box::new(M::zeros());
    let mut results = vec![load_params(&params_of(fx), &mut *model).map(|_| 0.0)];
    let x = M::Input::from_flat(&cast(&fx.get("input").values)).expect("input shape");
    let r = M::Output::from_flat(&cast(&fx.get("r").values)).expect("r shape");
    let mut tape = Box::new(M::new_tape());
    let y = model.forward_train(&x, &mut tape);
    results.push(compare(
        &format!("{float} output"),
        &as_f64(y.as_flat()),
        fx.get("output"),
        tol,
    ));
    let inference = model.forward(&x);
    results.push(compare(
        &format!("{float} inference output"),
        &as_f64(inference.as_flat()),
        fx.get("output"),
        tol,
    ));
    let mut grads = Box::new(M::zeros());
    let dx = model.backward(&tape, &r, &mut grads);
    results.push(compare(
        &format!("{float} grad.input"),
        &as_f64(dx.as_flat()),
        fx.get("grad.input"),
        tol,
    ));
    let mut n = 0;
    grads.visit_params(&mut |p: Param<'_, T>| {
        n += 1;
        let name = format!("grad.{}", p.name);
        let got: Vec<f64> = p.iter().map(|v| v.to_f64()).collect();
        results.push(compare(
            &format!("{float} {name}"),
            &got,
            fx.get(&name),
            tol,
        ));
    });
    let want = fx.tensors.keys().filter(|k| k.starts_with("grad.")).count() - 1;
    if n != want {
        results.push(Err(format!("{n} parameter gradients, fixture {want}")));
    }
    results
}

/// The training paths in f64: `backward_params` and the batched forward
/// and backward over three copies of the sample (three times the
/// gradient).
fn run_training<M: Train<f64>>(fx: &Fixture) -> Vec<Result<f64, String>> {
    let mut model = Box::new(M::zeros());
    let mut results = vec![load_params(&params_of(fx), &mut *model).map(|_| 0.0)];
    let x = M::Input::from_flat(&fx.get("input").values).expect("input shape");
    let r = M::Output::from_flat(&fx.get("r").values).expect("r shape");
    let mut tape = Box::new(M::new_tape());
    model.forward_train(&x, &mut tape);
    let mut params_only = Box::new(M::zeros());
    model.backward_params(&tape, &r, false, &mut params_only);
    let mut tapes: Box<[M::Tape; 3]> = Box::new(std::array::from_fn(|_| M::new_tape()));
    let ys = model.forward_train_batch([&x; 3], &mut tapes);
    for (k, yk) in ys.iter().enumerate() {
        results.push(compare(
            &format!("batch output {k}"),
            yk.as_flat(),
            fx.get("output"),
            TOL_F64,
        ));
    }
    let mut batched = Box::new(M::zeros());
    model.backward_params_batch(&tapes, &[r; 3], false, &mut batched);
    for (what, got, times) in [
        ("backward_params", &params_only, 1.0),
        ("batch", &batched, 3.0),
    ] {
        got.visit_params(&mut |p: Param<'_, f64>| {
            let name = format!("grad.{}", p.name);
            let mut want = fx.get(&name).clone();
            for v in &mut want.values {
                *v *= times;
            }
            let values: Vec<f64> = p.iter().collect();
            results.push(compare(&format!("{what} {name}"), &values, &want, TOL_F64));
        });
    }
    results
}

/// `dL/dinput` against a fourth-order central difference of
/// `L = Σ forward(x) ⊙ r` in f64, at every input at least 1e-3 away from
/// a kink of any of the activations (0, ±3, 6); elsewhere the derivative
/// is one-sided and PyTorch's choice is checked by [`run`].
fn finite_differences<M: Train<f64>>(fx: &Fixture) -> Result<f64, String> {
    let mut model = Box::new(M::zeros());
    load_params(&params_of(fx), &mut *model)?;
    let input = &fx.get("input").values;
    let r = &fx.get("r").values;
    let loss = |v: &[f64]| -> f64 {
        let x = M::Input::from_flat(v).expect("input shape");
        model
            .forward(&x)
            .as_flat()
            .iter()
            .zip(r)
            .map(|(a, b)| a * b)
            .sum()
    };
    let grad = &fx.get("grad.input").values;
    let near_kink = |z: f64| [0.0, -3.0, 3.0, 6.0].iter().any(|k| (z - k).abs() < 1e-3);
    let h = 1e-5;
    let mut worst = 0.0f64;
    let mut checked = 0;
    for i in 0..input.len() {
        if near_kink(input[i]) {
            continue;
        }
        let at = |d: f64| {
            let mut v = input.clone();
            v[i] += d;
            loss(&v)
        };
        let num = (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * h);
        let err = (num - grad[i]).abs() / grad[i].abs().max(1.0);
        if err > 1e-7 {
            return Err(format!(
                "finite difference at input {i}: {num:e}, PyTorch {:e}",
                grad[i]
            ));
        }
        worst = worst.max(err);
        checked += 1;
    }
    if checked == 0 {
        return Err("no input away from the kinks".into());
    }
    Ok(worst)
}

/// Every check of one case; panics listing what differs.
fn check<M64: Train<f64>, M32: Train<f32>>(case: &str, dsl: &str, finite_diff: bool) {
    let fx = Fixture::load(&format!("activations_{case}"));
    let norm = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(
        norm(fx.meta("dsl")),
        norm(dsl),
        "{case}: the fixture was made from another model"
    );
    let mut results = run::<f64, M64>(&fx, TOL_F64);
    results.extend(run::<f32, M32>(&fx, TOL_F32));
    results.extend(run_training::<M64>(&fx));
    // Where a kink may lie inside the network (the fused and image cases),
    // a small step of an input moves a pre-activation across one only if
    // it is within 4e-5 of it: these fixtures have none there.
    if finite_diff {
        results.push(finite_differences::<M64>(&fx));
    }
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(errors.is_empty(), "{case}:\n{}", errors.join("\n"));
}

/// One case: the model (its body also compared with the fixture's DSL)
/// and its test.
macro_rules! case {
    ($test:ident, $case:literal, fd = $fd:literal, { $($body:tt)* }) => {
        mod $test {
            use super::*;
            model! {
                pub struct Net {
                    $($body)*
                }
            }
            #[test]
            fn matches_pytorch() {
                check::<Net<f64>, Net<f32>>($case, stringify!($($body)*), $fd);
            }
        }
    };
}

case!(layer_relu6, "layer_relu6", fd = true, {
    input: [12], a: Relu6, fc: Dense(3),
});
case!(layer_leaky_relu, "layer_leaky_relu", fd = true, {
    input: [12], a: LeakyRelu, fc: Dense(3),
});
case!(layer_leaky_relu_02, "layer_leaky_relu_02", fd = true, {
    input: [12], a: LeakyRelu(alpha = 0.2), fc: Dense(3),
});
case!(layer_elu, "layer_elu", fd = true, {
    input: [12], a: Elu, fc: Dense(3),
});
case!(layer_elu_05, "layer_elu_05", fd = true, {
    input: [12], a: Elu(alpha = 0.5), fc: Dense(3),
});
case!(layer_gelu, "layer_gelu", fd = true, {
    input: [12], a: Gelu, fc: Dense(3),
});
case!(layer_silu, "layer_silu", fd = true, {
    input: [12], a: Silu, fc: Dense(3),
});
case!(layer_hard_sigmoid, "layer_hard_sigmoid", fd = true, {
    input: [12], a: HardSigmoid, fc: Dense(3),
});
case!(layer_hard_swish, "layer_hard_swish", fd = true, {
    input: [12], a: HardSwish, fc: Dense(3),
});

case!(image_relu6, "image_relu6", fd = true, {
    input: [2, 4, 4], c: Conv2d(3, kernel = 3), a: Relu6, flat: Flatten, fc: Dense(2),
});
case!(image_leaky_relu, "image_leaky_relu", fd = true, {
    input: [2, 4, 4], c: Conv2d(3, kernel = 3), a: LeakyRelu, flat: Flatten, fc: Dense(2),
});
case!(image_elu, "image_elu", fd = true, {
    input: [2, 4, 4], c: Conv2d(3, kernel = 3), a: Elu, flat: Flatten, fc: Dense(2),
});
case!(image_gelu, "image_gelu", fd = true, {
    input: [2, 4, 4], c: Conv2d(3, kernel = 3), a: Gelu, flat: Flatten, fc: Dense(2),
});
case!(image_silu, "image_silu", fd = true, {
    input: [2, 4, 4], c: Conv2d(3, kernel = 3), a: Silu, flat: Flatten, fc: Dense(2),
});
case!(image_hard_sigmoid, "image_hard_sigmoid", fd = true, {
    input: [2, 4, 4], c: Conv2d(3, kernel = 3), a: HardSigmoid, flat: Flatten, fc: Dense(2),
});
case!(image_hard_swish, "image_hard_swish", fd = true, {
    input: [2, 4, 4], c: Conv2d(3, kernel = 3), a: HardSwish, flat: Flatten, fc: Dense(2),
});

// Fused: rows or filters with zero weights and a bias at a kink hold the
// pre-activation exactly there (its derivative is one-sided), so the
// finite-difference check would straddle it; PyTorch's choice is checked
// instead.
case!(dense_relu6, "dense_relu6", fd = false, {
    input: [5], fc1: Dense(8, activation = relu6), fc2: Dense(3),
});
case!(dense_leaky_relu, "dense_leaky_relu", fd = false, {
    input: [5], fc1: Dense(8, activation = leaky_relu), fc2: Dense(3),
});
case!(dense_elu, "dense_elu", fd = false, {
    input: [5], fc1: Dense(8, activation = elu), fc2: Dense(3),
});
case!(dense_gelu, "dense_gelu", fd = true, {
    input: [5], fc1: Dense(8, activation = gelu), fc2: Dense(3),
});
case!(dense_silu, "dense_silu", fd = true, {
    input: [5], fc1: Dense(8, activation = silu), fc2: Dense(3),
});
case!(dense_hard_sigmoid, "dense_hard_sigmoid", fd = false, {
    input: [5], fc1: Dense(8, activation = hard_sigmoid), fc2: Dense(3),
});
case!(dense_hard_swish, "dense_hard_swish", fd = false, {
    input: [5], fc1: Dense(8, activation = hard_swish), fc2: Dense(3),
});

case!(last_relu6, "last_relu6", fd = false, {
    input: [5], fc: Dense(8, activation = relu6),
});
case!(last_leaky_relu, "last_leaky_relu", fd = false, {
    input: [5], fc: Dense(8, activation = leaky_relu),
});
case!(last_elu, "last_elu", fd = false, {
    input: [5], fc: Dense(8, activation = elu),
});
case!(last_gelu, "last_gelu", fd = true, {
    input: [5], fc: Dense(8, activation = gelu),
});
case!(last_silu, "last_silu", fd = true, {
    input: [5], fc: Dense(8, activation = silu),
});
case!(last_hard_sigmoid, "last_hard_sigmoid", fd = false, {
    input: [5], fc: Dense(8, activation = hard_sigmoid),
});
case!(last_hard_swish, "last_hard_swish", fd = false, {
    input: [5], fc: Dense(8, activation = hard_swish),
});

case!(conv_relu6, "conv_relu6", fd = false, {
    input: [2, 5, 5], c: Conv2d(6, kernel = 3, activation = relu6), flat: Flatten, fc: Dense(2),
});
case!(conv_leaky_relu, "conv_leaky_relu", fd = false, {
    input: [2, 5, 5], c: Conv2d(6, kernel = 3, activation = leaky_relu), flat: Flatten, fc: Dense(2),
});
case!(conv_elu, "conv_elu", fd = false, {
    input: [2, 5, 5], c: Conv2d(6, kernel = 3, activation = elu), flat: Flatten, fc: Dense(2),
});
case!(conv_gelu, "conv_gelu", fd = true, {
    input: [2, 5, 5], c: Conv2d(6, kernel = 3, activation = gelu), flat: Flatten, fc: Dense(2),
});
case!(conv_silu, "conv_silu", fd = true, {
    input: [2, 5, 5], c: Conv2d(6, kernel = 3, activation = silu), flat: Flatten, fc: Dense(2),
});
case!(conv_hard_sigmoid, "conv_hard_sigmoid", fd = false, {
    input: [2, 5, 5], c: Conv2d(6, kernel = 3, activation = hard_sigmoid), flat: Flatten, fc: Dense(2),
});
case!(conv_hard_swish, "conv_hard_swish", fd = false, {
    input: [2, 5, 5], c: Conv2d(6, kernel = 3, activation = hard_swish), flat: Flatten, fc: Dense(2),
});

/// The runner can fail: a gradient changed by 1e-11 (relative) is caught
/// in f64.
#[test]
fn runner_catches_a_wrong_gradient() {
    let fx = Fixture::load("activations_dense_hard_swish");
    let mut bad = fx.clone();
    let t: &mut Tensor64 = bad.tensors.get_mut("grad.fc1.weight").expect("tensor");
    t.values[0] += 1e-11 * t.values[0].abs().max(1.0);
    let errs: Vec<String> = run::<f64, dense_hard_swish::Net<f64>>(&bad, TOL_F64)
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("grad.fc1.weight"), "{errs:?}");
}
