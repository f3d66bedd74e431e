//! The 2-D convolution family for the MLPerf Tiny models, against PyTorch:
//! `DepthwiseConv2d` (multiplier 1, 2 and 3, strides, `same` and explicit
//! padding, dilation, with and without a bias), `Conv2d` with `bias = false`,
//! `dilation` and `groups`, `Dense` with `bias = false` (on vectors and
//! sequences), and `GlobalAvgPool` / `GlobalMaxPool` on images and
//! sequences.
//!
//! The fixtures are made by `tools/make_fixtures_conv2dx.py` (seeded,
//! PyTorch's functional ops): for each case `conv2dx/conv2dx_<case>.safetensors`
//! (weights by `state_dict` name, `input`, `output`) and
//! `conv2dx_<case>_grad.safetensors` (`r`, the loss `Σ output ⊙ r`,
//! autograd's gradients of every parameter and the input, and all of it
//! again computed by PyTorch in float32). Each `model!` below must have
//! exactly the DSL its fixture was made from.
//!
//! Tolerances (scaled: relative above magnitude 1, absolute below): f64
//! within 1e-12 of PyTorch's float64, f32 within 1e-5 of PyTorch's float32.

mod common;

use common::{compare, load_params, normalize_dsl, struct_body, Fixture, Tensor64};
use staticnet::{model, Model, Param, Tensor, Train};

/// This file, to compare each `model!` with the DSL in its fixture.
const SOURCE: &str = include_str!("conv2dx.rs");

const TOL_F64: f64 = 1e-12;
const TOL_F32: f64 = 1e-5;

model! {
    pub struct DwM1Same {
        input: [3, 6, 5],
        dw: DepthwiseConv2d(kernel = 3, padding = same, activation = relu),
    }
}

model! {
    pub struct DwM2S2 {
        input: [2, 7, 6],
        dw: DepthwiseConv2d(kernel = 3, stride = 2, padding = same, depth_multiplier = 2, activation = tanh),
    }
}

model! {
    pub struct DwDil2 {
        input: [2, 7, 7],
        dw: DepthwiseConv2d(kernel = (3, 2), dilation = 2, depth_multiplier = 2, bias = false),
    }
}

model! {
    pub struct DwDil2Same {
        input: [2, 5, 6],
        dw: DepthwiseConv2d(kernel = 3, dilation = 2, padding = same, activation = sigmoid),
    }
}

model! {
    pub struct DwPadStride {
        input: [3, 6, 7],
        dw: DepthwiseConv2d(kernel = (2, 3), stride = (2, 1), padding = (1, 2), depth_multiplier = 3, activation = softmax),
    }
}

model! {
    pub struct ConvNoBias {
        input: [2, 5, 5],
        conv: Conv2d(4, kernel = 3, bias = false, activation = sigmoid),
    }
}

model! {
    pub struct ConvDil21 {
        input: [2, 7, 5],
        conv: Conv2d(3, kernel = 3, dilation = (2, 1), padding = same),
    }
}

model! {
    pub struct ConvGroups2 {
        input: [4, 5, 7],
        conv: Conv2d(6, kernel = (2, 3), stride = (1, 2), groups = 2, activation = relu),
    }
}

model! {
    pub struct ConvGroupsSoftmax {
        input: [4, 4, 4],
        conv: Conv2d(4, kernel = 2, groups = 2, bias = false, dilation = 2, activation = softmax),
    }
}

model! {
    pub struct DenseNoBias {
        input: [6],
        fc1: Dense(4, bias = false, activation = tanh),
        fc2: Dense(3, bias = false),
    }
}

model! {
    pub struct DenseNoBiasSeq {
        input: [5, 3],
        fc: Dense(4, bias = false, activation = softmax),
    }
}

model! {
    pub struct GapImage {
        input: [3, 4, 5],
        dw: DepthwiseConv2d(kernel = 3, padding = same, depth_multiplier = 2),
        gap: GlobalAvgPool,
        out: Dense(3),
    }
}

