//! The generated `backward` of every layer and option, against PyTorch
//! autograd in f64.
//!
//! Each case below is a `model!` and two fixtures that `tools/make_fixtures.py`
//! made (see `tools/README.md`): the forward fixture `<case>.safetensors`
//! (weights under PyTorch `state_dict` names, `input`, `output`) and the
//! gradient fixture `grad_<case>.safetensors`: a random `r` shaped like the
//! output, `loss = Σ output ⊙ r`, and autograd's gradients of that loss with
//! respect to every parameter (`grad.<name>`) and the input (`grad.input`).
//!
//! The one runner, [`run`], loads the weights into a zero model, runs
//! `forward_train` on the input and `backward` with `dy = r`, and compares
//! every parameter gradient (walked by PyTorch name and flat order with
//! `visit_params` on the gradient model) and `dL/dinput` with PyTorch's:
//!
//! ```text
//! |ours − PyTorch| ≤ 1e-10 · max(1, |PyTorch|)
//! ```
//!
//! (relative above magnitude 1, absolute below; a NaN fails). A failure names
//! the case, the tensor, the first differing index and both values.
//!
//! As in `tests/forward_fixtures.rs`, each `model!` here must have the DSL
//! its fixtures were made from (up to whitespace and comments).

mod common;

use common::{compare, load_params, normalize_dsl, struct_body, Fixture};
use staticnet::{model, Param, Tensor, Train};
use std::collections::BTreeSet;

/// This file, to compare each `model!` with the DSL in its fixture.
const SOURCE: &str = include_str!("gradient_fixtures.rs");

/// Issue 3, item 2(b): autograd gradients matched within 1e-10 in f64
/// (scaled as in [`common::scaled_error`]).
const TOL: f64 = 1e-10;

/// The forward fixture `case` and its gradient fixture `grad_<case>`.
#[derive(Clone, Debug)]
struct Pair {
    forward: Fixture,
    grad: Fixture,
}

impl Pair {
    fn load(case: &str) -> Pair {
        Pair {
            forward: Fixture::load(case),
            grad: Fixture::load(&format!("grad_{case}")),
        }
    }
}

/// Runs forward_train and backward of `M` on the fixtures' weights, input
/// and `r`, and compares the loss, every parameter gradient and the input
/// gradient with PyTorch's. `Ok` carries the largest scaled error seen;
/// `Err` lists every tensor that differs (the first differing index of each).
fn run<M: Train<f64>>(pair: &Pair) -> Result<f64, String> {
    let (fwd, grad) = (&pair.forward, &pair.grad);
    let case = &fwd.case;
    if grad.meta("kind") != "grad" || grad.meta("forward") != case {
        return Err(format!(
            "{case}: {} has kind {:?} and forward {:?}",
            grad.case,
            grad.meta("kind"),
            grad.meta("forward")
        ));
    }
    let mut model = Box::new(M::zeros());
    load_params(fwd, &mut *model)?;

    let input = fwd.get("input");
    if M::INPUT_SHAPE != input.shape.as_slice() {
        return Err(format!(
            "{case}: model input {:?}, fixture input {:?}",
            M::INPUT_SHAPE,
            input.shape
        ));
    }
    let x =
        M::Input::from_flat(&input.values).map_err(|e| format!("{case}: Input::from_flat: {e}"))?;
    let r = M::Output::from_flat(&grad.get("r").values)
        .map_err(|e| format!("{case}: Output::from_flat(r): {e}"))?;

    let mut tape = Box::new(M::new_tape());
    let y = model.forward_train(&x, &mut tape);
    let mut grads = Box::new(M::zeros());
    let dx = model.backward(&tape, &r, &mut grads);

    // One entry per comparison: its largest scaled error, or what differs.
    let mut results: Vec<Result<f64, String>> = Vec::new();

    // The loss ties the gradient fixture to the forward fixture it was made
    // with: a regenerated forward file with other weights fails here.
    let loss: f64 = y
        .as_flat()
        .iter()
        .zip(r.as_flat())
        .map(|(a, b)| a * b)
        .sum();
    results.push(compare("loss", &[loss], grad.get("loss"), TOL));

    let mut seen = BTreeSet::new();
    grads.visit_params(&mut |p: Param<'_, f64>| {
        let name = format!("grad.{}", p.name);
        results.push(match grad.tensors.get(&name) {
            None => Err(format!("model has `{}`, fixture has no `{name}`", p.name)),
            Some(want) if want.shape != p.shape => Err(format!(
                "`{name}`: model shape {:?}, PyTorch {:?}",
                p.shape, want.shape
            )),
            Some(want) => compare(&name, &p.iter().collect::<Vec<f64>>(), want, TOL),
        });
        seen.insert(name);
    });
    let input_grad = grad.get("grad.input");
    results.push(if input_grad.shape == input.shape {
        compare("grad.input", dx.as_flat(), input_grad, TOL)
    } else {
        Err(format!(
            "`grad.input`: shape {:?}, input {:?}",
            input_grad.shape, input.shape
        ))
    });
    seen.insert("grad.input".to_owned());
    let extra: Vec<&String> = grad
        .tensors
        .keys()
        .filter(|k| k.starts_with("grad.") && !seen.contains(*k))
        .collect();
    if !extra.is_empty() {
        results.push(Err(format!(
            "gradients the model has no parameter for: {extra:?}"
        )));
    }
    let errors: Vec<String> = results.iter().filter_map(|r| r.clone().err()).collect();
    if errors.is_empty() {
        Ok(results.into_iter().flatten().fold(0.0, f64::max))
    } else {
        Err(format!("{case}: {}", errors.join(&format!("\n{case}: "))))
    }
}

