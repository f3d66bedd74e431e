//! BatchNorm (eval mode), Dropout, Reshape and Permute against PyTorch, and
//! BatchNorm's buffers through safetensors save/load and `#[weights]`.
//!
//! The fixtures `tests/fixtures/bnorm/bnorm_<case>.safetensors` come from
//! `tools/make_fixtures_bnorm.py` (seeded; each case's PyTorch module is in
//! `eval()` and has random γ, β and running statistics, 7 batches tracked).
//! Each holds the `state_dict` (buffers included, `num_batches_tracked` as
//! I64), `input`, `output`, `r` and autograd's gradients of `Σ output ⊙ r`
//! (`grad.input`, `grad.<param>`). The runner loads the model with the
//! strict loader (only the fixture's own non-weight tensors ignored), then
//! compares the forward, the training forward, dL/dinput and every
//! parameter gradient: f64 within 1e-12 · max(1, |PyTorch|), f32 within
//! 1e-5 · (1 + |PyTorch|).

use safetensors::{Dtype, SafeTensors};
use staticnet::{model, Buffer, Float, LoadError, LoadOptions, Model, Tensor, Train, Weights};
use std::collections::BTreeMap;

model! {
    /// Fixture `bnorm_conv`: BatchNorm on an image, after a convolution.
    pub struct ConvBn {
        input: [2, 5, 5],
        conv: Conv2d(3, kernel = 3),
        bn: BatchNorm(eps = 1e-3),
        relu: Relu,
    }
}

model! {
    /// Fixture `bnorm_dense`: BatchNorm on a vector.
    pub struct DenseBn {
        input: [4],
        fc1: Dense(5),
        bn: BatchNorm(momentum = 0.01),
        act: Tanh,
        out: Dense(2),
    }
}

model! {
    /// Fixture `bnorm_seq`: BatchNorm per feature of every step.
    pub struct SeqBn {
        input: [6, 3],
        lstm: Lstm(4, return_sequences = true),
        bn: BatchNorm,
        head: Dense(2),
    }
}

model! {
    /// Fixture `bnorm_dropout`.
    pub struct DropNet {
        input: [4],
        fc1: Dense(5, activation = relu),
        drop: Dropout(0.5),
        out: Dense(3),
    }
}

model! {
    /// Fixture `bnorm_crnn`: the CRNN bridge, image → sequence.
    pub struct Crnn {
        input: [2, 4, 6],
        conv: Conv2d(3, kernel = 3, padding = same),
        bn: BatchNorm,
        relu: Relu,
        perm: Permute([2, 0, 1]),
        rs: Reshape([6, 12]),
        gru: Gru(5),
        out: Dense(2),
    }
}

model! {
    /// `DenseBn` with its weights compiled in from the fixture.
    #[weights("fixtures/bnorm/bnorm_dense.safetensors", allow_extra)]
    pub struct DenseBnCompiled {
        input: [4],
        fc1: Dense(5),
        bn: BatchNorm(momentum = 0.01),
        act: Tanh,
        out: Dense(2),
    }
}

model! {
    /// The same from a file without `num_batches_tracked`.
    #[weights = "fixtures/bnorm/bnorm_dense_no_count.safetensors"]
    pub struct DenseBnNoCount {
        input: [4],
        fc1: Dense(5),
        bn: BatchNorm(momentum = 0.01),
        act: Tanh,
        out: Dense(2),
    }
}

model! {
    /// A hand-checked bridge: [2, 2, 3] → Permute([2, 0, 1]) → [3, 2, 2] →
    /// Reshape([3, 4]) (a sequence of 3 steps).
    pub struct Bridge {
        input: [2, 2, 3],
        perm: Permute([2, 0, 1]),
        rs: Reshape([3, 4]),
        fc: Dense(1),
    }
}

/// A fixture file: its bytes and its F64 tensors (shape, values).
struct Fx {
    case: String,
    bytes: Vec<u8>,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
}