model! {
    pub struct GmpImage {
        input: [3, 5, 4],
        conv: Conv2d(4, kernel = 2, activation = tanh),
        gmp: GlobalMaxPool,
        out: Dense(2, activation = sigmoid),
    }
}

model! {
    pub struct GapSeq {
        input: [6, 3],
        fc: Dense(4, activation = relu),
        gap: GlobalAvgPool,
    }
}

model! {
    pub struct GmpSeq {
        input: [7, 4],
        fc: Dense(3, activation = tanh),
        gmp: GlobalMaxPool,
        out: Dense(2),
    }
}

model! {
    pub struct DsCnnBlock {
        input: [1, 10, 6],
        conv1: Conv2d(4, kernel = 3, stride = 2, padding = same, activation = relu),
        dw1: DepthwiseConv2d(kernel = 3, padding = same, bias = false, activation = relu),
        pw1: Conv2d(6, kernel = 1, bias = false, activation = relu),
        gap: GlobalAvgPool,
        out: Dense(3, activation = softmax),
    }
}

/// `Ok` if `got` matches the fixture tensor `want` within `tol`.
fn check(results: &mut Vec<String>, name: &str, got: &[f64], want: &Tensor64, tol: f64) {
    if let Err(e) = compare(name, got, want, tol) {
        results.push(e);
    }
}

/// Every parameter gradient of `grads` against the fixture's `<prefix><name>`.
fn check_grads<T: staticnet::Float, M: Model<T>>(
    results: &mut Vec<String>,
    what: &str,
    grads: &M,
    fx: &Fixture,
    prefix: &str,
    times: f64,
    tol: f64,
) {
    grads.visit_params(&mut |p: Param<'_, T>| {
        let name = format!("{prefix}{}", p.name);
        match fx.tensors.get(&name) {
            None => results.push(format!("{what}: fixture has no `{name}`")),
            Some(want) if want.shape != p.shape => results.push(format!(
                "{what}: `{name}` shape {:?}, PyTorch {:?}",
                p.shape, want.shape
            )),
            Some(want) => {
                let got: Vec<f64> = p.iter().map(|v| v.to_f64()).collect();
                let scaled = Tensor64 {
                    shape: want.shape.clone(),
                    values: want.values.iter().map(|v| v * times).collect(),
                };
                check(results, &format!("{what} {name}"), &got, &scaled, tol);
            }
        }
    });
}

