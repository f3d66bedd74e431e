//! What the layer kinds share in the int8 form of a model
//! (`#[int8 = "file.safetensors"]`, driven by `expand/int8.rs`): the
//! description of a tensor the file must hold, and the output stage every
//! layer with int32 sums reads.
//!
//! The file is the converter's (`tools/tflite_to_safetensors.py`): per
//! layer, `<name>.weight` (I8, PyTorch's layout), `<name>.bias`,
//! `.multiplier` and `.shift` (I32, one per output channel), the scalars
//! `input_zero_point`, `output_zero_point`, `activation_min`,
//! `activation_max` (I32), `input_scale` and `output_scale` (F32), and a
//! convolution's or pool's `kernel`, `stride` and `pad` (I32 pairs).

use super::lit;
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::quote;

/// What the int8 form makes of a layer.
pub enum Int8Form {
    /// An int8 kernel call (with or without parameters from the file).
    Kernel,
    /// Nothing: the layer's output is its input's. BatchNorm is folded
    /// into the convolution before it by the converter, a `Relu`/`Relu6`
    /// is that layer's clamp (`activation_min`/`activation_max`), a
    /// `Dropout` is the identity at inference.
    Folded,
    /// No int8 form; the message (if any) says why and what to do.
    Unsupported(Option<String>),
}

/// The dtype of an int8 file's tensor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Int8Dtype {
    I8,
    I32,
    F32,
}

impl Int8Dtype {
    /// safetensors' name.
    pub fn name(self) -> &'static str {
        match self {
            Int8Dtype::I8 => "I8",
            Int8Dtype::I32 => "I32",
            Int8Dtype::F32 => "F32",
        }
    }
}

/// A tensor a layer reads from the int8 file: `<name>.<suffix>`.
pub struct Int8Tensor {
    pub suffix: &'static str,
    pub dtype: Int8Dtype,
    pub shape: Vec<usize>,
    /// Whether the file must hold it (else it is checked only if present).
    pub required: bool,
    /// The values the DSL implies (a kernel size, stride or padding): the
    /// file's, if present, must be these.
    pub expect: Option<Vec<i64>>,
}

impl Int8Tensor {
    /// A required tensor.
    pub fn new(suffix: &'static str, dtype: Int8Dtype, shape: Vec<usize>) -> Self {
        Int8Tensor {
            suffix,
            dtype,
            shape,
            required: true,
            expect: None,
        }
    }

    /// A required I32 scalar.
    pub fn scalar(suffix: &'static str) -> Self {
        Self::new(suffix, Int8Dtype::I32, Vec::new())
    }

    /// An optional I32 pair that must equal `values` (geometry).
    pub fn geometry(suffix: &'static str, values: (usize, usize)) -> Self {
        Int8Tensor {
            suffix,
            dtype: Int8Dtype::I32,
            shape: vec![2],
            required: false,
            expect: Some(vec![values.0 as i64, values.1 as i64]),
        }
    }
}

/// The tensors of an output stage of `o` channels: `multiplier`, `shift`,
/// `output_zero_point`, `activation_min`, `activation_max`.
pub fn stage_tensors(o: usize) -> Vec<Int8Tensor> {
    vec![
        Int8Tensor::new("multiplier", Int8Dtype::I32, vec![o]),
        Int8Tensor::new("shift", Int8Dtype::I32, vec![o]),
        Int8Tensor::scalar("output_zero_point"),
        Int8Tensor::scalar("activation_min"),
        Int8Tensor::scalar("activation_max"),
    ]
}

/// A convolution's or `Dense`'s tensors: `weight` of `weight_shape`,
/// `bias`, `input_zero_point` and the output stage of `o` channels.
pub fn weighted_tensors(weight_shape: Vec<usize>) -> Vec<Int8Tensor> {
    let o = weight_shape.first().copied().unwrap_or(0);
    let mut t = vec![
        Int8Tensor::new("weight", Int8Dtype::I8, weight_shape),
        Int8Tensor::new("bias", Int8Dtype::I32, vec![o]),
        Int8Tensor::scalar("input_zero_point"),
    ];
    t.extend(stage_tensors(o));
    t
}

