//! Post-training quantization of whole models (`#[int8]`,
//! `Int8Model::quantize`, `to_safetensors`):
//!
//! - the Add and Softmax parameters `staticnet::quant::ptq` computes from
//!   scales equal, on every Add and Softmax of the MLPerf Tiny files
//!   (tests/fixtures/int8/, written by tools/tflite_to_safetensors.py from
//!   the TFLite files), the file's values;
//! - hand-worked small models: which tensor each scale is calibrated on
//!   (after the fused ReLU, after an Add's ReLU), the folding of a
//!   BatchNorm into a convolution without bias, pools and softmax;
//! - errors change nothing: an empty set, a non-finite value;
//! - the round trip: quantize → `to_safetensors` → a model declared with
//!   `#[int8 = "that file"]` (tests/fixtures/ptq_model/) → the same
//!   parameters, bit for bit, and the same bytes out again.

use safetensors::SafeTensors;
use staticnet::quant::calibrate::{activation_params, QuantParams, Range, SOFTMAX_OUTPUT};
use staticnet::quant::ptq::{quantize_add, quantize_softmax, Fused};
use staticnet::quant::{Calibration, Int8Model, PtqConfig, PtqError};
use staticnet::{model, Image, Model, Rng, Vector, Weights};

fn i32_of(st: &SafeTensors, name: &str) -> i32 {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    i32::from_le_bytes(t.data()[..4].try_into().unwrap())
}

fn f32_of(st: &SafeTensors, name: &str) -> f32 {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    f32::from_le_bytes(t.data()[..4].try_into().unwrap())
}

fn open(model: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/int8/{model}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).expect(&path)
}

/// The layers of an MLPerf file, in order (its `layers` metadata).
fn layers(bytes: &[u8]) -> Vec<String> {
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let m = meta.metadata().as_ref().expect("metadata");
    m["layers"].split(',').map(str::to_string).collect()
}

/// Every Softmax of KWS, IC and VWW: its input is the layer before it (the
/// classifier's Dense), whose output scale the file holds.
#[test]
fn softmax_parameters_equal_the_converters_on_mlperf() {
    let mut checked = 0;
    for m in ["kws", "ic", "vww", "ad"] {
        let bytes = open(m);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let names = layers(&bytes);
        for (k, name) in names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.starts_with("softmax"))
        {
            let before = &names[k - 1];
            let input = QuantParams {
                scale: f32_of(&st, &format!("{before}.output_scale")),
                zero_point: i32_of(&st, &format!("{before}.output_zero_point")),
            };
            let s = quantize_softmax(input);
            let got = (s.input_multiplier, s.input_left_shift as i32, s.diff_min);
            let want = (
                i32_of(&st, &format!("{name}.input_multiplier")),
                i32_of(&st, &format!("{name}.input_left_shift")),
                i32_of(&st, &format!("{name}.diff_min")),
            );
            assert_eq!(got, want, "{m} {name}");
            assert_eq!(
                f32_of(&st, &format!("{name}.output_scale")),
                SOFTMAX_OUTPUT.scale
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3);
}

/// IC's three Adds (their inputs as tests/int8_model.rs's DSL reads them):
/// multipliers, shifts and clamps from the producers' and the Add's scales.
#[test]
fn add_parameters_equal_the_converters_on_mlperf() {
    let bytes = open("ic");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let q = |l: &str| QuantParams {
        scale: f32_of(&st, &format!("{l}.output_scale")),
        zero_point: i32_of(&st, &format!("{l}.output_zero_point")),
    };
    for (add, a, b) in [
        ("add", "conv2d", "conv2d_2"),
        ("add_1", "conv2d_5", "conv2d_4"),
        ("add_2", "conv2d_8", "conv2d_7"),
    ] {
        // IC's Adds are followed by a ReLU layer, fused as the Add's clamp.
        let p = quantize_add(q(a), q(b), q(add), Fused::Relu);
        let file = |s: &str| i32_of(&st, &format!("{add}.{s}"));
        let got = [
            p.input1_zero_point,
            p.input2_zero_point,
            p.left_shift as i32,
            p.input1_multiplier,
            p.input1_shift,
            p.input2_multiplier,
            p.input2_shift,
            p.output_multiplier,
            p.output_shift,
            p.output_zero_point,
            p.activation_min as i32,
            p.activation_max as i32,
        ];
        let want = [
            "input1_zero_point",
            "input2_zero_point",
            "left_shift",
            "input1_multiplier",
            "input1_shift",
            "input2_multiplier",
            "input2_shift",
            "output_multiplier",
            "output_shift",
            "output_zero_point",
            "activation_min",
            "activation_max",
        ]
        .map(file);
        assert_eq!(got, want, "{add}");
    }
}

model! {
    /// Dense → ReLU → Dense → Softmax, without a file.
    #[int8]
    pub struct Mlp {
        input: [4],
        d1: Dense(6, activation = relu),
        d2: Dense(3),
        softmax: Softmax,
    }
}

model! {
    /// The same model from the file `Mlp`'s quantization wrote.
    #[int8 = "tests/fixtures/ptq_model/mlp_int8.safetensors"]
    pub struct MlpFile {
        input: [4],
        d1: Dense(6, activation = relu),
        d2: Dense(3),
        softmax: Softmax,
    }
}

model! {
    /// Conv2d without bias + BatchNorm + Relu, a residual Add with its
    /// ReLU, global average pooling, Dense.
    #[int8]
    pub struct Res {
        input: [2, 6, 6],
        conv: Conv2d(4, kernel = 3, padding = same, bias = false),
        bn: BatchNorm,
        r: Relu,
        conv2: Conv2d(4, kernel = 1),
        add: Add(conv2, r),
        r2: Relu,
        gap: GlobalAvgPool,
        drop: Dropout(0.5),
        fc: Dense(3),
    }
}

/// A seeded calibration set of `n` vectors in [−2, 2).
fn vectors(n: usize, seed: u64) -> Vec<Vector<f32, 4>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| Vector::from_fn(|_, _| (4.0 * rng.uniform() - 2.0) as f32))
        .collect()
}