/// Checks that the `model!` of `type_name` in this file has the DSL both
/// fixtures were made from.
fn check_dsl(pair: &Pair, type_name: &str) -> Result<(), String> {
    let body = struct_body(SOURCE, type_name)
        .ok_or_else(|| format!("no `pub struct {type_name} {{` in this file"))?;
    for fx in [&pair.forward, &pair.grad] {
        if normalize_dsl(body) != normalize_dsl(fx.meta("dsl")) {
            return Err(format!(
                "{}: `{type_name}` here is\n{}\nbut the fixture was made from\n{}",
                fx.case,
                body.trim(),
                fx.meta("dsl")
            ));
        }
    }
    Ok(())
}

/// The runner every case calls: the DSL check, then the gradients. Prints
/// the largest scaled error (`cargo test -- --nocapture` shows it).
fn check_case<M: Train<f64>>(case: &str, type_name: &str) {
    let pair = Pair::load(case);
    let dsl = check_dsl(&pair, type_name);
    let grads = run::<M>(&pair);
    if let Ok(worst) = grads {
        println!("{case}: worst |ours − PyTorch| / max(1, |PyTorch|) = {worst:.3e}");
    }
    let failures: Vec<String> = [dsl, grads.map(|_| ())]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The table: one `#[test]` per row, `case: Model;`, where `case` names the
/// fixtures and `Model` its `model!` below. A row that fails for a reason
/// the lead must look at gets `#[ignore = "reason"]`, never a looser TOL.
macro_rules! fixtures {
    ($($(#[$attr:meta])* $case:ident: $model:ident;)*) => {
        $(
            #[test]
            $(#[$attr])*
            fn $case() {
                check_case::<$model<f64>>(stringify!($case), stringify!($model));
            }
        )*

        /// Every case in the table.
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

fixtures! {
    // Dense on a vector, every activation
    dense_default: DenseDefault;
    dense_linear: DenseLinear;
    dense_relu: DenseRelu;
    dense_sigmoid: DenseSigmoid;
    dense_tanh: DenseTanh;
    dense_softmax: DenseSoftmax;
    dense_chain: DenseChain;
    // Dense per step on a sequence
    dense_seq: DenseSeq;
    dense_seq_softmax: DenseSeqSoftmax;
    // Conv2d: kernels, strides, every padding kind, activations
    conv_valid: ConvValid;
    conv_rect_relu: ConvRectRelu;
    conv_stride_2_1: ConvStride21;
    conv_stride2_tanh: ConvStride2Tanh;
    conv_same_odd_s1: ConvSameOddS1;
    conv_same_even_s1: ConvSameEvenS1;
    conv_same_odd_s2: ConvSameOddS2;
    conv_same_even_s2: ConvSameEvenS2;
    conv_same_rect_s21: ConvSameRectS21;
    conv_same_clamped: ConvSameClamped;
    conv_pad_int: ConvPadInt;
    conv_pad_pair: ConvPadPair;
    conv_softmax: ConvSoftmax;
    conv_conv: ConvConv;
    // MaxPool2d: window == stride, ragged edges, overlapping, gaps, rectangular
    maxpool_2: MaxPool2;
    maxpool_ragged: MaxPoolRagged;
    maxpool_overlap: MaxPoolOverlap;
    maxpool_gap: MaxPoolGap;
    maxpool_rect: MaxPoolRect;
    maxpool_rect_stride: MaxPoolRectStride;
    // AvgPool2d: the same windows
    avgpool_2: AvgPool2;
    avgpool_ragged: AvgPoolRagged;
    avgpool_overlap: AvgPoolOverlap;
    avgpool_gap: AvgPoolGap;
    avgpool_rect: AvgPoolRect;
    avgpool_rect_stride: AvgPoolRectStride;
    // Flatten of an image and of a sequence (a Dense after it makes the order matter)
    flatten_image: FlattenImage;
    flatten_sequence: FlattenSequence;
    flatten_after_gru: FlattenAfterGru;
    // Stand-alone activation layers on a vector, a sequence and an image
    relu_vector: ReluVector;
    sigmoid_vector: SigmoidVector;
    tanh_vector: TanhVector;
    softmax_vector: SoftmaxVector;
    relu_sequence: ReluSequence;
    sigmoid_sequence: SigmoidSequence;
    tanh_sequence: TanhSequence;
    softmax_sequence: SoftmaxSequence;
    relu_image: ReluImage;
    sigmoid_image: SigmoidImage;
    tanh_image: TanhImage;
    softmax_image: SoftmaxImage;
    dense_then_softmax: DenseThenSoftmax;
    conv_then_softmax: ConvThenSoftmax;
    // SimpleRnn, every activation, last state and whole sequence
    rnn_default: RnnDefault;
    rnn_tanh_seq: RnnTanhSeq;
    rnn_relu: RnnRelu;
    rnn_relu_seq: RnnReluSeq;
    rnn_sigmoid: RnnSigmoid;
    rnn_sigmoid_seq: RnnSigmoidSeq;
    rnn_linear: RnnLinear;
    rnn_linear_seq: RnnLinearSeq;
    // Lstm and Gru
    lstm_last: LstmLast;
    lstm_seq: LstmSeq;
    gru_last: GruLast;
    gru_seq: GruSeq;
    // Stacks of two recurrent layers
    lstm_lstm: LstmLstm;
    gru_gru: GruGru;
    rnn_lstm: RnnLstm;
    gru_gru_seq: GruGruSeq;
    // Dense after recurrent layers
    lstm_seq_dense: LstmSeqDense;
    rnn_seq_dense: RnnSeqDense;
    gru_dense: GruDense;
    // The two reference models of DESIGN.md (PyTorch default init)
    seed_cnn: SeedCnn;
    forecaster: Forecaster;
}

// --- Dense on a vector, every activation ---------------------------------------

model! {
    pub struct DenseDefault {
        input: [5],
        fc: Dense(4),
    }
}

model! {
    pub struct DenseLinear {
        input: [5],
        fc: Dense(4, activation = linear),
    }
}

model! {
    pub struct DenseRelu {
        input: [6],
        fc: Dense(5, activation = relu),
    }
}

model! {
    pub struct DenseSigmoid {
        input: [6],
        fc: Dense(3, activation = sigmoid),
    }
}

model! {
    pub struct DenseTanh {
        input: [4],
        fc: Dense(5, activation = tanh),
    }
}

model! {
    pub struct DenseSoftmax {
        input: [6],
        fc: Dense(4, activation = softmax),
    }
}

model! {
    pub struct DenseChain {
        input: [7],
        fc1: Dense(6, activation = relu),
        fc2: Dense(5, activation = tanh),
        fc3: Dense(3),
    }
}

// --- Dense per step on a sequence ----------------------------------------------

model! {
    pub struct DenseSeq {
        input: [4, 3],
        fc: Dense(5, activation = tanh),
    }
}

model! {
    pub struct DenseSeqSoftmax {
        input: [3, 5],
        fc: Dense(4, activation = softmax),
    }
}

// --- Conv2d: kernels, strides, every padding kind, activations -----------------

model! {
    pub struct ConvValid {
        input: [1, 6, 7],
        conv: Conv2d(2, kernel = 3),
    }
}

model! {
    pub struct ConvRectRelu {
        input: [2, 6, 7],
        conv: Conv2d(3, kernel = (2, 3), padding = valid, activation = relu),
    }
}

model! {
    pub struct ConvStride21 {
        input: [2, 7, 6],
        conv: Conv2d(2, kernel = (3, 2), stride = (2, 1), activation = linear),
    }
}

model! {
    pub struct ConvStride2Tanh {
        input: [3, 7, 8],
        conv: Conv2d(2, kernel = 3, stride = 2, activation = tanh),
    }
}

// TensorFlow `same`, odd kernel, stride 1: 1 on every side.
model! {
    pub struct ConvSameOddS1 {
        input: [2, 5, 6],
        conv: Conv2d(3, kernel = 3, padding = same, activation = sigmoid),
    }
}

// `same`, even kernel, stride 1: rows 1 top / 2 bottom, columns 0 left / 1 right.
model! {
    pub struct ConvSameEvenS1 {
        input: [2, 5, 6],
        conv: Conv2d(2, kernel = (4, 2), padding = same),
    }
}

// `same`, stride 2: rows 1 / 1, columns 0 / 1 → [3, 4, 4].
model! {
    pub struct ConvSameOddS2 {
        input: [2, 7, 8],
        conv: Conv2d(3, kernel = 3, stride = 2, padding = same),
    }
}

// `same`, even kernel, stride 2: rows 1 / 1, columns 1 / 2 → [2, 3, 4].
model! {
    pub struct ConvSameEvenS2 {
        input: [1, 6, 7],
        conv: Conv2d(2, kernel = 4, stride = 2, padding = same, activation = relu),
    }
}

// `same`, kernel (3, 2), stride (2, 1): rows 0 / 1, columns 0 / 1 → [2, 3, 5].
model! {
    pub struct ConvSameRectS21 {
        input: [2, 6, 5],
        conv: Conv2d(2, kernel = (3, 2), stride = (2, 1), padding = same),
    }
}

// `same` where TensorFlow's pad_total is (3-1)·3 + 1 - 8 = -1 for rows: clamped to 0.
model! {
    pub struct ConvSameClamped {
        input: [1, 8, 8],
        conv: Conv2d(2, kernel = (1, 2), stride = 3, padding = same),
    }
}

model! {
    pub struct ConvPadInt {
        input: [2, 5, 6],
        conv: Conv2d(3, kernel = 3, stride = 2, padding = 1, activation = tanh),
    }
}

model! {
    pub struct ConvPadPair {
        input: [1, 4, 5],
        conv: Conv2d(2, kernel = (3, 2), padding = (2, 1)),
    }
}

// Softmax over the 4 channels at each pixel.
model! {
    pub struct ConvSoftmax {
        input: [3, 4, 4],
        conv: Conv2d(4, kernel = 2, activation = softmax),
    }
}

model! {
    pub struct ConvConv {
        input: [2, 7, 7],
        conv1: Conv2d(3, kernel = 3, activation = relu),
        conv2: Conv2d(2, kernel = (2, 3), stride = (1, 2), padding = same, activation = sigmoid),
    }
}

// --- MaxPool2d: window == stride, ragged edges, overlapping, gaps, rectangular ---

model! {
    pub struct MaxPool2 {
        input: [2, 4, 6],
        pool: MaxPool2d(2),
    }
}

// Floor: the last row and column are dropped.
model! {
    pub struct MaxPoolRagged {
        input: [2, 5, 7],
        pool: MaxPool2d(2),
    }
}

// Windows overlap; the last row is dropped.
model! {
    pub struct MaxPoolOverlap {
        input: [1, 6, 7],
        pool: MaxPool2d(3, stride = 2),
    }
}

// Stride larger than the window: some rows and columns are never read.
model! {
    pub struct MaxPoolGap {
        input: [1, 7, 8],
        pool: MaxPool2d(2, stride = 3),
    }
}

model! {
    pub struct MaxPoolRect {
        input: [2, 5, 7],
        pool: MaxPool2d((2, 3)),
    }
}

model! {
    pub struct MaxPoolRectStride {
        input: [1, 5, 5],
        pool: MaxPool2d((3, 2), stride = (1, 2)),
    }
}

// --- AvgPool2d: the same windows -----------------------------------------------

model! {
    pub struct AvgPool2 {
        input: [2, 4, 6],
        pool: AvgPool2d(2),
    }
}

model! {
    pub struct AvgPoolRagged {
        input: [2, 5, 7],
        pool: AvgPool2d(2),
    }
}

model! {
    pub struct AvgPoolOverlap {
        input: [1, 6, 7],
        pool: AvgPool2d(3, stride = 2),
    }
}

model! {
    pub struct AvgPoolGap {
        input: [1, 7, 8],
        pool: AvgPool2d(2, stride = 3),
    }
}

model! {
    pub struct AvgPoolRect {
        input: [2, 5, 7],
        pool: AvgPool2d((2, 3)),
    }
}

model! {
    pub struct AvgPoolRectStride {
        input: [1, 5, 5],
        pool: AvgPool2d((3, 2), stride = (1, 2)),
    }
}

// --- Flatten of an image and of a sequence (a Dense after it makes the order matter) ---

model! {
    pub struct FlattenImage {
        input: [2, 5, 4],
        conv: Conv2d(3, kernel = (2, 3), activation = relu),
        flat: Flatten,
        fc: Dense(3),
    }
}

model! {
    pub struct FlattenSequence {
        input: [3, 4],
        flat: Flatten,
        fc: Dense(2, activation = tanh),
    }
}

model! {
    pub struct FlattenAfterGru {
        input: [4, 3],
        gru: Gru(3, return_sequences = true),
        flat: Flatten,
        fc: Dense(2),
    }
}

// --- Stand-alone activation layers on a vector, a sequence and an image --------

model! {
    pub struct ReluVector {
        input: [7],
        act: Relu,
    }
}

model! {
    pub struct SigmoidVector {
        input: [7],
        act: Sigmoid,
    }
}

model! {
    pub struct TanhVector {
        input: [7],
        act: Tanh,
    }
}

model! {
    pub struct SoftmaxVector {
        input: [7],
        act: Softmax,
    }
}

model! {
    pub struct ReluSequence {
        input: [3, 4],
        act: Relu,
    }
}

model! {
    pub struct SigmoidSequence {
        input: [3, 4],
        act: Sigmoid,
    }
}

model! {
    pub struct TanhSequence {
        input: [3, 4],
        act: Tanh,
    }
}

// Softmax over the 4 features of each of the 3 steps.
model! {
    pub struct SoftmaxSequence {
        input: [3, 4],
        act: Softmax,
    }
}

model! {
    pub struct ReluImage {
        input: [3, 2, 4],
        act: Relu,
    }
}

model! {
    pub struct SigmoidImage {
        input: [3, 2, 4],
        act: Sigmoid,
    }
}

model! {
    pub struct TanhImage {
        input: [3, 2, 4],
        act: Tanh,
    }
}

// Softmax over the 3 channels at each of the 2×4 pixels.
model! {
    pub struct SoftmaxImage {
        input: [3, 2, 4],
        act: Softmax,
    }
}

model! {
    pub struct DenseThenSoftmax {
        input: [5],
        fc: Dense(4),
        act: Softmax,
    }
}

model! {
    pub struct ConvThenSoftmax {
        input: [2, 4, 5],
        conv: Conv2d(3, kernel = (2, 2)),
        act: Softmax,
    }
}

// --- SimpleRnn, every activation, last state and whole sequence ----------------

model! {
    pub struct RnnDefault {
        input: [5, 3],
        rnn: SimpleRnn(4),
    }
}

model! {
    pub struct RnnTanhSeq {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = tanh, return_sequences = true),
    }
}

model! {
    pub struct RnnRelu {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = relu),
    }
}

model! {
    pub struct RnnReluSeq {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = relu, return_sequences = true),
    }
}

model! {
    pub struct RnnSigmoid {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = sigmoid, return_sequences = false),
    }
}

model! {
    pub struct RnnSigmoidSeq {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = sigmoid, return_sequences = true),
    }
}

model! {
    pub struct RnnLinear {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = linear),
    }
}

