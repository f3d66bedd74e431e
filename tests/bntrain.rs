//! Layer-major mini-batch training (`Train::forward_train_layers`,
//! `backward_layers`, `update_running_stats`) against PyTorch in `train()`
//! mode, against central finite differences through the batch statistics,
//! and through `fit` and the no_std `Trainer`.
//!
//! The fixtures `tests/fixtures/bntrain/<case>.safetensors` come from
//! `tools/make_fixtures_bntrain.py` (seeded): each holds the `state_dict`
//! before the step, a batch `input` [N, ...], PyTorch's `output`, `r` and
//! autograd's gradients of `Σ output ⊙ r` over the batch (`grad.input`,
//! `grad.<param>`), and the running statistics after the step
//! (`after.<bn>.*`); the Dropout case also the mask PyTorch drew
//! (`mask.drop`), injected here with `DropoutMode::Replay`. Tolerances:
//! f64 within 1e-12 · max(1, |PyTorch|).

use safetensors::{Dtype, SafeTensors};
use staticnet::loss::MeanSquaredError;
use staticnet::metrics::NoMetric;
use staticnet::optim::{Sgd, SgdConfig};
use staticnet::train::BatchMemory;
use staticnet::{
    fit, model, Buffer, DropoutMode, FitConfig, Float, LoadOptions, Mode, Model, Rng, Tensor,
    Train, TrainError, Trainer, Vector, Weights,
};
use std::collections::BTreeMap;

model! {
    /// Fixture `dense`: BatchNorm on a vector, after Dense.
    pub struct DenseBn {
        input: [5],
        fc1: Dense(6),
        bn: BatchNorm(momentum = 0.2),
        act: Tanh,
        out: Dense(3),
    }
}

model! {
    /// Fixture `conv`: BatchNorm per channel of an image, after Conv2d.
    pub struct ConvBn {
        input: [2, 5, 5],
        conv: Conv2d(3, kernel = 3),
        bn: BatchNorm(eps = 1e-3),
        relu: Relu,
        flat: Flatten,
        out: Dense(2),
    }
}

model! {
    /// Fixture `depthwise`: BatchNorm after DepthwiseConv2d.
    pub struct DwBn {
        input: [3, 6, 6],
        dw: DepthwiseConv2d(kernel = 3, depth_multiplier = 2, padding = same),
        bn: BatchNorm,
        r: Relu6,
        gap: GlobalAvgPool,
        out: Dense(2),
    }
}

model! {
    /// Fixture `conv1d`: BatchNorm per feature of a sequence, after Conv1d.
    pub struct C1Bn {
        input: [8, 3],
        c: Conv1d(4, kernel = 3, padding = same),
        bn: BatchNorm,
        r: Relu,
        gap: GlobalAvgPool,
        out: Dense(2),
    }
}

model! {
    /// Fixture `seq`: BatchNorm on an LSTM's every-step output.
    pub struct SeqBn {
        input: [6, 3],
        lstm: Lstm(4, return_sequences = true),
        bn: BatchNorm(momentum = 0.05),
        head: Dense(2),
    }
}

model! {
    /// Fixture `residual`: BatchNorm in a residual graph; `input` is read
    /// by two layers.
    pub struct ResBn {
        input: [2, 6, 6],
        c1: Conv2d(3, kernel = 3, padding = same),
        b1: BatchNorm,
        r1: Relu,
        c2: Conv2d(3, kernel = 3, padding = same),
        b2: BatchNorm,
        sc: Conv2d(3, kernel = 1)(input),
        sbn: BatchNorm,
        s: Add(b2, sbn, activation = relu),
        gap: GlobalAvgPool,
        out: Dense(2),
    }
}

model! {
    /// Fixture `dropout`: Dropout with PyTorch's mask injected, then
    /// BatchNorm.
    pub struct DropNet {
        input: [6],
        fc1: Dense(8, activation = relu),
        drop: Dropout(0.4),
        bn: BatchNorm,
        out: Dense(3),
    }
}

/// A fixture file: its bytes, its F64 tensors (shape, values) and its I64
/// scalars.
struct Fx {
    case: String,
    bytes: Vec<u8>,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
    counts: BTreeMap<String, i64>,
}

