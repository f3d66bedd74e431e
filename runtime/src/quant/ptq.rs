//! Model-level post-training quantization: what the generated
//! `NameInt8::quantize` (`#[int8]` on a `model!`) calls to turn a trained
//! float model and the ranges its tensors took over a calibration set into
//! the int8 parameters, with TensorFlow Lite's conventions (the arithmetic
//! of [`calibrate`](super::calibrate), [`quantize_multiplier`] for every
//! fixed-point multiplier, and the `Prepare` computations of TFLite's Add
//! and Softmax kernels, which `tools/tflite_to_safetensors.py` does in
//! Python and `tests/ptq_model.rs` checks this against on the MLPerf Tiny
//! files).
//!
//! The parameter functions are `no_std` and allocate nothing; the
//! [`Calibrator`] (one range, and for a percentile a histogram, per
//! calibrated tensor) and [`Int8File`] (the safetensors writer) need
//! `alloc`.

use super::calibrate::{quantize_bias, symmetric_per_channel, QuantParams};
use super::{quantize_multiplier, QAddParams, QConv2dParams, QDenseParams, QDepthwiseParams};
use super::{OutputStage, QSoftmaxParams};

/// How activation ranges are taken from the calibration set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Calibration {
    /// The smallest and largest value seen (TFLite's converter's default).
    MinMax,
    /// The range holding the central `p` percent of the values of each
    /// tensor over the whole set (`p` in `(50, 100]`; 100 is `MinMax`):
    /// outliers are clamped instead of widening the scale. Taken from a
    /// 2048-bin histogram over the min/max range (a second pass).
    Percentile(f32),
}

/// The options of a post-training quantization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PtqConfig {
    /// How activation ranges are calibrated.
    pub calibration: Calibration,
    /// Per-channel `Dense` weights (TFLite's converter's default, with the
    /// MLIR quantizer); `false` for one scale per tensor.
    pub dense_per_channel: bool,
}

impl Default for PtqConfig {
    /// Min/max calibration, per-channel weights everywhere: what
    /// `tf.lite.TFLiteConverter` with `Optimize.DEFAULT`, a representative
    /// data set and int8 input/output chooses.
    fn default() -> Self {
        PtqConfig {
            calibration: Calibration::MinMax,
            dense_per_channel: true,
        }
    }
}