model! {
    pub struct RnnLinearSeq {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = linear, return_sequences = true),
    }
}

// --- Lstm and Gru --------------------------------------------------------------

model! {
    pub struct LstmLast {
        input: [5, 3],
        lstm: Lstm(4),
    }
}

model! {
    pub struct LstmSeq {
        input: [5, 3],
        lstm: Lstm(4, return_sequences = true),
    }
}

model! {
    pub struct GruLast {
        input: [5, 3],
        gru: Gru(4, return_sequences = false),
    }
}

model! {
    pub struct GruSeq {
        input: [5, 3],
        gru: Gru(4, return_sequences = true),
    }
}

// --- Stacks of two recurrent layers --------------------------------------------

model! {
    pub struct LstmLstm {
        input: [6, 3],
        lstm1: Lstm(5, return_sequences = true),
        lstm2: Lstm(3),
    }
}

model! {
    pub struct GruGru {
        input: [6, 3],
        gru1: Gru(5, return_sequences = true),
        gru2: Gru(3),
    }
}

model! {
    pub struct RnnLstm {
        input: [6, 3],
        rnn: SimpleRnn(5, return_sequences = true),
        lstm: Lstm(3),
    }
}

model! {
    pub struct GruGruSeq {
        input: [4, 2],
        gru1: Gru(3, return_sequences = true),
        gru2: Gru(4, return_sequences = true),
    }
}