impl Fx {
    fn load(case: &str) -> Fx {
        let path = format!(
            "{}/tests/fixtures/bntrain/{case}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run tools/make_fixtures_bntrain.py)"));
        let st = SafeTensors::deserialize(&bytes).expect("a safetensors file");
        let (mut tensors, mut counts) = (BTreeMap::new(), BTreeMap::new());
        for (name, view) in st.iter() {
            match view.dtype() {
                Dtype::F64 => {
                    let values = view
                        .data()
                        .chunks_exact(8)
                        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                        .collect();
                    tensors.insert(name.to_owned(), (view.shape().to_vec(), values));
                }
                Dtype::I64 => {
                    let b: [u8; 8] = view.data().try_into().expect("one I64");
                    counts.insert(name.to_owned(), i64::from_le_bytes(b));
                }
                _ => {}
            }
        }
        Fx {
            case: case.to_owned(),
            bytes,
            tensors,
            counts,
        }
    }

    fn get(&self, name: &str) -> &[f64] {
        &self
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("{}: no tensor `{name}`", self.case))
            .1
    }

    /// The model of this fixture (the state before the step), loaded
    /// strictly but for the fixture's own tensors.
    fn model<T: Float, M: Model<T>>(&self) -> M {
        let ignore: Vec<&str> = self
            .tensors
            .keys()
            .chain(self.counts.keys())
            .map(String::as_str)
            .filter(|n| {
                ["input", "output", "r"].contains(n)
                    || ["grad.", "after.", "mask."]
                        .iter()
                        .any(|p| n.starts_with(p))
            })
            .collect();
        M::from_safetensors_with(&self.bytes, LoadOptions::new().ignore(&ignore))
            .unwrap_or_else(|e| panic!("{}: {e}", self.case))
    }

    /// The batch tensor `name` [N, ...] as N tensors of one sample.
    fn samples<T: Float, X: Tensor<T>>(&self, name: &str) -> Vec<X> {
        self.get(name)
            .chunks_exact(X::LEN)
            .map(|v| {
                let v: Vec<T> = v.iter().map(|&x| T::of_f64(x)).collect();
                X::from_flat(&v).expect("one sample")
            })
            .collect()
    }
}

/// `got ≈ want` within 1e-12 · max(1, |want|) (f64) or 1e-5 · (1 + |want|)
/// (f32); the error names the tensor and the first index that differs.
fn close<T: Float>(what: &str, got: &[T], want: &[f64]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} values, PyTorch {}",
            got.len(),
            want.len()
        ));
    }
    let f64_type = core::mem::size_of::<T>() == 8;
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = g.to_f64();
        let bound = if f64_type {
            1e-12 * w.abs().max(1.0)
        } else {
            1e-5 * (1.0 + w.abs())
        };
        if (g - w).is_nan() || (g - w).abs() > bound {
            return Err(format!("{what}[{k}] = {g:e}, PyTorch {w:e}"));
        }
    }
    Ok(())
}

fn flat<T: Float, X: Tensor<T>>(xs: &[X]) -> Vec<T> {
    xs.iter().flat_map(|x| x.as_flat().to_vec()).collect()
}