/// Why a post-training quantization gave no model (nothing is changed).
#[derive(Clone, Debug, PartialEq)]
pub enum PtqError {
    /// The calibration set has no sample.
    EmptyCalibration,
    /// A value of the float model's tensor `tensor` (a layer's name, or
    /// `input`) was NaN or infinite on calibration sample `sample`, at
    /// flat index `index`.
    NonFinite {
        /// The tensor: `input` or the layer whose output it is.
        tensor: &'static str,
        /// The calibration sample.
        sample: usize,
        /// The flat index of the value.
        index: usize,
    },
    /// The configuration is not valid; the text says why.
    Config(&'static str),
    /// The int8 form cannot take this layer as quantized; the text says why.
    Unsupported {
        /// The layer.
        layer: &'static str,
        /// Why.
        why: &'static str,
    },
}

impl core::fmt::Display for PtqError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PtqError::EmptyCalibration => write!(
                f,
                "the calibration set is empty: post-training quantization needs at least one sample"
            ),
            PtqError::NonFinite {
                tensor,
                sample,
                index,
            } => write!(
                f,
                "value {index} of `{tensor}` is not finite on calibration sample {sample}: the float model or the data is broken"
            ),
            PtqError::Config(why) => write!(f, "invalid PtqConfig: {why}"),
            PtqError::Unsupported { layer, why } => {
                write!(f, "`{layer}` cannot be quantized: {why}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PtqError {}

/// An activation fused into an int8 layer as its clamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fused {
    /// No activation: `[−128, 127]`.
    None,
    /// ReLU: from the zero point.
    Relu,
    /// ReLU6: from the zero point to 6.
    Relu6,
}

/// TFLite's `CalculateActivationRangeQuantized` for int8: the clamp of a
/// fused activation at the output's scale and zero point (the quotient in
/// `f32`, rounded half away from zero).
///
/// ```
/// use staticnet_runtime::quant::calibrate::QuantParams;
/// use staticnet_runtime::quant::ptq::{activation_clamp, Fused};
/// let p = QuantParams { scale: 0.05, zero_point: -128 };
/// assert_eq!(activation_clamp(Fused::None, p), (-128, 127));
/// assert_eq!(activation_clamp(Fused::Relu6, p), (-128, -8)); // 6 / 0.05 = 120
/// ```
pub fn activation_clamp(act: Fused, out: QuantParams) -> (i8, i8) {
    let q = |v: f32| -> i32 {
        let r = libm::roundf(v / out.scale);
        (r as i32).saturating_add(out.zero_point)
    };
    let clamp = |v: i32| v.clamp(-128, 127) as i8;
    match act {
        Fused::None => (-128, 127),
        Fused::Relu => (clamp(q(0.0).max(-128)), 127),
        Fused::Relu6 => (clamp(q(0.0).max(-128)), clamp(q(6.0).min(127))),
    }
}

/// The int8 parameters of a Conv2d, DepthwiseConv2d or Dense, by the
/// names of the int8 file's tensors (`<layer>.<field>`).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedQuant<const O: usize, const K: usize> {
    /// Symmetric int8 weights, one row per output channel.
    pub weight: [[i8; K]; O],
    /// int32 biases at scale `s_in · s_w[o]`.
    pub bias: [i32; O],
    /// The input's zero point.
    pub input_zero_point: i32,
    /// `QuantizeMultiplier(s_in · s_w[o] / s_out)`, per channel.
    pub multiplier: [i32; O],
    /// Its exponents.
    pub shift: [i32; O],
    /// The output's zero point.
    pub output_zero_point: i32,
    /// The clamp's lower end.
    pub activation_min: i8,
    /// The clamp's upper end.
    pub activation_max: i8,
    /// The weights' scales (not stored in the int8 model: the multipliers
    /// hold them).
    pub weight_scale: [f32; O],
}

/// A Conv2d, DepthwiseConv2d or Dense quantized as TFLite's converter
/// does it:
///
/// - `weight(o, k)` (row `o`, in PyTorch's order) and `bias(o)` are the
///   float layer's; a per-channel `affine` after it (a BatchNorm's
///   `scale`, `shift`, as the float inference forward computes them) is
///   folded in first, in `f32` as TensorFlow folds it:
///   `w' = w · scale[o]`, `b' = b · scale[o] + shift[o]`;
/// - weights symmetric in `[−127, 127]`, one scale per output channel
///   (or, with `per_channel == false`, one for the whole tensor);
/// - biases int32 at `s_in · s_w[o]`; multipliers and shifts from
///   `s_in · s_w[o] / s_out` in `f64`;
/// - the clamp of `act` at the output's parameters.
#[allow(clippy::too_many_arguments)]
pub fn quantize_weighted<const O: usize, const K: usize>(
    weight: impl Fn(usize, usize) -> f32,
    bias: impl Fn(usize) -> f32,
    affine: Option<(&[f32; O], &[f32; O])>,
    input: QuantParams,
    output: QuantParams,
    act: Fused,
    per_channel: bool,
) -> WeightedQuant<O, K> {
    let scale = |o: usize| affine.map_or(1.0, |(s, _)| s[o]);
    let folded_w = |o: usize, k: usize| {
        let w = weight(o, k);
        if affine.is_some() {
            w * scale(o)
        } else {
            w
        }
    };
    let folded_b: [f32; O] = core::array::from_fn(|o| match affine {
        Some((s, t)) => bias(o) * s[o] + t[o],
        None => bias(o),
    });
    let mut q = WeightedQuant {
        weight: [[0i8; K]; O],
        bias: [0; O],
        input_zero_point: input.zero_point,
        multiplier: [0; O],
        shift: [0; O],
        output_zero_point: output.zero_point,
        activation_min: 0,
        activation_max: 0,
        weight_scale: [1.0; O],
    };
    if per_channel {
        for (o, row) in q.weight.iter_mut().enumerate() {
            let w: [f32; K] = core::array::from_fn(|k| folded_w(o, k));
            let mut s = [0.0f32];
            // Lengths agree by construction: one channel of K values.
            let _ = symmetric_per_channel(&w, &mut s, row);
            q.weight_scale[o] = s[0];
        }
    } else {
        // One scale for the tensor: max |w| / 127 (f64), as per channel.
        let mut largest = 0.0f64;
        for o in 0..O {
            for k in 0..K {
                largest = largest.max(libm::fabs(folded_w(o, k) as f64));
            }
        }
        let s = if largest > 0.0 {
            (largest / 127.0) as f32
        } else {
            1.0
        };
        for (o, row) in q.weight.iter_mut().enumerate() {
            for (k, v) in row.iter_mut().enumerate() {
                let r = libm::round(folded_w(o, k) as f64 / s as f64);
                *v = r.clamp(-127.0, 127.0) as i8;
            }
        }
        q.weight_scale = [s; O];
    }
    let _ = quantize_bias(&folded_b, input.scale, &q.weight_scale, &mut q.bias);
    for o in 0..O {
        // PopulateConvolutionQuantizationParams: double(s_in)·double(s_w)/double(s_out).
        let real = input.scale as f64 * q.weight_scale[o] as f64 / output.scale as f64;
        (q.multiplier[o], q.shift[o]) = quantize_multiplier(real);
    }
    (q.activation_min, q.activation_max) = activation_clamp(act, output);
    q
}

/// The int8 parameters of a two-input Add, by the int8 file's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddQuant {
    /// The first input's zero point.
    pub input1_zero_point: i32,
    /// The second input's zero point.
    pub input2_zero_point: i32,
    /// TFLite's headroom for int8: 20.
    pub left_shift: u32,
    /// `QuantizeMultiplier(s₁ / (2·max(s₁, s₂)))`.
    pub input1_multiplier: i32,
    /// Its exponent.
    pub input1_shift: i32,
    /// `QuantizeMultiplier(s₂ / (2·max(s₁, s₂)))`.
    pub input2_multiplier: i32,
    /// Its exponent.
    pub input2_shift: i32,
    /// `QuantizeMultiplier(2·max(s₁, s₂) / (2²⁰ · s_out))`.
    pub output_multiplier: i32,
    /// Its exponent.
    pub output_shift: i32,
    /// The output's zero point.
    pub output_zero_point: i32,
    /// The clamp's lower end (a fused ReLU).
    pub activation_min: i8,
    /// The clamp's upper end.
    pub activation_max: i8,
}