fn images(n: usize, seed: u64) -> Vec<Image<f32, 2, 6, 6>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            core::array::from_fn(|_| {
                core::array::from_fn(|_| {
                    core::array::from_fn(|_| (2.0 * rng.uniform() - 1.0) as f32)
                })
            })
        })
        .collect()
}

/// Hand-set weights: d1 copies the input into units 0..4 and its negation
/// into 4..6 (the first two only), so after the ReLU unit 0 takes
/// max(x₀, 0) … and the calibrated range of d1 is [0, max over the set
/// of the largest |coordinate| seen]; d2 sums pairs.
fn hand_mlp() -> Mlp<f32> {
    let mut m = Mlp::<f32>::zeros();
    for i in 0..4 {
        m.d1.weight[(i, i)] = 1.0;
    }
    m.d1.weight[(4, 0)] = -1.0;
    m.d1.weight[(5, 1)] = -1.0;
    m.d1.bias[2] = 0.5;
    for o in 0..3 {
        m.d2.weight[(o, 2 * o)] = 1.0;
        m.d2.weight[(o, 2 * o + 1)] = -0.5;
    }
    m.d2.bias[1] = -0.25;
    m
}

#[test]
fn a_hand_worked_mlp_is_calibrated_where_its_int8_tensors_are() {
    let net = hand_mlp();
    let xs = vectors(20, 7);
    let q = MlpInt8::quantize(&net, &xs, &PtqConfig::default()).unwrap();
    // The input's range: the set's smallest and largest coordinate.
    let all: Vec<f32> = xs.iter().flat_map(|x| x.iter().copied()).collect();
    let (lo, hi) = all
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let input = activation_params(Range { min: lo, max: hi });
    assert_eq!(QuantParams::from(q.__input), input);
    // d1 after its ReLU: [0, max of x₀, x₁, x₂ + 0.5, x₃, −x₀, −x₁].
    let d1_max = xs
        .iter()
        .map(|x| {
            [x[0], x[1], x[2] + 0.5, x[3], -x[0], -x[1]]
                .into_iter()
                .fold(0.0f32, f32::max)
        })
        .fold(0.0f32, f32::max);
    let d1 = activation_params(Range {
        min: 0.0,
        max: d1_max,
    });
    assert_eq!(d1.zero_point, -128);
    assert_eq!(QuantParams::from(q.__layers[0].output), d1);
    // Its clamp is the ReLU's: from the zero point.
    assert_eq!((q.d1.out.min, q.d1.out.max), (-128, 127));
    assert_eq!(q.d1.input_zero_point, input.zero_point);
    // d1's weights: each row's largest |w| is 1 → scale 1/127, q = ±127.
    assert_eq!(q.d1.weight[0], [127, 0, 0, 0]);
    assert_eq!(q.d1.weight[4], [-127, 0, 0, 0]);
    // Bias 0.5 at scale s_in / 127.
    let s_w = (1.0f64 / 127.0) as f32;
    assert_eq!(
        q.d1.bias[2],
        (0.5 / (input.scale * s_w) as f64).round() as i32
    );
    // d2 reads d1's scale; its own range is of its (linear) outputs.
    assert_eq!(q.d2.input_zero_point, d1.zero_point);
    let d2_vals: Vec<f32> = xs
        .iter()
        .flat_map(|x| {
            let h = [x[0], x[1], x[2] + 0.5, x[3], -x[0], -x[1]].map(|v| v.max(0.0));
            [
                h[0] - 0.5 * h[1],
                h[2] - 0.5 * h[3] - 0.25,
                h[4] - 0.5 * h[5],
            ]
        })
        .collect();
    let mut r = Range::EMPTY;
    r.observe(&d2_vals).unwrap();
    // The float forward sums in another order: allow an ulp on the ends.
    let d2 = QuantParams::from(q.__layers[1].output);
    assert!(
        (d2.scale - activation_params(r).scale).abs() <= 1e-6,
        "{d2:?} {r:?}"
    );
    // Softmax: fixed output, multiplier from d2's scale.
    assert_eq!(QuantParams::from(q.__layers[2].output), SOFTMAX_OUTPUT);
    assert_eq!(q.softmax, {
        let s = quantize_softmax(d2);
        staticnet::quant::QSoftmaxParams {
            input_multiplier: s.input_multiplier,
            input_left_shift: s.input_left_shift,
            diff_min: s.diff_min,
        }
    });
}

