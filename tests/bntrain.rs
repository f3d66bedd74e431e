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
use staticnet::{
    model, Buffer, DropoutMode, Float, LoadOptions, Mode, Model, Rng, Tensor, Train, Weights,
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