/// An int8 Add's parameters as TFLite's `PrepareGeneralSubOp`/Add `Prepare`
/// computes them for int8 (in `f64` from the `f32` scales).
pub fn quantize_add(
    input1: QuantParams,
    input2: QuantParams,
    output: QuantParams,
    act: Fused,
) -> AddQuant {
    let left_shift = 20;
    let (s1, s2) = (input1.scale as f64, input2.scale as f64);
    let twice_max = 2.0 * s1.max(s2);
    let (m1, sh1) = quantize_multiplier(s1 / twice_max);
    let (m2, sh2) = quantize_multiplier(s2 / twice_max);
    let (mo, sho) =
        quantize_multiplier(twice_max / ((1u64 << left_shift) as f64 * output.scale as f64));
    let (lo, hi) = activation_clamp(act, output);
    AddQuant {
        input1_zero_point: input1.zero_point,
        input2_zero_point: input2.zero_point,
        left_shift,
        input1_multiplier: m1,
        input1_shift: sh1,
        input2_multiplier: m2,
        input2_shift: sh2,
        output_multiplier: mo,
        output_shift: sho,
        output_zero_point: output.zero_point,
        activation_min: lo,
        activation_max: hi,
    }
}

/// The int8 parameters of a Softmax, by the int8 file's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxQuant {
    /// The multiplier of `β · s_in · 2²⁶`.
    pub input_multiplier: i32,
    /// Its left shift.
    pub input_left_shift: u32,
    /// `−CalculateInputRadius(5, shift, 31)`.
    pub diff_min: i32,
}

/// An int8 Softmax's parameters as TFLite's `CalculateSoftmaxParams`
/// computes them (β = 1, 5 integer bits of the scaled differences):
/// `QuantizeMultiplierGreaterThanOne(min(β·s_in·2²⁶, 2³¹ − 1))` and the
/// input radius `floor(31 · 2²⁶ / 2^shift)`. The output is fixed at
/// [`SOFTMAX_OUTPUT`](super::calibrate::SOFTMAX_OUTPUT).
pub fn quantize_softmax(input: QuantParams) -> SoftmaxQuant {
    const INT_BITS: u32 = 5;
    let real =
        (input.scale as f64 * (1u64 << (31 - INT_BITS)) as f64).min(((1u64 << 31) - 1) as f64);
    let (m, sh) = quantize_multiplier(real);
    // A real multiplier above 1 has a shift ≥ 1; a smaller scale (≤ 2⁻²⁶,
    // far below any calibrated one) is held at shift 0.
    let sh = sh.max(0) as u32;
    let max_rescaled = ((1u64 << INT_BITS) - 1) as f64 * (1u64 << (31 - INT_BITS)) as f64
        / libm::pow(2.0, sh as f64);
    SoftmaxQuant {
        input_multiplier: m,
        input_left_shift: sh,
        diff_min: -(libm::floor(max_rescaled) as i32),
    }
}

/// A tensor's scale and zero point, compared bit for bit (so that the int8
/// model can be `Eq`).
#[derive(Clone, Copy, Debug)]
pub struct TensorQuant {
    /// The real value of one step.
    pub scale: f32,
    /// The int8 value that stands for 0.0.
    pub zero_point: i32,
}