/// The int8 model's outputs are the float model's, to the quantization's
/// resolution.
#[test]
fn the_quantized_mlp_follows_the_float_one() {
    let net = Mlp::<f32>::init(3);
    let xs = vectors(200, 11);
    let q = MlpInt8::quantize(&net, &xs, &PtqConfig::default()).unwrap();
    for x in vectors(50, 12).iter() {
        let want = net.forward(x);
        let got = q.dequantize_out(&q.forward(&q.quantize_in(x)));
        for (a, b) in want.iter().zip(got.iter()) {
            assert!((a - b).abs() < 0.03, "{want:?} vs {got:?}");
        }
    }
}

#[test]
fn batchnorm_is_folded_into_a_conv_without_bias() {
    let mut net = Res::<f32>::init(5);
    let c = net.bn.running_mean.len();
    for ch in 0..c {
        net.bn.running_mean[ch] = 0.1 * ch as f32;
        net.bn.running_var[ch] = 0.5 + 0.25 * ch as f32;
        net.bn.weight[ch] = 1.0 + 0.5 * ch as f32;
        net.bn.bias[ch] = 0.2 - 0.1 * ch as f32;
    }
    let xs = images(64, 21);
    let q = ResInt8::quantize(&net, &xs, &PtqConfig::default()).unwrap();
    // The conv has a bias now: BatchNorm's shift, β − mean·γ/√(var + ε).
    assert!(q.conv.bias.iter().any(|&b| b != 0));
    // conv is calibrated after the ReLU, the Add after its ReLU: zero
    // points at −128 and the ReLU clamps from there.
    assert_eq!(q.__layers[0].output.zero_point, -128);
    assert_eq!(q.conv.out.min, -128);
    assert_eq!(q.add.min, -128);
    assert_eq!(q.add.input2_zero_point, -128); // r, conv's int8 tensor
                                               // The pool keeps the Add's parameters.
    assert_eq!(q.__layers[3].output, q.__layers[2].output);
    // And the int8 model follows the float one, to a few steps of the
    // output scale (four quantized layers; input steps of 2/255), on the
    // calibration images (others may fall outside the calibrated range).
    for x in xs.iter().take(20) {
        let want = net.forward(x);
        let got = q.dequantize_out(&q.forward(&q.quantize_in(x)));
        let scale = q.__layers[4].output.scale;
        for (a, b) in want.iter().zip(got.iter()) {
            assert!(
                (a - b).abs() < 10.0 * scale,
                "{want:?} vs {got:?} (scale {scale})"
            );
        }
    }
}

