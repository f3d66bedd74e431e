//! The inference forward with BatchNorm (and the element-wise activation
//! after it) fused into the preceding convolution's or Dense's output loop,
//! against PyTorch in `eval()`.
//!
//! The fixtures `tests/fixtures/bnfuse/bnfuse_<case>.safetensors` come from
//! `tools/make_fixtures_bnfuse.py` (seeded; random γ, β and running
//! statistics), one case per kernel path of the fused forward. Each model
//! here is the fixture's network; `forward` runs the fused chains
//! (`macros/golden/benches__bnfuse.rs` shows the generated calls), the
//! training forward and backward run node by node as before, and all of
//! them are compared: forward, training forward, dL/dinput and every
//! parameter gradient, f64 within 1e-12 · max(1, |PyTorch|), f32 within
//! 1e-5 · (1 + |PyTorch|).

use safetensors::{Dtype, SafeTensors};
use staticnet::{model, Float, LoadOptions, Model, Tensor, Train, Weights};
use std::collections::BTreeMap;

model! {
    /// Conv2d's padded, strided loop (the first block of MobileNet-VWW).
    pub struct ConvStrided {
        input: [3, 9, 9],
        conv: Conv2d(4, kernel = 3, stride = 2, padding = same),
        bn: BatchNorm(eps = 1e-3),
        relu: Relu,
    }
}

model! {
    /// Conv2d's stride-1 `valid` loop: 6 filters, a block of 4 and 2 alone.
    pub struct ConvValid {
        input: [2, 7, 6],
        conv: Conv2d(6, kernel = 3),
        bn: BatchNorm,
        act: Relu6,
    }
}

model! {
    /// The grouped, dilated, bias-free Conv2d.
    pub struct ConvGrouped {
        input: [4, 6, 6],
        conv: Conv2d(6, kernel = 3, padding = same, dilation = 2, groups = 2, bias = false),
        bn: BatchNorm,
        act: LeakyRelu(alpha = 0.1),
    }
}

model! {
    /// DepthwiseConv2d with TensorFlow's asymmetric `same` padding.
    pub struct Depthwise {
        input: [3, 8, 8],
        dw: DepthwiseConv2d(kernel = 3, stride = 2, padding = same, depth_multiplier = 2),
        bn: BatchNorm(eps = 1e-3),
        relu: Relu,
    }
}

model! {
    /// A dilated causal Conv1d, then Silu.
    pub struct Conv1dCausal {
        input: [10, 3],
        conv: Conv1d(5, kernel = 3, dilation = 2, padding = causal),
        bn: BatchNorm,
        act: Silu,
    }
}

model! {
    /// Dense without a bias on a vector, then Gelu.
    pub struct DenseNoBias {
        input: [6],
        fc: Dense(7, bias = false),
        bn: BatchNorm(momentum = 0.01),
        act: Gelu,
        out: Dense(2),
    }
}

model! {
    /// Dense on every step of a sequence, BatchNorm with no activation
    /// after it (the chain ends at BatchNorm).
    pub struct DenseSeq {
        input: [4, 3],
        fc: Dense(5),
        bn: BatchNorm,
        head: Dense(2),
    }
}

model! {
    /// Only part may fuse: `bn1` is read twice (so `c1 → bn1` fuse, `r1`
    /// runs on its own), and `c2` has an activation of its own (so `bn2`
    /// runs on its own).
    pub struct Graph {
        input: [2, 5, 5],
        c1: Conv2d(3, kernel = 3, padding = same),
        bn1: BatchNorm,
        r1: Relu,
        c2: Conv2d(3, kernel = 1, activation = relu)(input),
        bn2: BatchNorm,
        add: Add(r1, bn1, bn2),
    }
}