/// One layer-major step of the fixture `case` in `T`: the outputs, dL/dinput
/// (with `dxs`), every parameter gradient (with and without `dxs`: the
/// parameter-only backward must give the same), and every buffer after
/// `update_running_stats`. `inject` writes PyTorch's Dropout mask into the
/// tapes (then the forward replays it).
fn check<T: Float, M: Train<T>>(case: &str, inject: impl Fn(&mut M::Tape, &[T])) -> Vec<String>
where
    M::Tape: Clone,
{
    let fx = Fx::load(case);
    let mut model: M = fx.model();
    let xs: Vec<M::Input> = fx.samples("input");
    let rs: Vec<M::Output> = fx.samples("r");
    let n = xs.len();
    let mut tapes: Vec<M::Tape> = (0..n).map(|_| M::new_tape()).collect();
    let mut mode = Mode::TRAIN;
    if let Some((_, mask)) = fx.tensors.get("mask.drop") {
        let per = mask.len() / n;
        for (tape, m) in tapes.iter_mut().zip(mask.chunks_exact(per)) {
            let m: Vec<T> = m.iter().map(|&v| T::of_f64(v)).collect();
            inject(tape, &m);
        }
        mode.dropout = DropoutMode::Replay;
    }
    let mut scratch = tapes.clone();
    let mut outs = vec![M::Output::zeros(); n];
    let refs: Vec<&M::Input> = xs.iter().collect();
    let mut errors = Vec::new();
    model
        .forward_train_layers(&refs, &mut tapes, &mut outs, mode, &mut Rng::new(0))
        .expect("a batch of several samples");
    errors.extend(close("output", &flat(&outs), fx.get("output")).err());

    let mut grads = M::zeros();
    let mut dxs = vec![M::Input::zeros(); n];
    model
        .backward_layers(&tapes, &rs, false, &mut grads, &mut scratch, &mut dxs)
        .expect("backward");
    errors.extend(close("grad.input", &flat(&dxs), fx.get("grad.input")).err());
    let mut params_only = M::zeros();
    model
        .backward_layers(&tapes, &rs, false, &mut params_only, &mut scratch, &mut [])
        .expect("backward without dL/dinput");
    let mut seen = 0;
    grads.visit_params(&mut |p| {
        seen += 1;
        let got: Vec<T> = p.iter().collect();
        errors.extend(close(p.name, &got, fx.get(&format!("grad.{}", p.name))).err());
    });
    params_only.visit_params(&mut |p| {
        let got: Vec<T> = p.iter().collect();
        let what = format!("{} (parameter-only backward)", p.name);
        errors.extend(close(&what, &got, fx.get(&format!("grad.{}", p.name))).err());
    });
    let want = fx.tensors.keys().filter(|n| n.starts_with("grad.")).count() - 1;
    if seen != want {
        errors.push(format!("{seen} parameter gradients, PyTorch has {want}"));
    }

    model.update_running_stats(&tapes[0]);
    let mut buffers = 0;
    model.visit_buffers(&mut |b| {
        buffers += 1;
        match b {
            Buffer::Values(p) => {
                let got: Vec<T> = p.iter().collect();
                errors.extend(close(p.name, &got, fx.get(&format!("after.{}", p.name))).err());
            }
            Buffer::Count { name, value } => {
                let want = fx.counts[&format!("after.{name}")];
                if *value != want {
                    errors.push(format!("{name} = {value}, PyTorch {want}"));
                }
            }
        }
    });
    let want = fx.counts.keys().filter(|n| n.starts_with("after.")).count() * 3;
    if buffers != want {
        errors.push(format!("{buffers} buffers, PyTorch has {want}"));
    }
    errors
}

fn no_mask<Tp, T>(_: &mut Tp, _: &[T]) {}

fn assert_ok(case: &str, errors: Vec<String>) {
    assert!(errors.is_empty(), "{case}: {}", errors.join("; "));
}

#[test]
fn batchnorm_after_dense_matches_pytorch_train_mode() {
    assert_ok("dense", check::<f64, DenseBn<f64>>("dense", no_mask));
}

#[test]
fn batchnorm_after_conv2d_matches_pytorch_train_mode() {
    assert_ok("conv", check::<f64, ConvBn<f64>>("conv", no_mask));
}

#[test]
fn batchnorm_after_depthwise_matches_pytorch_train_mode() {
    assert_ok("depthwise", check::<f64, DwBn<f64>>("depthwise", no_mask));
}

#[test]
fn batchnorm_after_conv1d_matches_pytorch_train_mode() {
    assert_ok("conv1d", check::<f64, C1Bn<f64>>("conv1d", no_mask));
}

#[test]
fn batchnorm_on_a_sequence_matches_pytorch_train_mode() {
    assert_ok("seq", check::<f64, SeqBn<f64>>("seq", no_mask));
}

#[test]
fn batchnorm_in_a_residual_graph_matches_pytorch_train_mode() {
    assert_ok("residual", check::<f64, ResBn<f64>>("residual", no_mask));
}

#[test]
fn dropout_with_pytorchs_mask_matches_pytorch_train_mode() {
    let inject = |tape: &mut DropNetTape<f64>, m: &[f64]| {
        tape.__drop.copy_from_slice(m);
    };
    assert_ok("dropout", check::<f64, DropNet<f64>>("dropout", inject));
}

/// A test that can fail: the same fixture in eval mode (running
/// statistics) is far from PyTorch's `train()` output.
#[test]
fn eval_mode_is_not_train_mode() {
    let fx = Fx::load("dense");
    let model: DenseBn<f64> = fx.model();
    let xs: Vec<Vector<f64, 5>> = fx.samples("input");
    let refs: Vec<&_> = xs.iter().collect();
    let mut tapes = vec![DenseBn::<f64>::new_tape(); xs.len()];
    let mut outs = vec![Vector::zeros(); xs.len()];
    model
        .forward_train_layers(&refs, &mut tapes, &mut outs, Mode::EVAL, &mut Rng::new(0))
        .unwrap();
    assert!(close("output", &flat(&outs), fx.get("output")).is_err());
    // … and eval mode is the one-sample training forward, sample by sample.
    for (x, out) in xs.iter().zip(&outs) {
        let mut tape = DenseBn::<f64>::new_tape();
        let y = model.forward_train(x, &mut tape);
        assert!((y - out).norm() < 1e-14);
        assert!((y - model.forward(x)).norm() < 1e-12);
    }
}