impl PartialEq for TensorQuant {
    fn eq(&self, other: &Self) -> bool {
        self.scale.to_bits() == other.scale.to_bits() && self.zero_point == other.zero_point
    }
}

impl Eq for TensorQuant {}

impl From<QuantParams> for TensorQuant {
    fn from(p: QuantParams) -> Self {
        TensorQuant {
            scale: p.scale,
            zero_point: p.zero_point,
        }
    }
}

impl From<TensorQuant> for QuantParams {
    fn from(p: TensorQuant) -> Self {
        QuantParams {
            scale: p.scale,
            zero_point: p.zero_point,
        }
    }
}

/// What an int8 model keeps of each layer besides its kernel parameters:
/// the scales and zero points of its input and output and its clamp (the
/// int8 file's `input_scale`, `input_zero_point`, `output_scale`,
/// `output_zero_point`, `activation_min`, `activation_max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerQuant {
    /// The (first) input's quantization.
    pub input: TensorQuant,
    /// The output's quantization.
    pub output: TensorQuant,
    /// The clamp's lower end.
    pub min: i8,
    /// The clamp's upper end.
    pub max: i8,
}

/// The parameters of an int8 kernel as named int8-file tensors, for
/// `to_safetensors`: `f(suffix, values)` for each.
pub trait Int8Tensors {
    /// Calls `f` with every tensor of the block, by its file suffix.
    fn visit_int8(&self, f: &mut dyn FnMut(&'static str, Values<'_>));
}

/// The values of one int8-file tensor.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    /// I8 values in order.
    I8(&'a [i8]),
    /// I32 values in order.
    I32(&'a [i32]),
    /// One I32 scalar.
    Scalar(i32),
    /// One F32 scalar (a scale).
    F32(f32),
}

fn visit_weighted<const O: usize, const K: usize>(
    weight: &[[i8; K]; O],
    bias: &[i32; O],
    input_zero_point: i32,
    out: &OutputStage<O>,
    f: &mut dyn FnMut(&'static str, Values<'_>),
) {
    f("weight", Values::I8(weight.as_flattened()));
    f("bias", Values::I32(bias));
    f("input_zero_point", Values::Scalar(input_zero_point));
    f("multiplier", Values::I32(&out.multiplier));
    f("shift", Values::I32(&out.shift));
    f("output_zero_point", Values::Scalar(out.output_zero_point));
    f("activation_min", Values::Scalar(out.min as i32));
    f("activation_max", Values::Scalar(out.max as i32));
}

impl<const O: usize, const K: usize> Int8Tensors for QConv2dParams<O, K> {
    fn visit_int8(&self, f: &mut dyn FnMut(&'static str, Values<'_>)) {
        visit_weighted(
            &self.weight,
            &self.bias,
            self.input_zero_point,
            &self.out,
            f,
        );
    }
}

impl<const O: usize, const K: usize> Int8Tensors for QDepthwiseParams<O, K> {
    fn visit_int8(&self, f: &mut dyn FnMut(&'static str, Values<'_>)) {
        visit_weighted(
            &self.weight,
            &self.bias,
            self.input_zero_point,
            &self.out,
            f,
        );
    }
}

impl<const O: usize, const I: usize> Int8Tensors for QDenseParams<O, I> {
    fn visit_int8(&self, f: &mut dyn FnMut(&'static str, Values<'_>)) {
        visit_weighted(
            &self.weight,
            &self.bias,
            self.input_zero_point,
            &self.out,
            f,
        );
    }
}

impl Int8Tensors for QAddParams {
    fn visit_int8(&self, f: &mut dyn FnMut(&'static str, Values<'_>)) {
        for (k, v) in [
            ("input1_zero_point", self.input1_zero_point),
            ("input2_zero_point", self.input2_zero_point),
            ("left_shift", self.left_shift as i32),
            ("input1_multiplier", self.input1_multiplier),
            ("input1_shift", self.input1_shift),
            ("input2_multiplier", self.input2_multiplier),
            ("input2_shift", self.input2_shift),
            ("output_multiplier", self.output_multiplier),
            ("output_shift", self.output_shift),
            ("output_zero_point", self.output_zero_point),
            ("activation_min", self.min as i32),
            ("activation_max", self.max as i32),
        ] {
            f(k, Values::Scalar(v));
        }
    }
}

impl Int8Tensors for QSoftmaxParams {
    fn visit_int8(&self, f: &mut dyn FnMut(&'static str, Values<'_>)) {
        f("input_multiplier", Values::Scalar(self.input_multiplier));
        f(
            "input_left_shift",
            Values::Scalar(self.input_left_shift as i32),
        );
        f("diff_min", Values::Scalar(self.diff_min));
    }
}

/// What [`Int8Model::visit_file`] calls per tensor: `(layer, suffix, shape,
/// values)`.
pub type FileVisitor<'a> = dyn FnMut(&str, &str, &[usize], Values<'_>) + 'a;