impl Fx {
    fn load(case: &str) -> Fx {
        let path = format!(
            "{}/tests/fixtures/bnorm/{case}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run tools/make_fixtures_bnorm.py)"));
        let st = SafeTensors::deserialize(&bytes).expect("a safetensors file");
        let mut tensors = BTreeMap::new();
        for (name, view) in st.iter() {
            if view.dtype() != Dtype::F64 {
                continue;
            }
            let values = view
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            tensors.insert(name.to_owned(), (view.shape().to_vec(), values));
        }
        Fx {
            case: case.to_owned(),
            bytes,
            tensors,
        }
    }

    fn get(&self, name: &str) -> &[f64] {
        &self
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("{}: no tensor `{name}`", self.case))
            .1
    }

    /// The tensors that are not part of the `state_dict`.
    fn not_weights(&self) -> Vec<&str> {
        self.tensors
            .keys()
            .map(String::as_str)
            .filter(|n| ["input", "output", "r"].contains(n) || n.starts_with("grad."))
            .collect()
    }

    /// The model of this fixture, loaded strictly.
    fn model<T: Float, M: Model<T>>(&self) -> M {
        let ignore = self.not_weights();
        M::from_safetensors_with(&self.bytes, LoadOptions::new().ignore(&ignore))
            .unwrap_or_else(|e| panic!("{}: {e}", self.case))
    }
}

/// `got ≈ want` with the tolerance of `T`; the error names the tensor and
/// the first index that differs.
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

/// Forward, training forward, dL/dinput and every parameter gradient of
/// the fixture `case` in `T`.
fn check<T: Float, M: Train<T>>(case: &str) {
    let fx = Fx::load(case);
    let model: M = fx.model();
    let cast = |v: &[f64]| -> Vec<T> { v.iter().map(|&x| T::of_f64(x)).collect() };
    let x = M::Input::from_flat(&cast(fx.get("input"))).expect("input shape");
    let r = M::Output::from_flat(&cast(fx.get("r"))).expect("output shape");
    let mut errors = Vec::new();
    let y = model.forward(&x);
    errors.extend(close("output", y.as_flat(), fx.get("output")).err());
    let mut tape = M::new_tape();
    let y_train = model.forward_train(&x, &mut tape);
    errors.extend(close("training output", y_train.as_flat(), fx.get("output")).err());
    let mut grads = M::zeros();
    let dx = model.backward(&tape, &r, &mut grads);
    errors.extend(close("grad.input", dx.as_flat(), fx.get("grad.input")).err());
    let mut seen = 0;
    grads.visit_params(&mut |p| {
        seen += 1;
        let got: Vec<T> = p.iter().collect();
        errors.extend(close(p.name, &got, fx.get(&format!("grad.{}", p.name))).err());
    });
    let want = fx.tensors.keys().filter(|n| n.starts_with("grad.")).count() - 1;
    if seen != want {
        errors.push(format!("{seen} parameter gradients, PyTorch has {want}"));
    }
    // Buffers are not parameters: backward leaves them alone.
    grads.visit_buffers(&mut |b| match b {
        Buffer::Values(p) => {
            if p.iter().any(|v| v != T::zero()) {
                errors.push(format!("backward wrote the buffer {}", p.name));
            }
        }
        Buffer::Count { name, value } => {
            if *value != 0 {
                errors.push(format!("backward wrote the count {name}"));
            }
        }
    });
    let float = std::any::type_name::<T>();
    assert!(errors.is_empty(), "{case} ({float}): {}", errors.join("; "));
}

#[test]
fn batchnorm_after_conv2d_matches_pytorch() {
    check::<f64, ConvBn<f64>>("bnorm_conv");
    check::<f32, ConvBn<f32>>("bnorm_conv");
}

#[test]
fn batchnorm_after_dense_matches_pytorch() {
    check::<f64, DenseBn<f64>>("bnorm_dense");
    check::<f32, DenseBn<f32>>("bnorm_dense");
}

#[test]
fn batchnorm_on_a_sequence_matches_pytorch() {
    check::<f64, SeqBn<f64>>("bnorm_seq");
    check::<f32, SeqBn<f32>>("bnorm_seq");
}

#[test]
fn dropout_matches_pytorch() {
    check::<f64, DropNet<f64>>("bnorm_dropout");
    check::<f32, DropNet<f32>>("bnorm_dropout");
}

#[test]
fn crnn_permute_reshape_matches_pytorch() {
    check::<f64, Crnn<f64>>("bnorm_crnn");
    check::<f32, Crnn<f32>>("bnorm_crnn");
}

#[test]
fn batchnorm_streams_step_by_step() {
    let fx = Fx::load("bnorm_seq");
    let model: SeqBn<f64> = fx.model();
    let x = staticnet::Sequence::<f64, 6, 3>::from_flat(fx.get("input")).unwrap();
    let y = model.forward(&x);
    let mut state = SeqBnState::zeros();
    for t in 0..6 {
        let step = model.step(&mut state, &x.column(t).into_owned());
        for f in 0..2 {
            assert!((step[f] - y[(f, t)]).abs() <= 1e-12, "step {t}");
        }
    }
}