#[test]
fn bad_calibration_is_an_error() {
    let net = hand_mlp();
    assert_eq!(
        MlpInt8::quantize(&net, &[], &PtqConfig::default()),
        Err(PtqError::EmptyCalibration)
    );
    let mut xs = vectors(3, 1);
    xs[1][2] = f32::NAN;
    assert_eq!(
        MlpInt8::quantize(&net, &xs, &PtqConfig::default()),
        Err(PtqError::NonFinite {
            tensor: "input",
            sample: 1,
            index: 2
        })
    );
    // A broken float model: an infinite weight makes d1's output infinite.
    let mut broken = hand_mlp();
    broken.d1.weight[(3, 3)] = f32::INFINITY;
    let err = MlpInt8::quantize(&broken, &vectors(3, 1), &PtqConfig::default()).unwrap_err();
    assert!(
        matches!(err, PtqError::NonFinite { tensor: "d1", .. }),
        "{err}"
    );
    let bad = PtqConfig {
        calibration: Calibration::Percentile(20.0),
        ..PtqConfig::default()
    };
    assert!(matches!(
        MlpInt8::quantize(&net, &vectors(3, 1), &bad),
        Err(PtqError::Config(_))
    ));
}

#[test]
fn a_percentile_calibration_narrows_an_outlier() {
    let net = hand_mlp();
    let mut xs = vectors(400, 9);
    xs[17][0] = 40.0; // one outlier
    let mm = MlpInt8::quantize(&net, &xs, &PtqConfig::default()).unwrap();
    // The central 99.8% of the input's 1,600 values: 1.6 values in each
    // tail, so the one outlier is left out.
    let pc = PtqConfig {
        calibration: Calibration::Percentile(99.8),
        ..PtqConfig::default()
    };
    let p = MlpInt8::quantize(&net, &xs, &pc).unwrap();
    assert!(mm.__input.scale > 40.0 / 256.0);
    assert!(p.__input.scale < 4.1 / 255.0, "{:?}", p.__input);
}

/// The committed file is what quantizing `hand_mlp` on `vectors(20, 7)`
/// writes (regenerate with `STATICNET_WRITE_PTQ=1 cargo test --test
/// ptq_model`), and the model declared with it has the same parameters.
#[test]
fn quantize_to_safetensors_and_back_through_the_macro() {
    let q = MlpInt8::quantize(&hand_mlp(), &vectors(20, 7), &PtqConfig::default()).unwrap();
    let bytes = q.to_safetensors();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ptq_model/mlp_int8.safetensors"
    );
    if std::env::var_os("STATICNET_WRITE_PTQ").is_some() {
        std::fs::write(path, &bytes).unwrap();
    }
    assert_eq!(
        std::fs::read(path).unwrap(),
        bytes,
        "the committed file drifted"
    );
    let f = MlpFileInt8::weights();
    assert_eq!(f.d1, q.d1);
    assert_eq!(f.d2, q.d2);
    assert_eq!(f.softmax, q.softmax);
    assert_eq!(f.__input, q.__input);
    assert_eq!(f.__layers, q.__layers);
    assert_eq!(f.to_safetensors(), bytes);
    assert_eq!(MlpFileInt8::INPUT_SCALE, q.__input.scale);
    for x in vectors(10, 3).iter() {
        let xq = q.quantize_in(x);
        assert_eq!(MlpFileInt8::quantize_input(x), xq);
        assert_eq!(f.forward(&xq), q.forward(&xq));
    }
}