/// Where a calibration run puts what it sees: the values of calibrated
/// tensor `tensor` (its index in [`Int8Model::CALIBRATED`]) on sample
/// `sample`, flat.
pub trait Observe {
    /// Records one tensor of one sample; a non-finite value is an error.
    fn observe(&mut self, tensor: usize, sample: usize, values: &[f32]) -> Result<(), PtqError>;
}

/// The int8 form of a `model!` (`NameInt8`, `#[int8]` or
/// `#[int8 = "file"]`): post-training quantization from the float model
/// and its int8 file out. `model!` implements the required items; the
/// provided ones ([`Int8Model::quantize`], [`Int8Model::to_safetensors`])
/// need `alloc`.
pub trait Int8Model: Sized {
    /// The float model it quantizes (`Name<f32>`).
    type Float: crate::Train<f32>;

    /// The tensors calibrated, in order: `input`, then the layers whose
    /// output range sets a scale (Conv2d, DepthwiseConv2d, Dense and Add,
    /// each after the BatchNorm and ReLU folded into it).
    const CALIBRATED: &'static [&'static str];

    /// The int8 layers' names, comma-separated (the int8 file's `layers`
    /// metadata).
    const FILE_LAYERS: &'static str;

    /// Runs the float model's training forward (at inference: BatchNorm's
    /// running statistics, no Dropout) on `x` and hands every calibrated
    /// tensor to `obs`.
    fn calibrate_sample(
        model: &Self::Float,
        x: &<Self::Float as crate::Model<f32>>::Input,
        sample: usize,
        tape: &mut <Self::Float as crate::Train<f32>>::Tape,
        obs: &mut dyn Observe,
    ) -> Result<(), PtqError>;

    /// The int8 model from the float one and the calibrated tensors'
    /// parameters (`params(i)` for tensor `i` of [`Int8Model::CALIBRATED`]).
    fn from_params(
        model: &Self::Float,
        params: &dyn Fn(usize) -> QuantParams,
        config: &PtqConfig,
    ) -> Result<Self, PtqError>;

    /// Every tensor of the int8 file, in order: `f(layer, suffix, shape,
    /// values)` (`layer` is `input` for the model input's scale and zero
    /// point).
    fn visit_file(&self, f: &mut FileVisitor<'_>);

    /// Post-training quantization: calibrates every activation over
    /// `calibration` (the float model's outputs per [`PtqConfig`]) and
    /// quantizes the weights with TFLite's conventions. An empty set, a
    /// non-finite value or a layer the int8 form cannot take is an `Err`.
    #[cfg(feature = "alloc")]
    fn quantize(
        model: &Self::Float,
        calibration: &[<Self::Float as crate::Model<f32>>::Input],
        config: &PtqConfig,
    ) -> Result<Self, PtqError>
    where
        <Self::Float as crate::Train<f32>>::Tape: crate::Zeroable,
    {
        let mut cal = Calibrator::new(Self::CALIBRATED, config)?;
        let mut tape = <Self::Float as crate::Train<f32>>::boxed_tape();
        for _ in 0..cal.passes() {
            for (n, x) in calibration.iter().enumerate() {
                Self::calibrate_sample(model, x, n, &mut tape, &mut cal)?;
            }
            cal.end_pass()?;
        }
        Self::from_params(model, &|i| cal.params(i), config)
    }

    /// The int8 file (the format `tools/tflite_to_safetensors.py` writes
    /// and `#[int8 = "file"]` reads): the same model always gives the same
    /// bytes.
    #[cfg(feature = "alloc")]
    fn to_safetensors(&self) -> alloc::vec::Vec<u8> {
        let mut file = Int8File::new();
        self.visit_file(&mut |layer, suffix, shape, v| {
            file.push(&alloc::format!("{layer}.{suffix}"), shape, v);
        });
        file.finish(Self::FILE_LAYERS)
    }
}

#[cfg(feature = "alloc")]
pub use self::host::*;

#[cfg(feature = "alloc")]
mod host {
    use super::{Calibration, PtqConfig, PtqError, QuantParams};
    use crate::quant::calibrate::{activation_params, Range};
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Histogram bins of a percentile calibration.
    const BINS: usize = 2048;

