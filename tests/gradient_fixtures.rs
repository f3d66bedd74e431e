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
const SOURCE: &str = include_str!("common/models.rs");

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

    // The training paths: `backward_params` (no input gradient, what a
    // step runs) and the batched forward and backward over three samples
    // (here the same one three times: the sum is three times PyTorch's).
    let mut params_only = Box::new(M::zeros());
    model.backward_params(&tape, &r, false, &mut params_only);
    let mut tapes: Box<[M::Tape; 3]> = Box::new(std::array::from_fn(|_| M::new_tape()));
    let ys = model.forward_train_batch([&x; 3], &mut tapes);
    for (k, yk) in ys.iter().enumerate() {
        let want = fwd.get("output");
        results.push(compare(
            &format!("batch output {k}"),
            yk.as_flat(),
            want,
            TOL,
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
            if let Some(want) = grad.tensors.get(&name) {
                let mut scaled = want.clone();
                for v in &mut scaled.values {
                    *v *= times;
                }
                let values: Vec<f64> = p.iter().collect();
                results.push(compare(&format!("{what} {name}"), &values, &scaled, TOL));
            }
        });
    }

    // The same with the gradient taken at the logits: the batched path
    // against three per-sample `backward_logits`.
    let mut want = Box::new(M::zeros());
    for _ in 0..3 {
        model.backward_logits(&tape, &r, &mut want);
    }
    let mut got = Box::new(M::zeros());
    model.backward_params_batch(&tapes, &[r; 3], true, &mut got);
    for i in 0..M::TENSORS {
        let want = common::Tensor64 {
            shape: vec![want.tensor(i).len()],
            values: want.tensor(i).to_vec(),
        };
        results.push(compare(
            &format!("batch logits tensor {i}"),
            got.tensor(i),
            &want,
            TOL,
        ));
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

// The models of every case (one file, shared with the other runner).
include!("common/models.rs");

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

/// The layer-major training step of `Lstm` and `Gru` models
/// (`forward_train_layers`, `backward_layers`: the batched recurrent
/// kernels, `LSTM_BATCH` samples per matrix–matrix product and the rest one
/// by one) in f64:
///
/// - against PyTorch autograd: the fixtures of `tools/make_fixtures.py`
///   (`tests/fixtures/<case>.safetensors`, `grad_<case>.safetensors`, the
///   cases the runner above checks one sample at a time) run as a
///   batch of 8 copies of the fixture's input (a block of `LSTM_BATCH` = 6
///   and 2 one by one): every output and dL/dinput is PyTorch's, every
///   parameter gradient 8 × PyTorch's;
/// - against the per-sample path (`forward_train` and `backward` of each
///   sample, gradients summed) on 9 different random samples (a block of 6
///   and 3 one by one): outputs, dL/dinput and every parameter gradient
///   within 1e-12.
///
/// The fixtures' models are tests/common/models.rs', as the runner's
/// (their DSL checked against each fixture's again).
mod layer_major {
    use super::common::{compare, load_params, normalize_dsl, struct_body, Fixture, Tensor64};
    use super::*;
    use staticnet::{model, Mode, Param, Rng, Tensor, Train};

    /// The bound of the issue (11, item 3) for f64 against PyTorch, scaled as
    /// in [`common::scaled_error`]; the same against the per-sample path.
    const TOL: f64 = 1e-12;

    model! {
        /// A per-step `Dense` before a GRU (no fixture).
        pub struct DenseGru {
            input: [7, 3],
            fc1: Dense(6, activation = tanh),
            gru: Gru(5),
            head: Dense(2),
        }
    }

    model! {
        /// A per-step `Dense` before the LSTM: the LSTM's dL/d(input) feeds a
        /// layer with parameters (no fixture).
        pub struct DenseLstm {
            input: [7, 3],
            fc1: Dense(6, activation = tanh),
            lstm: Lstm(5),
            head: Dense(2),
        }
    }

    model! {
        /// W2 of benches/train.rs (no fixture).
        pub struct LstmNet {
            input: [32, 8],
            lstm1: Lstm(32),
            head: Dense(1),
        }
    }

    /// One layer-major step over `xs` with `dL/dy = dys`: the outputs,
    /// dL/dinput and the parameter gradients.
    fn layer_major<M: Train<f64>>(
        m: &M,
        xs: &[M::Input],
        dys: impl Fn(usize, &M::Output) -> M::Output,
    ) -> (Vec<M::Output>, Vec<M::Input>, Box<M>) {
        let n = xs.len();
        let refs: Vec<&M::Input> = xs.iter().collect();
        let mut tapes: Vec<M::Tape> = (0..n).map(|_| M::new_tape()).collect();
        let mut scratch: Vec<M::Tape> = (0..n).map(|_| M::new_tape()).collect();
        let mut outs = vec![M::Output::zeros(); n];
        let mut rng = Rng::new(1);
        m.forward_train_layers(&refs, &mut tapes, &mut outs, Mode::TRAIN, &mut rng)
            .unwrap();
        let dy: Vec<M::Output> = outs.iter().enumerate().map(|(k, y)| dys(k, y)).collect();
        let mut grads = Box::new(M::zeros());
        let mut dxs = vec![M::Input::zeros(); n];
        m.backward_layers(&tapes, &dy, false, &mut grads, &mut scratch, &mut dxs)
            .unwrap();
        (outs, dxs, grads)
    }

    fn flat(t: &[f64]) -> Tensor64 {
        Tensor64 {
            shape: vec![t.len()],
            values: t.to_vec(),
        }
    }

    /// The fixture `case` (whose `model!` here is `type_name`) as a batch of 8
    /// copies, against PyTorch.
    fn against_pytorch<M: Train<f64>>(case: &str, type_name: &str) {
        let (fwd, grad) = (Fixture::load(case), Fixture::load(&format!("grad_{case}")));
        let body = struct_body(SOURCE, type_name).expect("the model is in this file");
        for fx in [&fwd, &grad] {
            assert_eq!(
                normalize_dsl(body),
                normalize_dsl(fx.meta("dsl")),
                "{case}: not the fixture's DSL"
            );
        }
        let mut m = Box::new(M::zeros());
        load_params(&fwd, &mut *m).unwrap();
        let x = M::Input::from_flat(&fwd.get("input").values).unwrap();
        let r = M::Output::from_flat(&grad.get("r").values).unwrap();
        const N: usize = 8;
        let (outs, dxs, grads) = layer_major(&*m, &[x; N], |_, _| r);
        let mut results = Vec::new();
        for k in 0..N {
            results.push(compare(
                &format!("output {k}"),
                outs[k].as_flat(),
                fwd.get("output"),
                TOL,
            ));
            results.push(compare(
                &format!("grad.input {k}"),
                dxs[k].as_flat(),
                grad.get("grad.input"),
                TOL,
            ));
        }
        let mut seen = 0;
        grads.visit_params(&mut |p: Param<'_, f64>| {
            let name = format!("grad.{}", p.name);
            let mut want = grad.get(&name).clone();
            for v in &mut want.values {
                *v *= N as f64;
            }
            results.push(compare(&name, &p.iter().collect::<Vec<f64>>(), &want, TOL));
            seen += 1;
        });
        assert!(seen > 0);
        let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        assert!(errors.is_empty(), "{case}: {}", errors.join("\n"));
    }

    #[test]
    fn lstm_last_against_pytorch() {
        against_pytorch::<LstmLast<f64>>("lstm_last", "LstmLast");
    }

    #[test]
    fn lstm_seq_against_pytorch() {
        against_pytorch::<LstmSeq<f64>>("lstm_seq", "LstmSeq");
    }

    #[test]
    fn lstm_lstm_against_pytorch() {
        against_pytorch::<LstmLstm<f64>>("lstm_lstm", "LstmLstm");
    }

    #[test]
    fn rnn_lstm_against_pytorch() {
        against_pytorch::<RnnLstm<f64>>("rnn_lstm", "RnnLstm");
    }

    #[test]
    fn lstm_seq_dense_against_pytorch() {
        against_pytorch::<LstmSeqDense<f64>>("lstm_seq_dense", "LstmSeqDense");
    }

    #[test]
    fn gru_last_against_pytorch() {
        against_pytorch::<GruLast<f64>>("gru_last", "GruLast");
    }

    #[test]
    fn gru_seq_against_pytorch() {
        against_pytorch::<GruSeq<f64>>("gru_seq", "GruSeq");
    }

    #[test]
    fn gru_gru_against_pytorch() {
        against_pytorch::<GruGru<f64>>("gru_gru", "GruGru");
    }

    #[test]
    fn gru_gru_seq_against_pytorch() {
        against_pytorch::<GruGruSeq<f64>>("gru_gru_seq", "GruGruSeq");
    }

    #[test]
    fn gru_dense_against_pytorch() {
        against_pytorch::<GruDense<f64>>("gru_dense", "GruDense");
    }

    /// Seeded values in [-1.5, 1.5).
    fn random<X: Tensor<f64>>(seed: u64) -> X {
        let mut rng = Rng::new(seed);
        let mut x = X::zeros();
        for v in x.as_flat_mut() {
            *v = 3.0 * rng.uniform() - 1.5;
        }
        x
    }

    /// 9 random samples (one block of `LSTM_BATCH` = 6 and a rest of 3)
    /// through the layer-major step and through the per-sample path.
    fn against_per_sample<M: Train<f64>>(seed: u64) {
        let mut m = Box::new(M::zeros());
        m.init_in(seed);
        const N: u64 = 9;
        let xs: Vec<M::Input> = (0..N).map(|k| random(seed * 100 + k)).collect();
        let rs: Vec<M::Output> = (0..N).map(|k| random(seed * 1000 + k)).collect();
        let (outs, dxs, grads) = layer_major(&*m, &xs, |k, _| rs[k]);
        let mut want = Box::new(M::zeros());
        let mut tape = Box::new(M::new_tape());
        let mut results = Vec::new();
        let mut live_dx = false;
        for (k, x) in xs.iter().enumerate() {
            let y = m.forward_train(x, &mut tape);
            let dx = m.backward(&tape, &rs[k], &mut want);
            results.push(compare(
                &format!("output {k}"),
                outs[k].as_flat(),
                &flat(y.as_flat()),
                TOL,
            ));
            results.push(compare(
                &format!("dL/dinput {k}"),
                dxs[k].as_flat(),
                &flat(dx.as_flat()),
                TOL,
            ));
            live_dx |= dx.as_flat().iter().any(|v| v.abs() > 1e-6);
        }
        assert!(live_dx, "seed {seed}: vacuous dL/dinput");
        for i in 0..M::TENSORS {
            assert!(
                want.tensor(i).iter().any(|v| v.abs() > 1e-6),
                "seed {seed}: vacuous gradient {i}"
            );
            results.push(compare(
                &format!("gradient tensor {i}"),
                grads.tensor(i),
                &flat(want.tensor(i)),
                TOL,
            ));
        }
        let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        assert!(errors.is_empty(), "seed {seed}: {}", errors.join("\n"));
    }

    #[test]
    fn layer_major_equals_per_sample() {
        against_per_sample::<LstmLast<f64>>(1);
        against_per_sample::<LstmSeq<f64>>(2);
        against_per_sample::<LstmLstm<f64>>(3);
        against_per_sample::<RnnLstm<f64>>(4);
        against_per_sample::<LstmSeqDense<f64>>(5);
        against_per_sample::<DenseLstm<f64>>(6);
        against_per_sample::<LstmNet<f64>>(7);
        against_per_sample::<GruLast<f64>>(8);
        against_per_sample::<GruSeq<f64>>(9);
        against_per_sample::<GruGru<f64>>(10);
        against_per_sample::<GruGruSeq<f64>>(11);
        against_per_sample::<GruDense<f64>>(12);
        against_per_sample::<DenseGru<f64>>(13);
    }
}