/// Every tensor of the `state_dict` (parameters, then buffers; counts as
/// f64), by name.
fn state<T: Float, M: Model<T>>(m: &M) -> BTreeMap<&'static str, Vec<f64>> {
    let mut out = BTreeMap::new();
    m.visit_params(&mut |p| {
        out.insert(p.name, p.iter().map(Float::to_f64).collect());
    });
    m.visit_buffers(&mut |b| match b {
        Buffer::Values(p) => {
            out.insert(p.name, p.iter().map(Float::to_f64).collect());
        }
        Buffer::Count { name, value } => {
            out.insert(name, vec![*value as f64]);
        }
    });
    out
}

#[test]
fn buffers_are_loaded_from_the_file() {
    let fx = Fx::load("bnorm_dense");
    let model: DenseBn<f64> = fx.model();
    let st = state(&model);
    for name in ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"] {
        assert_eq!(st[name], fx.get(name), "{name}");
    }
    assert_eq!(model.bn.num_batches_tracked, 7);
    assert_eq!(
        st.keys().copied().collect::<Vec<_>>(),
        [
            "bn.bias",
            "bn.num_batches_tracked",
            "bn.running_mean",
            "bn.running_var",
            "bn.weight",
            "fc1.bias",
            "fc1.weight",
            "out.bias",
            "out.weight"
        ]
    );
}

#[test]
fn save_then_load_keeps_buffers_and_the_count() {
    let fx = Fx::load("bnorm_crnn");
    let model: Crnn<f64> = fx.model();
    let bytes = model.to_safetensors();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let count = st.tensor("bn.num_batches_tracked").unwrap();
    assert_eq!(count.dtype(), Dtype::I64);
    assert!(count.shape().is_empty());
    assert_eq!(count.data(), &7i64.to_le_bytes());
    let var = st.tensor("bn.running_var").unwrap();
    assert_eq!((var.dtype(), var.shape()), (Dtype::F64, &[3usize][..]));
    // Exactly the file PyTorch's state_dict has (its 18 tensors).
    let mut names = st.names();
    names.sort_unstable();
    let mut want: Vec<&str> = fx
        .tensors
        .keys()
        .map(String::as_str)
        .filter(|n| !fx.not_weights().contains(n))
        .chain(["bn.num_batches_tracked"])
        .collect();
    want.sort_unstable();
    assert_eq!(names, want);
    let back = Crnn::<f64>::from_safetensors(&bytes).unwrap();
    assert_eq!(back, model);
    // f32 too: an F32 file, the count still I64.
    let m32: Crnn<f32> = fx.model();
    let b32 = m32.to_safetensors();
    let st32 = SafeTensors::deserialize(&b32).unwrap();
    assert_eq!(st32.tensor("bn.running_mean").unwrap().dtype(), Dtype::F32);
    assert_eq!(
        st32.tensor("bn.num_batches_tracked").unwrap().dtype(),
        Dtype::I64
    );
    assert_eq!(Crnn::<f32>::from_safetensors(&b32).unwrap(), m32);
}

#[test]
fn a_file_without_num_batches_tracked_loads() {
    let fx = Fx::load("bnorm_dense");
    let full: DenseBn<f64> = fx.model();
    let no_count = Fx::load("bnorm_dense_no_count");
    let model = DenseBn::<f64>::from_safetensors(&no_count.bytes).unwrap();
    assert_eq!(model.bn.num_batches_tracked, 0);
    let (mut a, mut b) = (state(&full), state(&model));
    a.remove("bn.num_batches_tracked");
    b.remove("bn.num_batches_tracked");
    assert_eq!(a, b);
}

#[test]
fn a_file_without_running_var_is_refused() {
    // The parameters alone (the old, buffer-less save) must not load: the
    // running statistics are part of the model.
    let fx = Fx::load("bnorm_dense");
    let model: DenseBn<f64> = fx.model();
    let bytes = model.to_safetensors();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != "bn.running_var")
        .collect();
    let stripped = safetensors::serialize(kept, None).unwrap();
    match DenseBn::<f64>::from_safetensors(&stripped) {
        Err(LoadError::Missing { name, shape }) => {
            assert_eq!((name, shape), ("bn.running_var", &[5usize][..]));
        }
        other => panic!("expected a missing running_var, got {other:?}"),
    }
}