model! {
    /// tools/make_ptq_model_fixtures.py's Keras model, with the layer names
    /// tools/tflite_to_safetensors.py gives TFLite's operators.
    #[int8]
    pub struct TfMlp {
        input: [4],
        dense: Dense(6, activation = relu),
        dense_1: Dense(3),
        softmax: Softmax,
    }
}

/// staticnet's quantization of tools/make_ptq_model_fixtures.py's float
/// model on its calibration set against TFLite's converter's on the same:
/// every tensor of the converter's int8 file (weights, biases, zero points,
/// multipliers, shifts, clamps, softmax's parameters) equal, and every
/// scale equal to the bit (measured: 0 ulp; tests/ptq.rs found up to 2 ulp
/// on a convolutional model, where TFLite's calibrator sees its own float
/// interpreter's sums, so the bound stays exact only for this model).
#[test]
fn the_quantized_model_equals_tflites_converter() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ptq_model");
    let float = TfMlp::<f32>::boxed_load(format!("{dir}/tflite_mlp_float.safetensors")).unwrap();
    let x = calibration::<4>("tflite_mlp");
    let xs: Vec<Vector<f32, 4>> = x.chunks_exact(4).map(Vector::from_column_slice).collect();
    assert_eq!(xs.len(), 64);
    let q = TfMlpInt8::quantize(&float, &xs, &PtqConfig::default()).unwrap();
    let (compared, report) = against_tflite(&q.to_safetensors(), "tflite_mlp");
    assert!(compared >= 30, "{compared}");
    assert!(report.is_empty(), "{report:#?}");
}

/// Every tensor of tools/make_ptq_model_fixtures.py's `<stem>_int8` file
/// (TFLite's converter's) against ours: how many were compared, and a
/// line per difference (integers not equal, scales not equal to the bit,
/// with the count of values and the largest difference).
fn against_tflite(ours: &[u8], stem: &str) -> (usize, Vec<String>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ptq_model");
    let ours = SafeTensors::deserialize(ours).unwrap();
    let theirs = std::fs::read(format!("{dir}/{stem}_int8.safetensors")).unwrap();
    let theirs = SafeTensors::deserialize(&theirs).unwrap();
    let mut report = Vec::new();
    let mut compared = 0;
    let mut names: Vec<String> = theirs.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in names {
        let t = theirs.tensor(&name).unwrap();
        let Ok(o) = ours.tensor(&name) else {
            report.push(format!("{name}: not in ours"));
            continue;
        };
        compared += 1;
        assert_eq!((o.dtype(), o.shape()), (t.dtype(), t.shape()), "{name}");
        let (a, b) = (o.data(), t.data());
        match t.dtype() {
            safetensors::Dtype::F32 => {
                let [a, b] = [a, b].map(|d| f32::from_le_bytes(d[..4].try_into().unwrap()));
                let ulps = (a.to_bits() as i64 - b.to_bits() as i64).abs();
                if ulps > 0 {
                    report.push(format!("{name}: {a} vs TFLite's {b} ({ulps} ulp)"));
                }
            }
            safetensors::Dtype::I8 => {
                let d: Vec<i32> = a
                    .iter()
                    .zip(b)
                    .map(|(&x, &y)| (x as i8 as i32 - y as i8 as i32).abs())
                    .collect();
                let n = d.iter().filter(|&&v| v != 0).count();
                if n > 0 {
                    report.push(format!(
                        "{name}: {n} of {} differ, by up to {}",
                        d.len(),
                        d.iter().max().unwrap()
                    ));
                }
            }
            _ => {
                let v = |d: &[u8]| -> Vec<i64> {
                    d.chunks_exact(4)
                        .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                        .collect()
                };
                let (x, y) = (v(a), v(b));
                let d: Vec<i64> = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).collect();
                let n = d.iter().filter(|&&v| v != 0).count();
                if n > 0 {
                    report.push(format!(
                        "{name}: {n} of {} differ, by up to {} ({x:?} vs TFLite's {y:?})",
                        d.len(),
                        d.iter().max().unwrap()
                    ));
                }
            }
        }
    }
    (compared, report)
}

