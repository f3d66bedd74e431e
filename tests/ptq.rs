//! Post-training quantization arithmetic (`staticnet::quant::calibrate`)
//! against TensorFlow Lite's converter: tools/make_ptq_fixtures.py
//! quantizes a small Keras model (Conv2D+relu, DepthwiseConv2D+relu6,
//! AveragePooling2D, Flatten, Dense, Softmax) with a representative data
//! set and records, for every int8 tensor, the parameters TFLite chose and
//! what it chose them from (the float ranges its calibrator saw, the float
//! weights and biases).

use safetensors::{Dtype, SafeTensors};
use staticnet::quant::calibrate::{
    activation_params, quantize_bias, symmetric_per_channel, Range, SOFTMAX_OUTPUT,
};

struct Fixture(SafeTensors<'static>);

impl Fixture {
    fn open() -> Fixture {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ptq/tflite_ptq.safetensors"
        );
        let bytes: &'static [u8] = Box::leak(std::fs::read(path).expect(path).into_boxed_slice());
        Fixture(SafeTensors::deserialize(bytes).expect(path))
    }

    fn bytes(&self, name: &str, dtype: Dtype) -> &[u8] {
        let t = self
            .0
            .tensor(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.dtype(), dtype, "{name}");
        t.data()
    }

    fn f32s(&self, name: &str) -> Vec<f32> {
        let d = self.bytes(name, Dtype::F32);
        d.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    fn i32s(&self, name: &str) -> Vec<i32> {
        let d = self.bytes(name, Dtype::I32);
        d.chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    fn i8s(&self, name: &str) -> Vec<i8> {
        self.bytes(name, Dtype::I8)
            .iter()
            .map(|&b| b as i8)
            .collect()
    }

    fn one_f32(&self, name: &str) -> f32 {
        let v = self.f32s(name);
        assert_eq!(v.len(), 1, "{name}");
        v[0]
    }

    fn one_i32(&self, name: &str) -> i32 {
        let v = self.i32s(name);
        assert_eq!(v.len(), 1, "{name}");
        v[0]
    }
}

/// The distance between two positive floats in units in the last place.
fn ulps(a: f32, b: f32) -> u32 {
    a.to_bits().abs_diff(b.to_bits())
}

#[test]
fn activation_scales_and_zero_points_are_tflites() {
    let f = Fixture::open();
    for t in ["input", "conv", "depthwise", "dense"] {
        let range = Range {
            min: f.one_f32(&format!("{t}.min")),
            max: f.one_f32(&format!("{t}.max")),
        };
        let ours = activation_params(range);
        let (scale, zp) = (
            f.one_f32(&format!("{t}.scale")),
            f.one_i32(&format!("{t}.zero_point")),
        );
        assert_eq!(ours.zero_point, zp, "{t}: zero point");
        // The ranges are the float interpreter's, TFLite's calibrator runs
        // its own float kernels: their last bits may differ (the
        // depthwise output's maximum does, by 1 ulp of the scale).
        assert!(
            ulps(ours.scale, scale) <= 2,
            "{t}: scale {} vs TFLite's {scale}",
            ours.scale
        );
    }
    // The input's and the first convolution's ranges are the calibrator's
    // to the bit: there the scale is exact.
    for t in ["input", "conv"] {
        let ours = activation_params(Range {
            min: f.one_f32(&format!("{t}.min")),
            max: f.one_f32(&format!("{t}.max")),
        });
        assert_eq!(ours.scale, f.one_f32(&format!("{t}.scale")), "{t}");
    }
}

#[test]
fn pooling_and_flatten_keep_their_inputs_parameters_and_softmax_is_fixed() {
    let f = Fixture::open();
    // TFLite gives average pooling and Reshape their input's scale and
    // zero point, not their own (narrower) range's.
    let pool_range = f.one_f32("pool.max");
    assert!(pool_range < f.one_f32("depthwise.max"));
    for t in ["pool", "flatten"] {
        assert_eq!(
            f.one_f32(&format!("{t}.scale")),
            f.one_f32("depthwise.scale")
        );
        assert_eq!(
            f.one_i32(&format!("{t}.zero_point")),
            f.one_i32("depthwise.zero_point")
        );
    }
    assert_eq!(f.one_f32("softmax.scale"), SOFTMAX_OUTPUT.scale);
    assert_eq!(f.one_i32("softmax.zero_point"), SOFTMAX_OUTPUT.zero_point);
}

#[test]
fn weights_and_biases_are_tflites_to_the_bit() {
    let f = Fixture::open();
    // layer, and the tensor whose scale is the layer's input scale
    for (layer, input) in [
        ("conv", "input"),
        ("depthwise", "conv"),
        ("dense", "flatten"),
    ] {
        let w = f.f32s(&format!("{layer}.weight.float"));
        let tfl_scales = f.f32s(&format!("{layer}.weight.scale"));
        let mut scales = vec![0.0f32; tfl_scales.len()];
        let mut q = vec![0i8; w.len()];
        symmetric_per_channel(&w, &mut scales, &mut q).unwrap();
        assert_eq!(scales, tfl_scales, "{layer}: weight scales");
        assert_eq!(
            q,
            f.i8s(&format!("{layer}.weight.q")),
            "{layer}: int8 weights"
        );

        let b = f.f32s(&format!("{layer}.bias.float"));
        let s_in = f.one_f32(&format!("{input}.scale"));
        let mut qb = vec![0i32; b.len()];
        quantize_bias(&b, s_in, &tfl_scales, &mut qb).unwrap();
        assert_eq!(
            qb,
            f.i32s(&format!("{layer}.bias.q")),
            "{layer}: int32 biases"
        );
        // The bias scale TFLite records is the f32 product.
        let bias_scales: Vec<f32> = tfl_scales.iter().map(|s| s_in * s).collect();
        assert_eq!(
            bias_scales,
            f.f32s(&format!("{layer}.bias.scale")),
            "{layer}"
        );
    }
}