#[test]
fn compiled_in_weights_include_the_buffers() {
    let fx = Fx::load("bnorm_dense");
    let loaded: DenseBn<f64> = fx.model();
    assert_eq!(state(&DenseBnCompiled::WEIGHTS_F64), state(&loaded));
    assert_eq!(DenseBnCompiled::WEIGHTS_F64.bn.num_batches_tracked, 7);
    let no_count = DenseBnNoCount::WEIGHTS_F64;
    assert_eq!(no_count.bn.num_batches_tracked, 0);
    assert_eq!(no_count.bn.running_var.as_slice(), fx.get("bn.running_var"));
    let x = staticnet::Vector::<f64, 4>::from_flat(fx.get("input")).unwrap();
    let y = DenseBnCompiled::WEIGHTS_F64.forward(&x);
    close::<f64>("compiled output", y.as_slice(), fx.get("output")).unwrap();
}

#[test]
fn summary_counts_buffers_as_non_trainable() {
    // fc1 4·5 + 5, bn 2·5 trainable (+ 2·5 running statistics), out 5·2 + 2.
    assert_eq!(<DenseBn as Model<f32>>::PARAMS, 25 + 10 + 12);
    assert_eq!(<DenseBn as Model<f32>>::BUFFERS, 10);
    assert_eq!(<DenseBn as Model<f32>>::TENSORS, 6);
    let bn = <DenseBn as Model<f32>>::LAYERS[1];
    assert_eq!((bn.name, bn.kind, bn.params), ("bn", "BatchNorm", 10));
    let text = <DenseBn as Model<f32>>::summary().to_string();
    assert!(text.contains("Total params: 57 (228 bytes)"), "{text}");
    assert!(text.contains("Trainable params: 47"), "{text}");
    assert!(text.contains("Non-trainable params: 10"), "{text}");
    // A model without buffers is unchanged.
    assert_eq!(<DropNet as Model<f32>>::BUFFERS, 0);
    assert!(<DropNet as Model<f32>>::summary()
        .to_string()
        .contains("Non-trainable params: 0"));
}

#[test]
fn init_is_unit_batchnorm() {
    let m = DenseBn::<f64>::init(3);
    assert!(m.bn.weight.iter().all(|&v| v == 1.0));
    assert!(m.bn.bias.iter().all(|&v| v == 0.0));
    assert!(m.bn.running_mean.iter().all(|&v| v == 0.0));
    assert!(m.bn.running_var.iter().all(|&v| v == 1.0));
    assert_eq!(m.bn.num_batches_tracked, 0);
}

#[test]
fn permute_and_reshape_by_hand() {
    // x[c][h][w] = 100c + 10h + w on [2, 2, 3]. Permute([2, 0, 1]) gives
    // p[w][c][h] = x[c][h][w]; Reshape([3, 4]) makes step w the four values
    // (c, h) = (0,0), (0,1), (1,0), (1,1) of column w:
    // [w, 10 + w, 100 + w, 110 + w].
    let mut x = [[[0.0f64; 3]; 2]; 2];
    for (c, xc) in x.iter_mut().enumerate() {
        for (h, xr) in xc.iter_mut().enumerate() {
            for (w, v) in xr.iter_mut().enumerate() {
                *v = (100 * c + 10 * h + w) as f64;
            }
        }
    }
    // fc sums the four features of each step: y[w] = 220 + 4w.
    let mut m = Bridge::<f64>::zeros();
    m.fc.weight.fill(1.0);
    assert_eq!(m.forward(&x).as_slice(), &[220.0, 224.0, 228.0]);
    // Backward with dy[w] = w + 1: every x[c][h][w] receives w + 1.
    let mut tape = Bridge::<f64>::new_tape();
    m.forward_train(&x, &mut tape);
    let mut g = Bridge::<f64>::zeros();
    let dy = staticnet::Sequence::<f64, 3, 1>::from_flat(&[1.0, 2.0, 3.0]).unwrap();
    let dx = m.backward(&tape, &dy, &mut g);
    assert_eq!(dx, [[[1.0, 2.0, 3.0]; 2]; 2]);
    // dW[0][k] = Σ_w dy[w] · feature k of step w: k = 0 is x[0][0][w] = w.
    assert_eq!(g.fc.weight[(0, 0)], 2.0 + 6.0);
    assert_eq!(g.fc.weight[(0, 3)], 110.0 * 6.0 + 8.0);
}