    /// The ranges of a model's calibrated tensors over a calibration set:
    /// one pass for [`Calibration::MinMax`], two for a percentile (the
    /// min/max range, then a histogram over it).
    #[derive(Clone, Debug)]
    pub struct Calibrator {
        names: &'static [&'static str],
        percentile: Option<f64>,
        ranges: Vec<Range>,
        hist: Vec<Vec<u64>>,
        pass: usize,
        samples: usize,
    }

    impl Calibrator {
        /// A calibrator of the tensors `names` (their index is the
        /// `tensor` of [`Calibrator::observe`]).
        pub fn new(names: &'static [&'static str], config: &PtqConfig) -> Result<Self, PtqError> {
            let percentile =
                match config.calibration {
                    Calibration::MinMax => None,
                    Calibration::Percentile(100.0) => None,
                    Calibration::Percentile(p) if p > 50.0 && p < 100.0 => Some(p as f64),
                    Calibration::Percentile(_) => return Err(PtqError::Config(
                        "a percentile calibration keeps p percent of the values, p in (50, 100]",
                    )),
                };
            Ok(Calibrator {
                names,
                percentile,
                ranges: vec![Range::EMPTY; names.len()],
                hist: Vec::new(),
                pass: 0,
                samples: 0,
            })
        }

        /// How many times the calibration set is run.
        pub fn passes(&self) -> usize {
            if self.percentile.is_some() {
                2
            } else {
                1
            }
        }

        /// Records the values of tensor `tensor` on calibration sample
        /// `sample`; a NaN or infinity is an error naming both (and the
        /// ranges are left as they were before this call).
        pub fn observe(
            &mut self,
            tensor: usize,
            sample: usize,
            values: &[f32],
        ) -> Result<(), PtqError> {
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return Err(PtqError::NonFinite {
                    tensor: self.names.get(tensor).copied().unwrap_or("?"),
                    sample,
                    index,
                });
            }
            if self.pass == 0 {
                if let Some(r) = self.ranges.get_mut(tensor) {
                    for &v in values {
                        r.min = r.min.min(v);
                        r.max = r.max.max(v);
                    }
                }
                if tensor == 0 {
                    self.samples += 1;
                }
            } else if let (Some(r), Some(h)) = (self.ranges.get(tensor), self.hist.get_mut(tensor))
            {
                let width = (r.max as f64 - r.min as f64) / BINS as f64;
                for &v in values {
                    let b = if width > 0.0 {
                        ((v as f64 - r.min as f64) / width) as usize
                    } else {
                        0
                    };
                    h[b.min(BINS - 1)] += 1;
                }
            }
            Ok(())
        }

        /// Ends a pass over the calibration set; an empty set is an error.
        pub fn end_pass(&mut self) -> Result<(), PtqError> {
            if self.samples == 0 {
                return Err(PtqError::EmptyCalibration);
            }
            if self.pass == 0 && self.percentile.is_some() {
                self.hist = vec![vec![0; BINS]; self.names.len()];
            }
            self.pass += 1;
            Ok(())
        }

        /// The calibrated range of tensor `tensor`.
        pub fn range(&self, tensor: usize) -> Range {
            let r = self.ranges.get(tensor).copied().unwrap_or(Range::EMPTY);
            let (Some(p), Some(h)) = (self.percentile, self.hist.get(tensor)) else {
                return r;
            };
            let total: u64 = h.iter().sum();
            if total == 0 || r.max <= r.min {
                return r;
            }
            let width = (r.max as f64 - r.min as f64) / BINS as f64;
            // The central p percent: (100 − p) / 2 percent in each tail.
            let tail = (1.0 - p / 100.0) / 2.0 * total as f64;
            // The lower end: the first bin whose cumulative count passes
            // the lower tail; the upper end: the last whose count from the
            // top passes the upper tail.
            let (mut lo, mut acc) = (0, 0u64);
            for (b, &c) in h.iter().enumerate() {
                acc += c;
                if acc as f64 > tail {
                    lo = b;
                    break;
                }
            }
            let (mut hi, mut acc) = (BINS - 1, 0u64);
            for (b, &c) in h.iter().enumerate().rev() {
                acc += c;
                if acc as f64 > tail {
                    hi = b;
                    break;
                }
            }
            Range {
                min: (r.min as f64 + lo as f64 * width) as f32,
                max: (r.min as f64 + (hi + 1) as f64 * width).min(r.max as f64) as f32,
            }
        }

        /// TFLite's activation parameters of tensor `tensor`.
        pub fn params(&self, tensor: usize) -> QuantParams {
            activation_params(self.range(tensor))
        }
    }

    impl super::Observe for Calibrator {
        fn observe(
            &mut self,
            tensor: usize,
            sample: usize,
            values: &[f32],
        ) -> Result<(), PtqError> {
            Calibrator::observe(self, tensor, sample, values)
        }
    }

    /// A safetensors file of int8 tensors, in the order they are added
    /// (so the same model always gives the same bytes), with the metadata
    /// `tools/tflite_to_safetensors.py` writes.
    #[derive(Clone, Debug, Default)]
    pub struct Int8File {
        header: String,
        data: Vec<u8>,
        count: usize,
    }

    impl Int8File {
        /// An empty file.
        pub fn new() -> Self {
            Self::default()
        }

        fn entry(&mut self, name: &str, dtype: &str, shape: &[usize], bytes: &[u8]) {
            use core::fmt::Write;
            let start = self.data.len();
            self.data.extend_from_slice(bytes);
            if self.count > 0 {
                self.header.push(',');
            }
            self.count += 1;
            let _ = write!(
                self.header,
                "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":["
            );
            for (i, d) in shape.iter().enumerate() {
                if i > 0 {
                    self.header.push(',');
                }
                let _ = write!(self.header, "{d}");
            }
            let _ = write!(
                self.header,
                "],\"data_offsets\":[{start},{}]}}",
                self.data.len()
            );
        }

        /// Adds `name` (a layer name, `.`, a suffix: no JSON escaping is
        /// needed) with `values` of `shape` (empty for a scalar).
        pub fn push(&mut self, name: &str, shape: &[usize], values: super::Values<'_>) {
            match values {
                super::Values::I8(v) => {
                    let bytes: Vec<u8> = v.iter().map(|&x| x as u8).collect();
                    self.entry(name, "I8", shape, &bytes);
                }
                super::Values::I32(v) => {
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    self.entry(name, "I32", shape, &bytes);
                }
                super::Values::Scalar(v) => self.entry(name, "I32", &[], &v.to_le_bytes()),
                super::Values::F32(v) => self.entry(name, "F32", &[], &v.to_le_bytes()),
            }
        }

        /// The file's bytes, with `layers` (comma-separated) in the
        /// metadata.
        pub fn finish(self, layers: &str) -> Vec<u8> {
            let mut header = alloc::format!(
                "{{\"__metadata__\":{{\"format\":\"staticnet-int8\",\"layers\":\"{layers}\"}}"
            );
            if self.count > 0 {
                header.push(',');
                header.push_str(&self.header);
            }
            header.push('}');
            while header.len() % 8 != 0 {
                header.push(' ');
            }
            let mut out = Vec::with_capacity(8 + header.len() + self.data.len());
            out.extend_from_slice(&(header.len() as u64).to_le_bytes());
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(&self.data);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qp(scale: f32, zero_point: i32) -> QuantParams {
        QuantParams { scale, zero_point }
    }

    /// A hand-worked Dense of one output: w = [0.5, −1.27], b = 0.1,
    /// s_in = 0.02, s_out = 0.1: s_w = 1.27/127 = 0.01, q = [50, −127],
    /// bias = round(0.1 / 0.0002) = 500, real multiplier ≈ 0.002 =
    /// 0.512 · 2⁻⁸, shift −8. In the scales' f32 values the product is
    /// 0.0019999998807907 = 0.51199996948 · 2⁻⁸ (s_in = 0.0199999996,
    /// s_out = 0.1000000015, s_w = 0.01 in f32), so the significand is
    /// round(0.51199996948 · 2³¹) = 1099511562, not 0.512's 1099511628.
    #[test]
    fn a_hand_worked_dense() {
        let w = [[0.5f32, -1.27]];
        let q = quantize_weighted::<1, 2>(
            |o, k| w[o][k],
            |_| 0.1,
            None,
            qp(0.02, 3),
            qp(0.1, -128),
            Fused::Relu,
            true,
        );
        assert_eq!(q.weight, [[50, -127]]);
        assert_eq!(q.weight_scale, [(1.27f32 as f64 / 127.0) as f32]);
        assert_eq!(q.bias, [500]);
        assert_eq!(q.input_zero_point, 3);
        let real = 0.02f32 as f64 * q.weight_scale[0] as f64 / 0.1f32 as f64;
        assert!((real - 0.002).abs() < 1e-9);
        assert_eq!(q.shift, [-8]);
        assert_eq!(q.multiplier, [quantize_multiplier(real).0]);
        assert_eq!(q.multiplier, [1_099_511_562]);
        assert_eq!((q.activation_min, q.activation_max), (-128, 127));
    }

    /// A folded affine scales each row and shifts the bias before the
    /// weights are quantized: row 0 ×2 (so its scale doubles and its int8
    /// weights do not change), bias 0·2 + 0.5 = 0.5 → 0.5 / 0.02 = 25.
    #[test]
    fn a_batchnorm_is_folded_before_quantizing() {
        let w = [[1.27f32, 0.5], [1.0, -1.0]];
        let run = |affine: Option<(&[f32; 2], &[f32; 2])>, per_channel| {
            quantize_weighted::<2, 2>(
                |o, k| w[o][k],
                |_| 0.0,
                affine,
                qp(1.0, 0),
                qp(1.0, 0),
                Fused::None,
                per_channel,
            )
        };
        let plain = run(None, true);
        assert_eq!(plain.weight, [[127, 50], [127, -127]]);
        let bn = (&[2.0f32, 1.0], &[0.5f32, 0.0]);
        let folded = run(Some(bn), true);
        assert_eq!(folded.weight, plain.weight);
        let s0 = ((1.27f32 * 2.0) as f64 / 127.0) as f32;
        assert_eq!(folded.weight_scale, [s0, (1.0 / 127.0) as f32]);
        assert_eq!(folded.bias, [25, 0]);
        // Per tensor, the second row shares the first's scale (0.02).
        let per_tensor = run(Some(bn), false);
        assert_eq!(per_tensor.weight, [[127, 50], [50, -50]]);
        assert_eq!(per_tensor.weight_scale, [s0, s0]);
    }

    #[test]
    fn clamps_of_fused_activations() {
        // zero point 10, scale 0.1: ReLU from 10, ReLU6 to 10 + 60 = 70.
        assert_eq!(activation_clamp(Fused::Relu, qp(0.1, 10)), (10, 127));
        assert_eq!(activation_clamp(Fused::Relu6, qp(0.1, 10)), (10, 70));
        // 6 beyond the int8 range is clamped.
        assert_eq!(activation_clamp(Fused::Relu6, qp(0.01, 0)), (0, 127));
    }

    /// Add of inputs at scales 0.5 and 0.25 into 1.0: twice_max = 1,
    /// multipliers 0.5 (2³⁰, 0), 0.25 (2³⁰, −1), 1/2²⁰ (2³⁰, −19).
    #[test]
    fn a_hand_worked_add() {
        let a = quantize_add(qp(0.5, 1), qp(0.25, 2), qp(1.0, 3), Fused::None);
        assert_eq!((a.input1_multiplier, a.input1_shift), (1 << 30, 0));
        assert_eq!((a.input2_multiplier, a.input2_shift), (1 << 30, -1));
        assert_eq!((a.output_multiplier, a.output_shift), (1 << 30, -19));
        assert_eq!(
            (
                a.input1_zero_point,
                a.input2_zero_point,
                a.output_zero_point
            ),
            (1, 2, 3)
        );
        assert_eq!(a.left_shift, 20);
    }

    /// Softmax at s_in = 2⁻⁴: real = 2²² = 0.5 · 2²³ → (2³⁰, 23); radius
    /// floor(31 · 2²⁶ / 2²³) = 248.
    #[test]
    fn a_hand_worked_softmax() {
        let s = quantize_softmax(qp(0.0625, 0));
        assert_eq!(s.input_multiplier, 1 << 30);
        assert_eq!(s.input_left_shift, 23);
        assert_eq!(s.diff_min, -248);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn calibration_by_min_max_and_by_percentile() {
        static NAMES: &[&str] = &["input"];
        let values: Vec<f32> = (0..1000).map(|i| i as f32 / 10.0).collect();
        let run = |c: Calibration| {
            let mut cal = Calibrator::new(
                NAMES,
                &PtqConfig {
                    calibration: c,
                    ..PtqConfig::default()
                },
            )
            .unwrap();
            for _ in 0..cal.passes() {
                for (n, chunk) in values.chunks(100).enumerate() {
                    cal.observe(0, n, chunk).unwrap();
                }
                cal.end_pass().unwrap();
            }
            cal.range(0)
        };
        let mm = run(Calibration::MinMax);
        assert_eq!((mm.min, mm.max), (0.0, 99.9));
        // 99%: the top and bottom 5 values (0.5 %) left out, to a bin.
        let p = run(Calibration::Percentile(99.0));
        let bin = 99.9 / 2048.0;
        assert!((p.min - 0.5).abs() <= bin + 1e-4, "{p:?}");
        assert!((p.max - 99.4).abs() <= bin + 1e-4, "{p:?}");
        let mut cal = Calibrator::new(NAMES, &PtqConfig::default()).unwrap();
        assert_eq!(cal.end_pass(), Err(PtqError::EmptyCalibration));
        let bad = [1.0, f32::NAN];
        assert_eq!(
            cal.observe(0, 7, &bad),
            Err(PtqError::NonFinite {
                tensor: "input",
                sample: 7,
                index: 1
            })
        );
        assert!(Calibrator::new(
            NAMES,
            &PtqConfig {
                calibration: Calibration::Percentile(40.0),
                ..PtqConfig::default()
            }
        )
        .is_err());
    }
}