/// One case in float `T` against PyTorch's values in the same precision:
/// the DSL, the parameter count, the forward (inference and training), the
/// backward with and without dL/dinput, and the batched paths.
fn run_in<T: staticnet::Float, M: Train<T>>(case: &str, f32: bool) -> Vec<String> {
    let fwd = Fixture::load(&format!("conv2dx/conv2dx_{case}"));
    let grad = Fixture::load(&format!("conv2dx/conv2dx_{case}_grad"));
    let mut errors = Vec::new();
    let ty = fwd.meta("type");
    match struct_body(SOURCE, ty) {
        Some(body) if normalize_dsl(body) == normalize_dsl(fwd.meta("dsl")) => {}
        Some(_) => errors.push(format!("`{ty}` does not have the fixture's DSL")),
        None => errors.push(format!("no `pub struct {ty}` in tests/conv2dx.rs")),
    }
    if M::PARAMS.to_string() != fwd.meta("params") {
        errors.push(format!(
            "PARAMS = {}, PyTorch counts {}",
            M::PARAMS,
            fwd.meta("params")
        ));
    }
    let (tol, p) = if f32 {
        (TOL_F32, "f32.")
    } else {
        (TOL_F64, "")
    };
    let mut model = Box::new(M::zeros());
    if let Err(e) = load_params(&fwd, &mut *model) {
        errors.push(e);
        return errors;
    }
    let x = M::Input::from_flat(
        &fwd.get("input")
            .values
            .iter()
            .map(|&v| T::of_f64(v))
            .collect::<Vec<T>>(),
    )
    .expect("input shape");
    let r = M::Output::from_flat(
        &grad
            .get("r")
            .values
            .iter()
            .map(|&v| T::of_f64(v))
            .collect::<Vec<T>>(),
    )
    .expect("r shape");
    let want_y = if f32 {
        grad.get("f32.output")
    } else {
        fwd.get("output")
    };
    let as64 = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>();
    let y = model.forward(&x);
    check(&mut errors, "forward", &as64(y.as_flat()), want_y, tol);

    let mut tape = Box::new(M::new_tape());
    let yt = model.forward_train(&x, &mut tape);
    check(
        &mut errors,
        "forward_train",
        &as64(yt.as_flat()),
        want_y,
        tol,
    );
    let mut grads = Box::new(M::zeros());
    let dx = model.backward(&tape, &r, &mut grads);
    check(
        &mut errors,
        "backward dL/dinput",
        &as64(dx.as_flat()),
        grad.get(&format!("{p}grad.input")),
        tol,
    );
    let prefix = format!("{p}grad.");
    check_grads(&mut errors, "backward", &*grads, &grad, &prefix, 1.0, tol);
    let mut params_only = Box::new(M::zeros());
    model.backward_params(&tape, &r, false, &mut params_only);
    check_grads(
        &mut errors,
        "backward_params",
        &*params_only,
        &grad,
        &prefix,
        1.0,
        tol,
    );

    // The batched paths over three copies of the sample: three times the
    // gradient.
    let mut tapes: Box<[M::Tape; 3]> = Box::new(std::array::from_fn(|_| M::new_tape()));
    let ys = model.forward_train_batch([&x; 3], &mut tapes);
    for yk in &ys {
        check(
            &mut errors,
            "batch forward",
            &as64(yk.as_flat()),
            want_y,
            tol,
        );
    }
    let mut batched = Box::new(M::zeros());
    model.backward_params_batch(&tapes, &[r; 3], false, &mut batched);
    check_grads(
        &mut errors,
        "batch",
        &*batched,
        &grad,
        &prefix,
        3.0,
        3.0 * tol,
    );
    errors
}

fn run<M64: Train<f64>, M32: Train<f32>>(case: &str) {
    let mut errors = run_in::<f64, M64>(case, false);
    errors.extend(
        run_in::<f32, M32>(case, true)
            .into_iter()
            .map(|e| format!("f32: {e}")),
    );
    assert!(errors.is_empty(), "{case}:\n{}", errors.join("\n"));
}

macro_rules! cases {
    ($($test:ident: $case:literal => $ty:ident,)*) => {$(
        #[test]
        fn $test() {
            run::<$ty<f64>, $ty<f32>>($case);
        }
    )*};
}

cases! {
    depthwise_m1_same: "dw_m1_same" => DwM1Same,
    depthwise_m2_stride2_same: "dw_m2_s2" => DwM2S2,
    depthwise_dilation2_no_bias: "dw_dil2" => DwDil2,
    depthwise_dilation2_same: "dw_dil2_same" => DwDil2Same,
    depthwise_m3_explicit_padding_softmax: "dw_pad_stride" => DwPadStride,
    conv2d_no_bias: "conv_no_bias" => ConvNoBias,
    conv2d_dilation_2_1_same: "conv_dil21" => ConvDil21,
    conv2d_groups2: "conv_groups2" => ConvGroups2,
    conv2d_groups_dilation_no_bias_softmax: "conv_groups_softmax" => ConvGroupsSoftmax,
    dense_no_bias: "dense_no_bias" => DenseNoBias,
    dense_no_bias_on_a_sequence: "dense_no_bias_seq" => DenseNoBiasSeq,
    global_avg_pool_image: "gap_image" => GapImage,
    global_max_pool_image: "gmp_image" => GmpImage,
    global_avg_pool_sequence: "gap_seq" => GapSeq,
    global_max_pool_sequence: "gmp_seq" => GmpSeq,
    ds_cnn_block: "ds_cnn_block" => DsCnnBlock,
}

