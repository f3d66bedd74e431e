//! The generated `forward` of every layer and option, against PyTorch.
//!
//! Each case below is a `model!` and a fixture, `tests/fixtures/<case>.safetensors`,
//! that `tools/make_fixtures.py` made by building the same network from stock
//! PyTorch modules in float64 (see `tools/README.md`). The one runner,
//! [`check_case`], loads the fixture's weights into a zero model by walking
//! `visit_params_mut` (names and shapes must match exactly, with no tensor
//! left over), runs `forward` on the fixture's input in f64 and in f32, and
//! reports the first output index that differs from PyTorch.
//!
//! The DSL a fixture was made from travels in its metadata; each case also
//! checks that its `model!` below says the same thing (up to whitespace and
//! comments), so the Rust and Python sides cannot drift apart silently.

mod common;

use common::{multi_index, normalize_dsl, struct_body, Fixture};
use staticnet::{model, Float, Model, ParamMut, Tensor};
use std::collections::BTreeSet;

/// This file, to compare each `model!` with the DSL in its fixture.
const SOURCE: &str = include_str!("common/models.rs");

/// How far a generated output may be from PyTorch's, per float type.
#[derive(Clone, Copy, Debug)]
struct Tol {
    /// f64, relative or absolute: `|got − want| ≤ f64 · max(1, |want|)`.
    f64: f64,
    /// f32 (weights and input rounded to f32), absolute plus relative:
    /// `|got − want| ≤ f32 · (1 + |want|)`.
    f32: f64,
}

/// The tolerance of issue 2: 1e-12 in f64, 1e-5 in f32.
const TOL: Tol = Tol {
    f64: 1e-12,
    f32: 1e-5,
};

/// Loads the fixture's parameters into `model`, runs `forward` on its input
/// and compares with its output; `bound(want)` is the largest difference
/// allowed at an expected value `want`. `Err` says what differs first.
fn run<T: Float, M: Model<T>>(
    fx: &Fixture,
    model: &mut M,
    bound: impl Fn(f64) -> f64,
) -> Result<(), String> {
    let case = &fx.case;
    let float = std::any::type_name::<T>();
    let cast = |v: &[f64]| -> Vec<T> { v.iter().map(|&x| T::of_f64(x)).collect() };

    let input = fx.get("input");
    if M::INPUT_SHAPE != input.shape.as_slice() {
        return Err(format!(
            "{case} ({float}): model input {:?}, fixture input {:?}",
            M::INPUT_SHAPE,
            input.shape
        ));
    }

    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    model.visit_params_mut(&mut |mut p: ParamMut<'_, T>| {
        if !seen.insert(p.name) {
            errors.push(format!("`{}` visited twice", p.name));
            return;
        }
        let Some(t) = fx.tensors.get(p.name) else {
            errors.push(format!(
                "model has `{}` {:?}, fixture does not",
                p.name, p.shape
            ));
            return;
        };
        if t.shape != p.shape {
            errors.push(format!(
                "`{}`: model shape {:?}, PyTorch {:?}",
                p.name, p.shape, t.shape
            ));
            return;
        }
        if let Err(e) = p.copy_from(&cast(&t.values)) {
            errors.push(format!("`{}`: copy_from: {e}", p.name));
        }
    });
    let extra: Vec<&str> = fx.param_names().filter(|n| !seen.contains(n)).collect();
    if !extra.is_empty() {
        errors.push(format!(
            "fixture tensors the model never visited: {extra:?}"
        ));
    }
    if !errors.is_empty() {
        return Err(format!("{case} ({float}): {}", errors.join("; ")));
    }

    let x = M::Input::from_flat(&cast(&input.values))
        .map_err(|e| format!("{case} ({float}): Input::from_flat: {e}"))?;
    let y = model.forward(&x);
    let got = y.as_flat();
    let want = fx.get("output");
    if got.len() != want.values.len() {
        return Err(format!(
            "{case} ({float}): {} output values, PyTorch {} (shape {:?})",
            got.len(),
            want.values.len(),
            want.shape
        ));
    }
    if let Some(last) = M::LAYERS.last() {
        if last.output != want.shape.as_slice() {
            return Err(format!(
                "{case} ({float}): last layer `{}` reports output {:?}, PyTorch {:?}",
                last.name, last.output, want.shape
            ));
        }
    }
    let diff = |k: usize| (got[k].to_f64() - want.values[k]).abs();
    // Within the bound, and not NaN (a NaN difference compares false).
    let ok = |k: usize| diff(k) <= bound(want.values[k]);
    let bad: Vec<usize> = (0..got.len()).filter(|&k| !ok(k)).collect();
    match bad.first() {
        None => Ok(()),
        Some(&k) => Err(format!(
            "{case} ({float}): output{:?} (flat index {k}) = {:e}, PyTorch {:e}, \
             |diff| {:.3e} > {:.3e}; {} of {} values differ",
            multi_index(k, &want.shape),
            got[k].to_f64(),
            want.values[k],
            diff(k),
            bound(want.values[k]),
            bad.len(),
            got.len(),
        )),
    }
}