// --- Dense after recurrent layers ----------------------------------------------

model! {
    pub struct LstmSeqDense {
        input: [5, 3],
        lstm: Lstm(4, return_sequences = true),
        fc: Dense(3, activation = softmax),
    }
}

model! {
    pub struct RnnSeqDense {
        input: [5, 2],
        rnn: SimpleRnn(3, activation = relu, return_sequences = true),
        fc: Dense(2, activation = sigmoid),
    }
}

model! {
    pub struct GruDense {
        input: [5, 3],
        gru: Gru(4),
        fc: Dense(2, activation = relu),
    }
}

// --- The two reference models of DESIGN.md (PyTorch default init) --------------

model! {
    pub struct SeedCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(64, activation = relu),
        out: Dense(1, activation = sigmoid),
    }
}

model! {
    pub struct Forecaster {
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head: Dense(1),
    }
}

// --- The runner itself ------------------------------------------------------

/// The fixture directory's cases of one `kind`.
fn cases_of_kind(kind: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/fixtures") {
        let path = entry.expect("directory entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".safetensors"))
        else {
            continue;
        };
        if Fixture::load(name).meta.get("kind").map(String::as_str) == Some(kind) {
            cases.push(name.to_owned());
        }
    }
    cases.sort();
    cases
}

/// Every gradient fixture has a row in the table, and every forward
/// fixture has a gradient fixture: a case cannot be added to one side only.
#[test]
fn every_fixture_has_a_gradient_case() {
    let grads = cases_of_kind("grad");
    let unused: Vec<&String> = grads
        .iter()
        .filter(|g| !CASES.iter().any(|c| **g == format!("grad_{c}")))
        .collect();
    assert!(
        unused.is_empty(),
        "gradient fixtures without a row: {unused:?}"
    );
    let missing: Vec<String> = cases_of_kind("forward")
        .into_iter()
        .filter(|c| !grads.contains(&format!("grad_{c}")))
        .collect();
    assert!(
        missing.is_empty(),
        "forward fixtures without grad_<case> (run tools/make_fixtures.py --only-grad): {missing:?}"
    );
}