/// The bias-free blocks have no `bias` tensor, as PyTorch's `bias=False`.
#[test]
fn bias_false_has_no_bias_tensor() {
    let mut names = Vec::new();
    DsCnnBlock::<f64>::zeros()
        .visit_params(&mut |p: Param<'_, f64>| names.push((p.name.to_string(), p.shape.to_vec())));
    let want: Vec<(String, Vec<usize>)> = [
        ("conv1.weight", vec![4, 1, 3, 3]),
        ("conv1.bias", vec![4]),
        ("dw1.weight", vec![4, 1, 3, 3]),
        ("pw1.weight", vec![6, 4, 1, 1]),
        ("out.weight", vec![3, 6]),
        ("out.bias", vec![3]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(names, want);
}

/// Keras' initialisers: a depthwise kernel `[kh, kw, c, m]` is
/// glorot-uniform with fan-in `kh·kw·c` and fan-out `kh·kw·m`; a grouped
/// `Conv2d` kernel `[kh, kw, c/g, filters]` with fan-in `kh·kw·c/g` and
/// fan-out `kh·kw·filters`; biases zero.
#[test]
fn init_follows_keras() {
    let m = DwM2S2::<f64>::init(7);
    // kh·kw = 9, c = 2, m = 2: limit √(6 / (18 + 18)).
    let limit = (6.0f64 / 36.0).sqrt();
    let w = m.dw.weight.as_slice();
    assert!(w.iter().all(|v| v.abs() <= limit));
    assert!(
        w.iter().any(|v| v.abs() > 0.9 * limit),
        "drawn up to the limit"
    );
    assert!(m.dw.bias.iter().all(|&b| b == 0.0));
    let g = ConvGroups2::<f64>::init(7);
    // kh·kw = 6, c/g = 2, filters 6: limit √(6 / (12 + 36)).
    let limit = (6.0f64 / 48.0).sqrt();
    let w = g.conv.weight.as_slice();
    assert!(w.iter().all(|v| v.abs() <= limit));
    assert!(w.iter().any(|v| v.abs() > 0.9 * limit));
}

/// The summary's parameter counts per layer.
#[test]
fn summary_counts() {
    let counts: Vec<usize> = DsCnnBlock::<f32>::LAYERS.iter().map(|l| l.params).collect();
    // conv1 4·9 + 4, dw1 4·9 (no bias), pw1 6·4 (no bias), gap 0, out 3·6 + 3.
    assert_eq!(counts, [40, 36, 24, 0, 21]);
    assert_eq!(DsCnnBlock::<f32>::PARAMS, 121);
}

model! {
    /// `DsCnnBlock` with its fixture's weights compiled in: the bias-free
    /// blocks work in the `#[weights]` path too.
    #[weights("tests/fixtures/conv2dx/conv2dx_ds_cnn_block.safetensors", ignore = ["input", "output"])]
    pub struct DsCnnBlockCompiled {
        input: [1, 10, 6],
        conv1: Conv2d(4, kernel = 3, stride = 2, padding = same, activation = relu),
        dw1: DepthwiseConv2d(kernel = 3, padding = same, bias = false, activation = relu),
        pw1: Conv2d(6, kernel = 1, bias = false, activation = relu),
        gap: GlobalAvgPool,
        out: Dense(3, activation = softmax),
    }
}

#[test]
fn compiled_in_weights_without_biases() {
    let fwd = Fixture::load("conv2dx/conv2dx_ds_cnn_block");
    let grad = Fixture::load("conv2dx/conv2dx_ds_cnn_block_grad");
    let input = &fwd.get("input").values;
    let x = <DsCnnBlockCompiled<f64> as Model<f64>>::Input::from_flat(input).expect("input");
    let y = DsCnnBlockCompiled::WEIGHTS_F64.forward(&x);
    compare("WEIGHTS_F64", y.as_flat(), fwd.get("output"), TOL_F64).unwrap();
    let x32: Vec<f32> = input.iter().map(|&v| v as f32).collect();
    let x32 = <DsCnnBlockCompiled<f32> as Model<f32>>::Input::from_flat(&x32).expect("input");
    let y32 = DsCnnBlockCompiled::weights().forward(&x32);
    let y32: Vec<f64> = y32.as_flat().iter().map(|&v| f64::from(v)).collect();
    compare("WEIGHTS", &y32, grad.get("f32.output"), TOL_F32).unwrap();
}