model! {
    /// A streaming model: `fc → bn → relu` fuse in `forward` and in `step`.
    pub struct Stream {
        input: [5, 3],
        lstm: Lstm(4, return_sequences = true),
        fc: Dense(6),
        bn: BatchNorm,
        relu: Relu,
        out: Dense(2),
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
            "{}/tests/fixtures/bnfuse/bnfuse_{case}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run tools/make_fixtures_bnfuse.py)"));
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

    /// The model of this fixture, loaded strictly (only the fixture's own
    /// tensors that are not weights ignored).
    fn model<T: Float, M: Model<T>>(&self) -> M {
        let ignore: Vec<&str> = self
            .tensors
            .keys()
            .map(String::as_str)
            .filter(|n| ["input", "output", "r"].contains(n) || n.starts_with("grad."))
            .collect();
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

/// The largest `|got − want| / max(1, |want|)`: how far inside the bound
/// the fused forward is.
fn worst<T: Float>(got: &[T], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g.to_f64() - w).abs() / w.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// Forward (fused), training forward (not fused), dL/dinput and every
/// parameter gradient of fixture `case` in `T`; returns the forward's
/// [`worst`] difference.
fn check<T: Float, M: Train<T>>(case: &str) -> f64 {
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
    let float = std::any::type_name::<T>();
    assert!(errors.is_empty(), "{case} ({float}): {}", errors.join("; "));
    worst(y.as_flat(), fx.get("output"))
}

/// Both floats; prints how close the fused f64 forward came.
fn both<M32: Train<f32>, M64: Train<f64>>(case: &str) {
    let w64 = check::<f64, M64>(case);
    let w32 = check::<f32, M32>(case);
    println!("{case}: fused forward within {w64:.1e} (f64), {w32:.1e} (f32) of PyTorch");
}

#[test]
fn conv2d_strided_bn_relu_matches_pytorch() {
    both::<ConvStrided<f32>, ConvStrided<f64>>("conv_strided");
}

#[test]
fn conv2d_valid_bn_relu6_matches_pytorch() {
    both::<ConvValid<f32>, ConvValid<f64>>("conv_valid");
}

#[test]
fn conv2d_grouped_bn_leaky_relu_matches_pytorch() {
    both::<ConvGrouped<f32>, ConvGrouped<f64>>("conv_grouped");
}

#[test]
fn depthwise_bn_relu_matches_pytorch() {
    both::<Depthwise<f32>, Depthwise<f64>>("depthwise");
}

#[test]
fn conv1d_bn_silu_matches_pytorch() {
    both::<Conv1dCausal<f32>, Conv1dCausal<f64>>("conv1d");
}

#[test]
fn dense_no_bias_bn_gelu_matches_pytorch() {
    both::<DenseNoBias<f32>, DenseNoBias<f64>>("dense_no_bias");
}

#[test]
fn dense_seq_bn_matches_pytorch() {
    both::<DenseSeq<f32>, DenseSeq<f64>>("dense_seq");
}

#[test]
fn partly_fused_graph_matches_pytorch() {
    both::<Graph<f32>, Graph<f64>>("graph");
}

#[test]
fn streaming_model_matches_pytorch() {
    both::<Stream<f32>, Stream<f64>>("stream");
}

/// The fused causal Conv1d `step` (its ring buffer, BatchNorm and Silu in
/// one kernel call) returns, step by step, exactly the fused `forward`'s
/// steps: the same sums in the same order.
#[test]
fn fused_conv1d_step_equals_fused_forward() {
    let fx = Fx::load("conv1d");
    let model: Conv1dCausal<f64> = fx.model();
    let x = staticnet::Sequence::<f64, 10, 3>::from_flat(fx.get("input")).unwrap();
    let y = model.forward(&x);
    let mut state = Conv1dCausalState::zeros();
    for t in 0..10 {
        let step = model.step(&mut state, &x.column(t).into_owned());
        for f in 0..5 {
            assert_eq!(step[f], y[(f, t)], "step {t}");
        }
    }
}

/// The fused `step` (Dense → BatchNorm → Relu in one kernel call) returns,
/// step by step, exactly what the fused `forward` returns: both run the
/// same arithmetic on the same step's values.
#[test]
fn fused_step_equals_fused_forward() {
    let fx = Fx::load("stream");
    let model: Stream<f64> = fx.model();
    let x = staticnet::Sequence::<f64, 5, 3>::from_flat(fx.get("input")).unwrap();
    let y = model.forward(&x);
    let mut state = StreamState::zeros();
    for t in 0..5 {
        let step = model.step(&mut state, &x.column(t).into_owned());
        for f in 0..2 {
            assert_eq!(step[f], y[(f, t)], "step {t}");
        }
    }
}