/// The runner fails when one gradient value is off by 1e-9 (ten times the
/// tolerance), and says which case, tensor and index.
#[test]
fn runner_catches_a_wrong_gradient() {
    let mut pair = Pair::load("dense_chain");
    assert!(run::<DenseChain<f64>>(&pair).is_ok());
    let good = pair.clone();
    // grad.fc2.weight is [5, 6]: flat index 13 is [2, 1].
    let g = pair
        .grad
        .tensors
        .get_mut("grad.fc2.weight")
        .expect("grad.fc2.weight");
    g.values[13] += 1e-9 * g.values[13].abs().max(1.0);
    let err = run::<DenseChain<f64>>(&pair).expect_err("must fail");
    assert!(err.starts_with("dense_chain: "), "{err}");
    assert!(
        err.contains("`grad.fc2.weight`[2, 1] (flat index 13)"),
        "{err}"
    );
    assert!(err.contains("1 of 30 values differ"), "{err}");
    assert!(!err.contains("grad.input"), "{err}");

    let mut pair = good.clone();
    pair.grad
        .tensors
        .get_mut("grad.input")
        .expect("grad.input")
        .values[4] = f64::NAN;
    let err = run::<DenseChain<f64>>(&pair).expect_err("NaN must fail");
    assert!(err.contains("`grad.input`[4] (flat index 4)"), "{err}");
}