/// Checks that the `model!` of `type_name` in this file has the DSL the
/// fixture was made from.
fn check_dsl(fx: &Fixture, type_name: &str) -> Result<(), String> {
    let body = struct_body(SOURCE, type_name)
        .ok_or_else(|| format!("no `pub struct {type_name} {{` in this file"))?;
    if normalize_dsl(body) == normalize_dsl(fx.meta("dsl")) {
        Ok(())
    } else {
        Err(format!(
            "{}: `{type_name}` here is\n{}\nbut the fixture was made from\n{}",
            fx.case,
            body.trim(),
            fx.meta("dsl")
        ))
    }
}

/// The runner every case calls: the DSL check, then f64, then f32. Reports
/// every failure of the case at once.
fn check_case<M64: Model<f64>, M32: Model<f32>>(
    case: &str,
    type_name: &str,
    zeros64: impl FnOnce() -> Box<M64>,
    zeros32: impl FnOnce() -> Box<M32>,
    tol: Tol,
) {
    let fx = Fixture::load(case);
    let failures: Vec<String> = [
        check_dsl(&fx, type_name),
        run(&fx, &mut *zeros64(), |want| tol.f64 * want.abs().max(1.0)),
        run(&fx, &mut *zeros32(), |want| tol.f32 * (1.0 + want.abs())),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The table: one `#[test]` per row, `case: Model, tolerance;`, where `case`
/// names the fixture and `Model` its `model!` below.
macro_rules! fixtures {
    ($($(#[$attr:meta])* $case:ident: $model:ident, $tol:expr;)*) => {
        $(
            #[test]
            $(#[$attr])*
            fn $case() {
                check_case(
                    stringify!($case),
                    stringify!($model),
                    || Box::new($model::<f64>::zeros()),
                    || Box::new($model::<f32>::zeros()),
                    $tol,
                );
            }
        )*

        /// Every case in the table.
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

fixtures! {
    // Dense on a vector, every activation
    dense_default: DenseDefault, TOL;
    dense_linear: DenseLinear, TOL;
    dense_relu: DenseRelu, TOL;
    dense_sigmoid: DenseSigmoid, TOL;
    dense_tanh: DenseTanh, TOL;
    dense_softmax: DenseSoftmax, TOL;
    dense_chain: DenseChain, TOL;
    // Dense per step on a sequence
    dense_seq: DenseSeq, TOL;
    dense_seq_softmax: DenseSeqSoftmax, TOL;
    // Conv2d: kernels, strides, every padding kind, activations
    conv_valid: ConvValid, TOL;
    conv_rect_relu: ConvRectRelu, TOL;
    conv_stride_2_1: ConvStride21, TOL;
    conv_stride2_tanh: ConvStride2Tanh, TOL;
    conv_same_odd_s1: ConvSameOddS1, TOL;
    conv_same_even_s1: ConvSameEvenS1, TOL;
    conv_same_odd_s2: ConvSameOddS2, TOL;
    conv_same_even_s2: ConvSameEvenS2, TOL;
    conv_same_rect_s21: ConvSameRectS21, TOL;
    conv_same_clamped: ConvSameClamped, TOL;
    conv_pad_int: ConvPadInt, TOL;
    conv_pad_pair: ConvPadPair, TOL;
    conv_softmax: ConvSoftmax, TOL;
    conv_conv: ConvConv, TOL;
    // MaxPool2d: window == stride, ragged edges, overlapping, gaps, rectangular
    maxpool_2: MaxPool2, TOL;
    maxpool_ragged: MaxPoolRagged, TOL;
    maxpool_overlap: MaxPoolOverlap, TOL;
    maxpool_gap: MaxPoolGap, TOL;
    maxpool_rect: MaxPoolRect, TOL;
    maxpool_rect_stride: MaxPoolRectStride, TOL;
    // AvgPool2d: the same windows
    avgpool_2: AvgPool2, TOL;
    avgpool_ragged: AvgPoolRagged, TOL;
    avgpool_overlap: AvgPoolOverlap, TOL;
    avgpool_gap: AvgPoolGap, TOL;
    avgpool_rect: AvgPoolRect, TOL;
    avgpool_rect_stride: AvgPoolRectStride, TOL;
    // Flatten of an image and of a sequence (a Dense after it makes the order matter)
    flatten_image: FlattenImage, TOL;
    flatten_sequence: FlattenSequence, TOL;
    flatten_after_gru: FlattenAfterGru, TOL;
    // Stand-alone activation layers on a vector, a sequence and an image
    relu_vector: ReluVector, TOL;
    sigmoid_vector: SigmoidVector, TOL;
    tanh_vector: TanhVector, TOL;
    softmax_vector: SoftmaxVector, TOL;
    relu_sequence: ReluSequence, TOL;
    sigmoid_sequence: SigmoidSequence, TOL;
    tanh_sequence: TanhSequence, TOL;
    softmax_sequence: SoftmaxSequence, TOL;
    relu_image: ReluImage, TOL;
    sigmoid_image: SigmoidImage, TOL;
    tanh_image: TanhImage, TOL;
    softmax_image: SoftmaxImage, TOL;
    dense_then_softmax: DenseThenSoftmax, TOL;
    conv_then_softmax: ConvThenSoftmax, TOL;
    // SimpleRnn, every activation, last state and whole sequence
    rnn_default: RnnDefault, TOL;
    rnn_tanh_seq: RnnTanhSeq, TOL;
    rnn_relu: RnnRelu, TOL;
    rnn_relu_seq: RnnReluSeq, TOL;
    rnn_sigmoid: RnnSigmoid, TOL;
    rnn_sigmoid_seq: RnnSigmoidSeq, TOL;
    rnn_linear: RnnLinear, TOL;
    rnn_linear_seq: RnnLinearSeq, TOL;
    // Lstm and Gru
    lstm_last: LstmLast, TOL;
    lstm_seq: LstmSeq, TOL;
    gru_last: GruLast, TOL;
    gru_seq: GruSeq, TOL;
    // Stacks of two recurrent layers
    lstm_lstm: LstmLstm, TOL;
    gru_gru: GruGru, TOL;
    rnn_lstm: RnnLstm, TOL;
    gru_gru_seq: GruGruSeq, TOL;
    // Dense after recurrent layers
    lstm_seq_dense: LstmSeqDense, TOL;
    rnn_seq_dense: RnnSeqDense, TOL;
    gru_dense: GruDense, TOL;
    // The two reference models of DESIGN.md (PyTorch default init)
    seed_cnn: SeedCnn, TOL;
    forecaster: Forecaster, TOL;
}

// The models of every case (one file, shared with the other runner).
include!("common/models.rs");

// --- The runner itself ------------------------------------------------------

/// Every forward fixture in tests/fixtures/ has a row in the table above (a
/// fixture nobody compares against proves nothing).
#[test]
fn every_forward_fixture_has_a_case() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/fixtures") {
        let path = entry.expect("directory entry").path();
        let Some(case) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".safetensors"))
        else {
            continue;
        };
        let fx = Fixture::load(case);
        if fx.meta.get("kind").map(String::as_str) == Some("forward") && !CASES.contains(&case) {
            missing.push(case.to_owned());
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "forward fixtures without a row in `fixtures!`: {missing:?}"
    );
}

/// The runner fails when a single bias is off by 1e-9: it can tell a wrong
/// model from a right one at the f64 tolerance.
#[test]
fn runner_catches_a_wrong_weight() {
    let mut fx = Fixture::load("dense_chain");
    let bound = |want: f64| TOL.f64 * want.abs().max(1.0);
    assert_eq!(run(&fx, &mut DenseChain::<f64>::zeros(), bound), Ok(()));
    fx.tensors.get_mut("fc3.bias").expect("fc3.bias").values[1] += 1e-9;
    let err = run(&fx, &mut DenseChain::<f64>::zeros(), bound).expect_err("must fail");
    assert!(err.contains("flat index 1"), "{err}");
}

/// A NaN output fails rather than slipping through a `>` comparison.
#[test]
fn runner_catches_nan() {
    let mut fx = Fixture::load("dense_chain");
    fx.tensors.get_mut("fc3.bias").expect("fc3.bias").values[2] = f64::NAN;
    let err = run(&fx, &mut DenseChain::<f64>::zeros(), |_| 1.0).expect_err("must fail");
    assert!(err.contains("flat index 2"), "{err}");
}

/// The runner fails when the fixture lacks a parameter or has one too many.
#[test]
fn runner_catches_missing_and_extra_tensors() {
    let fx = Fixture::load("dense_chain");
    let bound = |_: f64| 1.0;
    let mut missing = fx.clone();
    missing.tensors.remove("fc2.weight");
    let err = run(&missing, &mut DenseChain::<f64>::zeros(), bound).expect_err("missing");
    assert!(err.contains("`fc2.weight`"), "{err}");
    let mut extra = fx.clone();
    let t = extra.get("fc1.bias").clone();
    extra.tensors.insert("fc4.bias".into(), t);
    let err = run(&extra, &mut DenseChain::<f64>::zeros(), bound).expect_err("extra");
    assert!(err.contains("fc4.bias"), "{err}");
}

/// The DSL check notices a `model!` that differs from its fixture's DSL.
#[test]
fn dsl_check_catches_a_different_model() {
    let fx = Fixture::load("dense_chain");
    assert_eq!(check_dsl(&fx, "DenseChain"), Ok(()));
    assert!(check_dsl(&fx, "DenseDefault").is_err());
}

#[test]
fn multi_index_is_row_major() {
    assert_eq!(multi_index(0, &[2, 3, 4]), [0, 0, 0]);
    assert_eq!(multi_index(23, &[2, 3, 4]), [1, 2, 3]);
    assert_eq!(multi_index(6, &[2, 3, 4]), [0, 1, 2]);
    assert_eq!(multi_index(4, &[5]), [4]);
}

#[test]
fn dsl_normalization() {
    let a = "input: [1, 2],\n  fc: Dense(3), // note\n";
    let b = "input : [1,2], fc : Dense ( 3 )";
    assert_eq!(normalize_dsl(a), normalize_dsl(b));
    assert_ne!(
        normalize_dsl(a),
        normalize_dsl("input: [1, 2], fc: Dense(4)")
    );
    let src = "model! { pub struct A { input: [1], x: B { } } }";
    assert_eq!(struct_body(src, "A"), Some(" input: [1], x: B { } "));
    assert_eq!(struct_body(src, "C"), None);
}