model! {
    /// tools/make_ptq_model_fixtures.py's residual Keras model, named as
    /// tools/tflite_to_safetensors.py names TFLite's operators (Keras'
    /// own names for the folded layers).
    #[int8]
    pub struct TfRes {
        input: [2, 6, 6],
        conv2d: Conv2d(4, kernel = 3, padding = same, bias = false),
        batch_normalization: BatchNorm(eps = 0.001, momentum = 0.01),
        activation: Relu,
        conv2d_1: Conv2d(4, kernel = 1),
        add: Add(conv2d_1, activation),
        activation_1: Relu,
        average_pooling2d: AvgPool2d((6, 6), stride = (6, 6)),
        flatten: Flatten,
        dense: Dense(3),
    }
}

fn calibration<const N: usize>(stem: &str) -> Vec<f32> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ptq_model");
    let cal = std::fs::read(format!("{dir}/{stem}_calibration.safetensors")).unwrap();
    let cal = SafeTensors::deserialize(&cal).unwrap();
    let x: Vec<f32> = cal
        .tensor("x")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(x.len() % N, 0);
    x
}

/// The residual model with a BatchNorm (folded by both) against TFLite's
/// converter.
#[test]
fn the_quantized_residual_model_against_tflites_converter() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ptq_model");
    let float = TfRes::<f32>::boxed_load(format!("{dir}/tflite_res_float.safetensors")).unwrap();
    let x = calibration::<72>("tflite_res");
    let xs: Vec<Image<f32, 2, 6, 6>> = x
        .chunks_exact(72)
        .map(|c| {
            core::array::from_fn(|ch| {
                core::array::from_fn(|h| core::array::from_fn(|w| c[ch * 36 + h * 6 + w]))
            })
        })
        .collect();
    assert_eq!(xs.len(), 64);
    let q = TfResInt8::quantize(&float, &xs, &PtqConfig::default()).unwrap();
    let (compared, report) = against_tflite(&q.to_safetensors(), "tflite_res");
    assert!(compared >= 40, "{compared}");
    // Equal: every int8 weight and int32 bias (so the BatchNorm is folded
    // as TFLite folds it, in the conv without bias too), the input's, the
    // conv's, the Add's and the Dense's zero points, the clamps, every
    // shift but conv2d_1's. Different, and why:
    // - three scales by 1 ulp (TFLite calibrates on its own float
    //   interpreter, whose sums round differently), and with them the
    //   multipliers that divide by them (by ~200 in 2³¹);
    // - conv2d_1, the Add's first input: TFLite's converter gives it the
    //   range [−1.32, 2.43] where its values span [−1.32, 1.44] (ours);
    //   2.43 is the Add's output maximum. So its scale, zero point,
    //   multipliers and shifts and the Add's parameters that read them
    //   differ. Not explained yet; the int8 models still agree closely.
    let names: Vec<&str> = report
        .iter()
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    let expected = [
        "add.input1_zero_point",
        "add.input2_multiplier",
        "add.output_multiplier",
        "add.output_scale",
        "average_pooling2d.output_scale",
        "conv2d.multiplier",
        "conv2d.output_scale",
        "conv2d_1.input_scale",
        "conv2d_1.multiplier",
        "conv2d_1.output_scale",
        "conv2d_1.output_zero_point",
        "conv2d_1.shift",
        "dense.input_scale",
        "dense.multiplier",
    ];
    assert_eq!(names, expected, "{report:#?}");
    for l in &report {
        if l.contains("ulp") && !l.starts_with("conv2d_1.output_scale") {
            assert!(l.ends_with("(1 ulp)"), "{l}");
        }
    }
}