/// `q::OutputStage { .. }` from the file's tensors (`t(suffix)`).
pub fn output_stage(t: &dyn Fn(&str) -> TokenStream) -> TokenStream {
    let [m, s, zp, min, max] = [
        "multiplier",
        "shift",
        "output_zero_point",
        "activation_min",
        "activation_max",
    ]
    .map(t);
    quote!(q::OutputStage {
        multiplier: #m,
        shift: #s,
        output_zero_point: #zp,
        min: #min,
        max: #max,
    })
}

/// A parameter block with weights, bias, input zero point and output
/// stage (`QConv2dParams`, `QDepthwiseParams`, `QDenseParams`).
pub fn weighted_value(block: TokenStream, t: &dyn Fn(&str) -> TokenStream) -> TokenStream {
    let [w, b, zp] = ["weight", "bias", "input_zero_point"].map(t);
    let out = output_stage(t);
    quote!(#block {
        weight: #w,
        bias: #b,
        input_zero_point: #zp,
        out: #out,
    })
}

/// The int8 tensor type of a shape: `[i8; N]` or `Image<i8, C, H, W>`.
pub fn tensor_type(s: Shape) -> TokenStream {
    match s {
        Shape::Vector(n) => {
            let n = lit(n);
            quote!([i8; #n])
        }
        Shape::Image(c, h, w) => {
            let (c, h, w) = (lit(c), lit(h), lit(w));
            quote!(::staticnet::Image<i8, #c, #h, #w>)
        }
        Shape::Seq(t, f) => {
            let (t, f) = (lit(t), lit(f));
            quote!([[i8; #f]; #t])
        }
    }
}

/// The values of `x` (a reference to a tensor of shape `s`) as `&[i8]`.
pub fn flat(x: &TokenStream, s: Shape) -> TokenStream {
    match s {
        Shape::Vector(_) => quote!(#x),
        Shape::Seq(..) => quote!(#x.as_flattened()),
        Shape::Image(..) => quote!(#x.as_flattened().as_flattened()),
    }
}

/// The values of the place `out` (of shape `s`) as `&mut [i8]`.
pub fn flat_mut(out: &TokenStream, s: Shape) -> TokenStream {
    match s {
        Shape::Vector(_) => quote!(&mut #out),
        Shape::Seq(..) => quote!(#out.as_flattened_mut()),
        Shape::Image(..) => quote!(#out.as_flattened_mut().as_flattened_mut()),
    }
}

/// The clamp range an activation fused into a layer (or folded into it
/// from a `Relu`/`Relu6` layer after it) gives in the int8 domain, as
/// TFLite's `CalculateActivationRangeQuantized` computes it from the
/// output's scale and zero point; `None` for an activation int8 cannot
/// fuse.
pub fn activation_range(act: super::Act, scale: f32, zero_point: i64) -> Option<(i64, i64)> {
    // TFLite divides in float (the scale is a float) and rounds half away
    // from zero.
    let q = |v: f32| zero_point + (v / scale).round() as i64;
    let (lo, hi) = match act {
        super::Act::Linear => (-128, 127),
        super::Act::Relu => (q(0.0).max(-128), 127),
        super::Act::Relu6 => (q(0.0).max(-128), q(6.0).min(127)),
        _ => return None,
    };
    Some((lo, hi))
}

/// `Kernel<kh, kw>, Stride<sh, sw>, Pad<pt, pl>` of a geometry.
pub fn geometry_types(
    kernel: (usize, usize),
    stride: (usize, usize),
    pad: (usize, usize),
) -> TokenStream {
    let [kh, kw, sh, sw, pt, pl] = [kernel.0, kernel.1, stride.0, stride.1, pad.0, pad.1].map(lit);
    quote!(k::Kernel<#kh, #kw>, k::Stride<#sh, #sw>, k::Pad<#pt, #pl>)
}

/// `None` if an int8 layer can fuse `act` (as its clamp range), else why
/// not, for [`Int8Form::Unsupported`].
pub fn unfusable(kind: &str, act: super::Act) -> Option<String> {
    match act {
        super::Act::Linear | super::Act::Relu | super::Act::Relu6 => None,
        super::Act::Softmax => Some(
            "TFLite's int8 softmax is a layer of its own, with its own quantization: write `activation = linear` here and a `Softmax` layer after it (e.g. `softmax: Softmax`)".to_string(),
        ),
        other => Some(format!(
            "an int8 {kind} fuses only `relu` or `relu6` (as a clamp), not `{}`",
            other.type_name()
        )),
    }
}