/// A forward fixture whose last bias changed leaves every gradient as it
/// was but not the loss: the loss check reports it, so a gradient fixture
/// cannot silently go with other weights.
#[test]
fn runner_catches_a_mismatched_forward_fixture() {
    let mut pair = Pair::load("dense_chain");
    pair.forward
        .tensors
        .get_mut("fc3.bias")
        .expect("fc3.bias")
        .values[0] += 1e-3;
    let err = run::<DenseChain<f64>>(&pair).expect_err("must fail");
    assert!(err.contains("`loss`"), "{err}");
}

/// The runner fails when a gradient is missing or one is left over.
#[test]
fn runner_catches_missing_and_extra_gradients() {
    let pair = Pair::load("dense_chain");
    let mut missing = pair.clone();
    missing.grad.tensors.remove("grad.fc1.bias");
    let err = run::<DenseChain<f64>>(&missing).expect_err("missing");
    assert!(err.contains("no `grad.fc1.bias`"), "{err}");
    let mut extra = pair.clone();
    let t = extra.grad.get("grad.fc1.bias").clone();
    extra.grad.tensors.insert("grad.fc4.bias".into(), t);
    let err = run::<DenseChain<f64>>(&extra).expect_err("extra");
    assert!(err.contains("grad.fc4.bias"), "{err}");
}

/// The DSL check notices a `model!` that differs from its fixtures' DSL.
#[test]
fn dsl_check_catches_a_different_model() {
    let pair = Pair::load("dense_chain");
    assert_eq!(check_dsl(&pair, "DenseChain"), Ok(()));
    assert!(check_dsl(&pair, "DenseDefault").is_err());
}