/// The loss `Σ_k out_k ⊙ r_k` of a layer-major forward in train mode.
fn batch_loss<M: Train<f64>>(model: &M, xs: &[M::Input], rs: &[M::Output]) -> f64 {
    let refs: Vec<&M::Input> = xs.iter().collect();
    let mut tapes: Vec<M::Tape> = (0..xs.len()).map(|_| M::new_tape()).collect();
    let mut outs = vec![M::Output::zeros(); xs.len()];
    model
        .forward_train_layers(&refs, &mut tapes, &mut outs, Mode::TRAIN, &mut Rng::new(0))
        .unwrap();
    outs.iter()
        .zip(rs)
        .map(|(o, r)| {
            o.as_flat()
                .iter()
                .zip(r.as_flat())
                .map(|(a, b)| a * b)
                .sum::<f64>()
        })
        .sum()
}

/// Central finite differences in f64 through the batch statistics: every
/// input value of one sample and every parameter of `M`, against
/// `backward_layers`. Perturbing one sample's input moves every sample's
/// output (the batch mean and variance move).
fn finite_differences<M: Train<f64>>(case: &str)
where
    M::Tape: Clone,
{
    let fx = Fx::load(case);
    let model: M = fx.model();
    let xs: Vec<M::Input> = fx.samples("input");
    let rs: Vec<M::Output> = fx.samples("r");
    let n = xs.len();
    let refs: Vec<&M::Input> = xs.iter().collect();
    let mut tapes: Vec<M::Tape> = (0..n).map(|_| M::new_tape()).collect();
    let mut scratch = tapes.clone();
    let mut outs = vec![M::Output::zeros(); n];
    model
        .forward_train_layers(&refs, &mut tapes, &mut outs, Mode::TRAIN, &mut Rng::new(0))
        .unwrap();
    let mut grads = M::zeros();
    let mut dxs = vec![M::Input::zeros(); n];
    model
        .backward_layers(&tapes, &rs, false, &mut grads, &mut scratch, &mut dxs)
        .unwrap();
    let h = 1e-6;
    let tol = |fd: f64, an: f64| (fd - an).abs() <= 1e-7 * (1.0 + an.abs());
    for k in [0, n - 1] {
        for j in 0..M::Input::LEN {
            let mut plus = xs.clone();
            plus[k].as_flat_mut()[j] += h;
            let mut minus = xs.clone();
            minus[k].as_flat_mut()[j] -= h;
            let fd = (batch_loss(&model, &plus, &rs) - batch_loss(&model, &minus, &rs)) / (2.0 * h);
            let an = dxs[k].as_flat()[j];
            assert!(
                tol(fd, an),
                "{case}: dL/dx[{k}][{j}] = {an:e}, finite differences {fd:e}"
            );
        }
    }
    let mut checked = 0;
    for t in 0..M::TENSORS {
        for j in 0..model.tensor(t).len() {
            let mut m: M = fx.model();
            m.tensor_mut(t)[j] += h;
            let up = batch_loss(&m, &xs, &rs);
            m.tensor_mut(t)[j] -= 2.0 * h;
            let down = batch_loss(&m, &xs, &rs);
            let fd = (up - down) / (2.0 * h);
            let an = grads.tensor(t)[j];
            assert!(
                tol(fd, an),
                "{case}: tensor {t}[{j}] = {an:e}, finite differences {fd:e}"
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
    // One sample's input moves every sample's output.
    let mut moved = xs.clone();
    moved[0].as_flat_mut()[0] += 0.5;
    let refs: Vec<&M::Input> = moved.iter().collect();
    let mut outs2 = vec![M::Output::zeros(); n];
    model
        .forward_train_layers(&refs, &mut tapes, &mut outs2, Mode::TRAIN, &mut Rng::new(0))
        .unwrap();
    for (k, (a, b)) in outs.iter().zip(&outs2).enumerate() {
        let changed = a
            .as_flat()
            .iter()
            .zip(b.as_flat())
            .any(|(u, v)| (u - v).abs() > 1e-9);
        assert!(changed, "{case}: sample {k}'s output did not move");
    }
}

#[test]
fn dense_batchnorm_gradients_match_finite_differences() {
    finite_differences::<DenseBn<f64>>("dense");
}

#[test]
fn conv_batchnorm_gradients_match_finite_differences() {
    finite_differences::<ConvBn<f64>>("conv");
}

#[test]
fn residual_batchnorm_gradients_match_finite_differences() {
    finite_differences::<ResBn<f64>>("residual");
}

#[test]
fn sequence_batchnorm_gradients_match_finite_differences() {
    finite_differences::<SeqBn<f64>>("seq");
}

/// Every buffer of `m` in `state_dict` order, counts as floats.
fn buffers<T: Float, M: Model<T>>(m: &M) -> Vec<f64> {
    let mut v = Vec::new();
    m.visit_buffers(&mut |b| match b {
        Buffer::Values(p) => v.extend(p.iter().map(|x| x.to_f64())),
        Buffer::Count { value, .. } => v.push(*value as f64),
    });
    v
}

/// Every parameter of `m` in `state_dict` order.
fn params<T: Float, M: Model<T>>(m: &M) -> Vec<f64> {
    let mut v = Vec::new();
    m.visit_params(&mut |p| v.extend(p.iter().map(|x| x.to_f64())));
    v
}

/// Targets whose mean-squared-error gradient (per sample, `2 (out − y)/O`)
/// is the fixture's `r`: one step of SGD then moves every weight by
/// `−lr · grad/N` with PyTorch's `grad` of `Σ output ⊙ r`.
fn targets_for_r(fx: &Fx) -> Vec<Vector<f64, 3>> {
    let want: Vec<Vector<f64, 3>> = fx.samples("output");
    let r: Vec<Vector<f64, 3>> = fx.samples("r");
    want.iter().zip(&r).map(|(o, r)| o - r * 1.5).collect()
}

/// After one step: the weights are PyTorch's minus `lr · grad / N`, the
/// buffers PyTorch's after its `train()` forward.
fn stepped_like_pytorch(fx: &Fx, model: &DenseBn<f64>, lr: f64) -> Result<(), String> {
    let n = fx.get("input").len() / 5;
    let before: DenseBn<f64> = fx.model();
    let mut i = 0;
    let mut err = Ok(());
    let got = params(model);
    before.visit_params(&mut |p| {
        let grad = fx.get(&format!("grad.{}", p.name));
        let want: Vec<f64> = p
            .iter()
            .zip(grad)
            .map(|(w, g)| w - lr * g / n as f64)
            .collect();
        let len = want.len();
        if err.is_ok() {
            err = close(p.name, &got[i..i + len], &want);
        }
        i += len;
    });
    err?;
    let mut want = Vec::new();
    for b in ["running_mean", "running_var"] {
        want.extend_from_slice(fx.get(&format!("after.bn.{b}")));
    }
    want.push(fx.counts["after.bn.num_batches_tracked"] as f64);
    close("buffers", &buffers(model), &want)
}

#[test]
fn fit_trains_with_batch_statistics_and_updates_running_stats_as_pytorch() {
    let fx = Fx::load("dense");
    let xs: Vec<Vector<f64, 5>> = fx.samples("input");
    let ys = targets_for_r(&fx);
    let lr = 0.1;
    for threads in [1, 4] {
        let mut model: DenseBn<f64> = fx.model();
        let mut sgd = Sgd::new::<f64>(SgdConfig {
            lr,
            ..Default::default()
        });
        let config = FitConfig {
            batch_size: xs.len(),
            shuffle: false,
            verbose: 0,
            threads,
            ..Default::default()
        };
        fit(
            &mut model,
            &mut sgd,
            &MeanSquaredError,
            &NoMetric,
            &xs,
            &ys,
            &config,
        )
        .unwrap();
        // With threads = 4 too: the batch is not split (one thread), so the
        // statistics are the whole batch's.
        stepped_like_pytorch(&fx, &model, lr).unwrap_or_else(|e| panic!("threads {threads}: {e}"));
    }
}

#[test]
fn trainer_step_layers_in_caller_memory_matches_pytorch() {
    let fx = Fx::load("dense");
    let xs: Vec<Vector<f64, 5>> = fx.samples("input");
    let ys = targets_for_r(&fx);
    let mut model: DenseBn<f64> = fx.model();
    let lr = 0.1;
    let mut trainer = Trainer::new(Sgd::new::<f64>(SgdConfig {
        lr,
        ..Default::default()
    }));
    // Room for 16 samples; a batch of 10 uses the first 10 (zeroed, as in a
    // `static`: mode TRAIN).
    let mut memory = BatchMemory::<f64, DenseBn<f64>, 16>::boxed();
    assert_eq!(memory.mode, Mode::TRAIN);
    trainer
        .step_layers(&mut model, &MeanSquaredError, &xs, &ys, &mut memory)
        .unwrap();
    stepped_like_pytorch(&fx, &model, lr).unwrap();
}

#[test]
fn fit_moves_running_stats_and_eval_uses_them() {
    // y = 3·x0 − x1: a regression through BatchNorm, 40 samples, batches of
    // 8 (5 steps per epoch), 3 epochs.
    let mut rng = Rng::new(3);
    let xs: Vec<Vector<f32, 5>> = (0..40)
        .map(|_| Vector::from_fn(|_, _| (rng.normal() * 2.0 + 1.0) as f32))
        .collect();
    let ys: Vec<Vector<f32, 3>> = xs
        .iter()
        .map(|x| Vector::repeat(3.0 * x[0] - x[1]))
        .collect();
    let mut model = DenseBn::<f32>::init(1);
    let mut sgd = Sgd::new::<f32>(SgdConfig::default());
    let config = FitConfig {
        epochs: 3,
        batch_size: 8,
        verbose: 0,
        ..Default::default()
    };
    let history = fit(
        &mut model,
        &mut sgd,
        &MeanSquaredError,
        &NoMetric,
        &xs,
        &ys,
        &config,
    )
    .unwrap();
    assert!(history.loss[2] < history.loss[0], "{:?}", history.loss);
    assert_eq!(model.bn.num_batches_tracked, 15);
    // Initially mean 0 and variance 1; the batches' mean of W x + b is not.
    assert!(
        model.bn.running_mean.iter().any(|m| m.abs() > 0.05),
        "{:?}",
        model.bn.running_mean
    );
    assert!(model.bn.running_var.iter().any(|v| (v - 1.0).abs() > 0.05));
    // Inference normalises with the running statistics: moving them moves
    // `predict`'s outputs, and `predict` is `forward`.
    let before = staticnet::predict(&model, &xs[..4]).unwrap();
    for (p, x) in before.iter().zip(&xs) {
        assert_eq!(*p, model.forward(x));
    }
    model.bn.running_mean[0] += 1.0;
    let after = staticnet::predict(&model, &xs[..4]).unwrap();
    assert!(before.iter().zip(&after).all(|(a, b)| a != b));
}

#[test]
fn batchnorm_on_one_value_per_channel_is_an_error_that_changes_nothing() {
    let fx = Fx::load("dense");
    let xs: Vec<Vector<f64, 5>> = fx.samples("input");
    let ys = targets_for_r(&fx);
    let model: DenseBn<f64> = fx.model();
    let mut tapes = vec![DenseBn::<f64>::new_tape()];
    let mut outs = vec![Vector::zeros()];
    let err = model
        .forward_train_layers(
            &[&xs[0]],
            &mut tapes,
            &mut outs,
            Mode::TRAIN,
            &mut Rng::new(0),
        )
        .unwrap_err();
    let TrainError::Config(msg) = err else {
        panic!("{err:?}")
    };
    assert!(
        msg.contains("`bn`") && msg.contains("more than one value per channel"),
        "{msg}"
    );
    // Frozen statistics take one sample.
    model
        .forward_train_layers(
            &[&xs[0]],
            &mut tapes,
            &mut outs,
            Mode::FINE_TUNE,
            &mut Rng::new(0),
        )
        .unwrap();
    // A step on one sample: an error, and weights, optimizer and buffers
    // are as they were.
    let mut model: DenseBn<f64> = fx.model();
    let mut trainer = Trainer::new(Sgd::new::<f64>(SgdConfig::default()));
    let mut memory = BatchMemory::<f64, DenseBn<f64>, 4>::boxed();
    let (p0, b0) = (params(&model), buffers(&model));
    assert!(trainer
        .step_layers(
            &mut model,
            &MeanSquaredError,
            &xs[..1],
            &ys[..1],
            &mut memory
        )
        .is_err());
    assert_eq!((params(&model), buffers(&model)), (p0.clone(), b0.clone()));
    // `fit` whose last batch has one sample stops there, as PyTorch would.
    let config = FitConfig {
        batch_size: 3,
        shuffle: false,
        verbose: 0,
        ..Default::default()
    };
    let mut sgd = Sgd::new::<f64>(SgdConfig::default());
    let err = fit(
        &mut model,
        &mut sgd,
        &MeanSquaredError,
        &NoMetric,
        &xs,
        &ys,
        &config,
    );
    assert!(matches!(err, Err(TrainError::Config(_))), "{err:?}");
    // An image BatchNorm has S = 9 values per channel in one sample: fine.
    let conv: ConvBn<f64> = Fx::load("conv").model();
    let x: Vec<_> = Fx::load("conv").samples::<f64, staticnet::Image<f64, 2, 5, 5>>("input");
    let mut tapes = vec![ConvBn::<f64>::new_tape()];
    let mut outs = vec![Vector::zeros()];
    conv.forward_train_layers(
        &[&x[0]],
        &mut tapes,
        &mut outs,
        Mode::TRAIN,
        &mut Rng::new(0),
    )
    .unwrap();
}

#[test]
fn fine_tune_mode_freezes_batchnorm() {
    // Frozen statistics: the layer-major forward is the inference forward,
    // and the step leaves the running statistics alone.
    let fx = Fx::load("residual");
    let mut model: ResBn<f64> = fx.model();
    let xs: Vec<staticnet::Image<f64, 2, 6, 6>> = fx.samples("input");
    let refs: Vec<&_> = xs.iter().collect();
    let mut tapes = vec![ResBn::<f64>::new_tape(); xs.len()];
    let mut outs = vec![Vector::zeros(); xs.len()];
    model
        .forward_train_layers(
            &refs,
            &mut tapes,
            &mut outs,
            Mode::FINE_TUNE,
            &mut Rng::new(0),
        )
        .unwrap();
    for (x, out) in xs.iter().zip(&outs) {
        assert!((model.forward(x) - out).norm() < 1e-12);
    }
    let b0 = buffers(&model);
    model.update_running_stats(&tapes[0]);
    assert_eq!(buffers(&model), b0);
}

model! {
    /// Dropout alone before a layer, for its mask statistics.
    pub struct DropWide {
        input: [500],
        drop: Dropout(0.3),
        out: Dense(1),
    }
}

#[test]
fn dropout_masks_keep_one_minus_rate_scaled_and_are_seeded() {
    let xs: Vec<Vector<f64, 500>> = (0..8).map(|k| Vector::repeat(1.0 + k as f64)).collect();
    let refs: Vec<&_> = xs.iter().collect();
    let model = DropWide::<f64>::init(1);
    let run = |seed: u64| {
        let mut tapes = vec![DropWide::<f64>::new_tape(); 8];
        let mut outs = vec![Vector::zeros(); 8];
        model
            .forward_train_layers(
                &refs,
                &mut tapes,
                &mut outs,
                Mode::TRAIN,
                &mut Rng::new(seed),
            )
            .unwrap();
        tapes
    };
    let tapes = run(5);
    let (mut kept, mut total) = (0usize, 0usize);
    for (k, tape) in tapes.iter().enumerate() {
        for (&y, &m) in tape.drop.iter().zip(tape.__drop.iter()) {
            let x = 1.0 + k as f64;
            if m == 0.0 {
                assert_eq!(y, 0.0);
            } else {
                // Inverted dropout: kept values scaled by 1/(1 − 0.3).
                assert_eq!(m, 1.0 / (1.0 - 0.3));
                assert!((y - x / 0.7).abs() < 1e-12);
                kept += 1;
            }
            total += 1;
        }
    }
    // 4000 values: the kept fraction is 0.7 within 5 standard deviations
    // (√(0.21/4000) ≈ 0.0072).
    let frac = kept as f64 / total as f64;
    assert!((frac - 0.7).abs() < 5.0 * 0.0073, "kept {frac}");
    // Seeded: the same seed draws the same masks, another seed others; and
    // each sample has its own.
    assert_eq!(run(5), tapes);
    assert_ne!(run(6)[0].__drop, tapes[0].__drop);
    assert_ne!(tapes[0].__drop, tapes[1].__drop);
    // Backward multiplies by the mask; eval mode is the identity.
    let mut scratch = tapes.clone();
    let dys = vec![Vector::repeat(1.0); 8];
    let mut dxs = vec![Vector::zeros(); 8];
    let mut grads = DropWide::zeros();
    model
        .backward_layers(&tapes, &dys, false, &mut grads, &mut scratch, &mut dxs)
        .unwrap();
    for (dx, tape) in dxs.iter().zip(&tapes) {
        for ((&d, &m), &w) in dx
            .iter()
            .zip(tape.__drop.iter())
            .zip(model.out.weight.iter())
        {
            assert!((d - m * w).abs() < 1e-15);
        }
    }
    let mut eval = vec![DropWide::<f64>::new_tape(); 8];
    let mut outs = vec![Vector::zeros(); 8];
    model
        .forward_train_layers(&refs, &mut eval, &mut outs, Mode::EVAL, &mut Rng::new(5))
        .unwrap();
    for (tape, x) in eval.iter().zip(&xs) {
        assert_eq!(tape.drop, *x);
    }
}

/// The same step in `f32` from the float64 fixtures (rounded to `f32`):
/// within 1e-5 · (1 + |PyTorch|).
#[test]
fn f32_layer_major_steps_match_pytorch() {
    let mut errors = Vec::new();
    errors.extend(check::<f32, DenseBn<f32>>("dense", no_mask));
    errors.extend(check::<f32, ConvBn<f32>>("conv", no_mask));
    errors.extend(check::<f32, DwBn<f32>>("depthwise", no_mask));
    errors.extend(check::<f32, C1Bn<f32>>("conv1d", no_mask));
    errors.extend(check::<f32, SeqBn<f32>>("seq", no_mask));
    errors.extend(check::<f32, ResBn<f32>>("residual", no_mask));
    let inject = |tape: &mut DropNetTape<f32>, m: &[f32]| {
        tape.__drop.copy_from_slice(m);
    };
    errors.extend(check::<f32, DropNet<f32>>("dropout", inject));
    assert_ok("f32", errors);
}

/// The batched `Dense` path (chunks of `K` samples through `dense_batch`
/// and `dense_backward_batch`, the rest one by one) against PyTorch, with
/// `K = 4` whatever `CHUNK` the build has (1 without AVX, where
/// `forward_train_layers` never chunks): the hidden generic forms behind
/// `forward_train_layers` and `backward_layers`.
macro_rules! chunked {
    ($model:ident, $case:literal, $inject:expr) => {{
        let fx = Fx::load($case);
        let model: $model<f64> = fx.model();
        let xs: Vec<<$model<f64> as Model<f64>>::Input> = fx.samples("input");
        let rs: Vec<<$model<f64> as Model<f64>>::Output> = fx.samples("r");
        let n = xs.len();
        let refs: Vec<&_> = xs.iter().collect();
        let mut tapes = vec![$model::<f64>::new_tape(); n];
        let mut mode = Mode::TRAIN;
        if let Some((_, mask)) = fx.tensors.get("mask.drop") {
            for (tape, m) in tapes.iter_mut().zip(mask.chunks_exact(mask.len() / n)) {
                $inject(tape, m);
            }
            mode.dropout = DropoutMode::Replay;
        }
        let mut scratch = tapes.clone();
        let mut outs = vec![Tensor::zeros(); n];
        model
            .__forward_train_layers::<4>(&refs, &mut tapes, &mut outs, mode, &mut Rng::new(0))
            .unwrap();
        let mut errors: Vec<String> = close("output", &flat(&outs), fx.get("output"))
            .err()
            .into_iter()
            .collect();
        for dx in [true, false] {
            let mut grads = $model::<f64>::zeros();
            if dx {
                model.__backward_layers::<4, false, true>(&tapes, &rs, &mut grads, &mut scratch);
                let dxs: Vec<_> = scratch.iter().map(|d| d.input).collect();
                errors.extend(close("grad.input", &flat(&dxs), fx.get("grad.input")).err());
            } else {
                model.__backward_layers::<4, false, false>(&tapes, &rs, &mut grads, &mut scratch);
            }
            grads.visit_params(&mut |p| {
                let got: Vec<f64> = p.iter().collect();
                errors.extend(close(p.name, &got, fx.get(&format!("grad.{}", p.name))).err());
            });
        }
        assert_ok(concat!($case, " in chunks of 4"), errors);
    }};
}

#[test]
fn batched_dense_chunks_match_pytorch_train_mode() {
    // 10 samples: two chunks of 4 and 2 one by one.
    chunked!(DenseBn, "dense", no_mask);
    chunked!(ResBn, "residual", no_mask);
    chunked!(
        DropNet,
        "dropout",
        |tape: &mut DropNetTape<f64>, m: &[f64]| { tape.__drop.copy_from_slice(m) }
    );
}
