//! MLPerf Tiny's KWS DS-CNN (keras_model.py's `ds_cnn`, the architecture of
//! tests/mlperf/kws.rs) as it is *trained*: every convolution followed by
//! BatchNorm (Keras' eps 1e-3 and momentum 0.99, i.e. PyTorch's 0.01),
//! ReLU and the two Dropouts. It is trained with `fit` for an epoch, then
//! its inference `forward` — which folds each BatchNorm into the
//! convolution before it (DESIGN.md, "What `model!` generates") — is
//! compared with the unfolded evaluation computed here independently of
//! staticnet: an f64 loop nest over the model's state_dict (each
//! convolution, then `γ (x − running_mean)/√(running_var + ε) + β`, ReLU,
//! Dropout as the identity, average pooling, Dense, softmax).
//!
//! Two sets of statistics are checked: the running statistics as `fit`
//! left them, and seeded random ones (means in [−0.5, 0.5], variances in
//! [0.25, 4]) put in their place, so the fold is exercised with statistics
//! far from the initial 0 and 1 whichever way `fit` trains BatchNorm. A
//! last check shows the comparison can fail: the reference computed
//! without the random statistics differs from the folded forward by far
//! more than the tolerance.
//!
//! The training data are synthetic and seeded (a [1, 49, 10] template per
//! class of the 12 plus noise): the test is about the fold, not accuracy
//! (one epoch of 24 steps barely moves the loss from ln 12; the weights,
//! and with batch statistics the running statistics, do move).

use staticnet::loss::SparseCategoricalCrossEntropy;
use staticnet::metrics::SparseCategoricalAccuracy;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{fit, model, BufferMut, FitConfig, Image, Model, Rng, Tensor};
use std::collections::BTreeMap;

model! {
    /// KWS DS-CNN with its BatchNorm, ReLU and Dropout layers (MLPerf
    /// Tiny's keras_model.py `ds_cnn`): 49×10 MFCC input, 12 classes.
    pub struct KwsTrain {
        input: [1, 49, 10],
        conv2d: Conv2d(64, kernel = (10, 4), stride = (2, 2), padding = same),
        bn0: BatchNorm(eps = 1e-3, momentum = 0.01),
        r0: Relu,
        drop0: Dropout(0.2),
        dw1: DepthwiseConv2d(kernel = (3, 3), padding = same),
        bn1a: BatchNorm(eps = 1e-3, momentum = 0.01),
        r1a: Relu,
        pw1: Conv2d(64, kernel = (1, 1), padding = same),
        bn1b: BatchNorm(eps = 1e-3, momentum = 0.01),
        r1b: Relu,
        dw2: DepthwiseConv2d(kernel = (3, 3), padding = same),
        bn2a: BatchNorm(eps = 1e-3, momentum = 0.01),
        r2a: Relu,
        pw2: Conv2d(64, kernel = (1, 1), padding = same),
        bn2b: BatchNorm(eps = 1e-3, momentum = 0.01),
        r2b: Relu,
        dw3: DepthwiseConv2d(kernel = (3, 3), padding = same),
        bn3a: BatchNorm(eps = 1e-3, momentum = 0.01),
        r3a: Relu,
        pw3: Conv2d(64, kernel = (1, 1), padding = same),
        bn3b: BatchNorm(eps = 1e-3, momentum = 0.01),
        r3b: Relu,
        dw4: DepthwiseConv2d(kernel = (3, 3), padding = same),
        bn4a: BatchNorm(eps = 1e-3, momentum = 0.01),
        r4a: Relu,
        pw4: Conv2d(64, kernel = (1, 1), padding = same),
        bn4b: BatchNorm(eps = 1e-3, momentum = 0.01),
        r4b: Relu,
        drop4: Dropout(0.4),
        pool: AvgPool2d((25, 5), stride = (25, 5)),
        flat: Flatten,
        dense: Dense(12, activation = softmax),
    }
}

type Mfcc = Image<f32, 1, 49, 10>;
const EPS: f64 = 1e-3;

/// The state_dict (parameters and float buffers) in f64, PyTorch order.
fn state_dict(m: &KwsTrain<f32>) -> BTreeMap<&'static str, Vec<f64>> {
    let mut sd = BTreeMap::new();
    m.visit_params(&mut |p| {
        sd.insert(p.name, p.iter().map(f64::from).collect());
    });
    m.visit_buffers(&mut |b| {
        if let staticnet::Buffer::Values(p) = b {
            sd.insert(p.name, p.iter().map(f64::from).collect());
        }
    });
    sd
}

/// A `[c, h, w]` activation.
struct Act {
    c: usize,
    h: usize,
    w: usize,
    v: Vec<f64>,
}

/// TensorFlow's `same` padding before the first row/column: the smaller
/// half of `max((ceil(n/s) − 1)·s + k − n, 0)`; returns (out, pad_before).
fn same(n: usize, k: usize, s: usize) -> (usize, usize) {
    let out = n.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(n);
    (out, total / 2)
}

/// PyTorch's grouped Conv2d (weight `[o, c/groups, kh, kw]`, bias `[o]`)
/// with TensorFlow `same` padding.
fn conv(
    x: &Act,
    wt: &[f64],
    b: &[f64],
    o: usize,
    k: (usize, usize),
    s: (usize, usize),
    groups: usize,
) -> Act {
    let (oh, ph) = same(x.h, k.0, s.0);
    let (ow, pw) = same(x.w, k.1, s.1);
    let (cin_g, cout_g) = (x.c / groups, o / groups);
    let mut v = vec![0.0; o * oh * ow];
    for oc in 0..o {
        let g = oc / cout_g;
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = b[oc];
                for ci in 0..cin_g {
                    let c = g * cin_g + ci;
                    for di in 0..k.0 {
                        for dj in 0..k.1 {
                            let (r, q) = (
                                (i * s.0 + di) as isize - ph as isize,
                                (j * s.1 + dj) as isize - pw as isize,
                            );
                            if r < 0 || q < 0 || r >= x.h as isize || q >= x.w as isize {
                                continue;
                            }
                            let xv = x.v[(c * x.h + r as usize) * x.w + q as usize];
                            acc += wt[((oc * cin_g + ci) * k.0 + di) * k.1 + dj] * xv;
                        }
                    }
                }
                v[(oc * oh + i) * ow + j] = acc;
            }
        }
    }
    Act {
        c: o,
        h: oh,
        w: ow,
        v,
    }
}

/// BatchNorm with running statistics (eval), then ReLU.
fn bn_relu(mut x: Act, sd: &BTreeMap<&str, Vec<f64>>, name: &str) -> Act {
    let get = |t: &str| &sd[format!("{name}.{t}").as_str()];
    let (g, b, m, var) = (
        get("weight"),
        get("bias"),
        get("running_mean"),
        get("running_var"),
    );
    let hw = x.h * x.w;
    for (i, v) in x.v.iter_mut().enumerate() {
        let c = i / hw;
        *v = (g[c] * (*v - m[c]) / (var[c] + EPS).sqrt() + b[c]).max(0.0);
    }
    x
}

/// The unfolded evaluation of the model, in f64.
fn reference(sd: &BTreeMap<&str, Vec<f64>>, input: &Mfcc) -> Vec<f64> {
    let p = |n: &str| sd[n].as_slice();
    let x = Act {
        c: 1,
        h: 49,
        w: 10,
        v: input.as_flat().iter().map(|&v| f64::from(v)).collect(),
    };
    let x = conv(
        &x,
        p("conv2d.weight"),
        p("conv2d.bias"),
        64,
        (10, 4),
        (2, 2),
        1,
    );
    let mut x = bn_relu(x, sd, "bn0");
    for i in 1..=4 {
        let dw = conv(
            &x,
            p(&format!("dw{i}.weight")),
            p(&format!("dw{i}.bias")),
            64,
            (3, 3),
            (1, 1),
            64,
        );
        let y = bn_relu(dw, sd, &format!("bn{i}a"));
        let pw = conv(
            &y,
            p(&format!("pw{i}.weight")),
            p(&format!("pw{i}.bias")),
            64,
            (1, 1),
            (1, 1),
            1,
        );
        x = bn_relu(pw, sd, &format!("bn{i}b"));
    }
    // AvgPool2d((25, 5)) over the whole 25×5 map, Flatten, Dense, softmax.
    let hw = (x.h * x.w) as f64;
    let pooled: Vec<f64> = (0..64)
        .map(|c| x.v[c * x.h * x.w..(c + 1) * x.h * x.w].iter().sum::<f64>() / hw)
        .collect();
    let (w, b) = (p("dense.weight"), p("dense.bias"));
    let logits: Vec<f64> = (0..12)
        .map(|o| b[o] + (0..64).map(|i| w[o * 64 + i] * pooled[i]).sum::<f64>())
        .collect();
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Seeded synthetic "MFCC" data: one random template per class, plus noise.
fn data(n: usize, seed: u64) -> (Vec<Mfcc>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let templates: Vec<Vec<f32>> = (0..12)
        .map(|_| (0..490).map(|_| 2.0 * rng.uniform() as f32 - 1.0).collect())
        .collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 12;
        let flat: Vec<f32> = templates[class]
            .iter()
            .map(|&t| t + 0.5 * (2.0 * rng.uniform() as f32 - 1.0))
            .collect();
        x.push(Mfcc::from_flat(&flat).expect("490 values"));
        y.push(class);
    }
    (x, y)
}

/// The largest |forward − reference| over `x`.
fn worst(model: &KwsTrain<f32>, sd: &BTreeMap<&str, Vec<f64>>, x: &[Mfcc]) -> f64 {
    x.iter()
        .map(|x| {
            let y = model.forward(x);
            y.as_flat()
                .iter()
                .zip(reference(sd, x))
                .map(|(&a, b)| (f64::from(a) - b).abs())
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max)
}

#[test]
fn trained_kws_folds_batchnorm_within_1e_5() {
    let (x, y) = data(192, 11);
    let (x_test, _) = data(24, 12);
    let mut model = KwsTrain::<f32>::boxed_init(3);
    let mut adam = Adam::boxed_zeroed(AdamConfig {
        lr: 0.01,
        ..Default::default()
    });
    let history = fit(
        &mut *model,
        &mut *adam,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &x,
        &y,
        &FitConfig {
            epochs: 1,
            batch_size: 8,
            seed: 5,
            verbose: 0,
            ..Default::default()
        },
    )
    .expect("fit");
    println!(
        "one epoch: loss {:.4}, accuracy {:.4}",
        history.loss[0], history.metric[0]
    );

    // (a) The statistics `fit` left.
    let sd = state_dict(&model);
    let a = worst(&model, &sd, &x_test);
    println!("folded forward vs unfolded f64 evaluation, fit's statistics: {a:.2e}");
    assert!(
        a <= 1e-5,
        "fit's statistics: the folded forward is {a:.2e} from the unfolded evaluation"
    );

    // (b) Seeded random running statistics in their place.
    let mut rng = Rng::new(99);
    model.visit_buffers_mut(&mut |b| {
        if let BufferMut::Values(mut p) = b {
            let var = p.name.ends_with("running_var");
            for k in 0..p.len() {
                let u = rng.uniform() as f32;
                p.set(k, if var { 0.25 * 16f32.powf(u) } else { u - 0.5 });
            }
        }
    });
    let sd_random = state_dict(&model);
    let b = worst(&model, &sd_random, &x_test);
    println!("folded forward vs unfolded f64 evaluation, random statistics: {b:.2e}");
    assert!(
        b <= 1e-5,
        "random statistics: the folded forward is {b:.2e} from the unfolded evaluation"
    );

    // The comparison can fail: the reference with the statistics `fit`
    // left is far from the forward with the random ones.
    let off = worst(&model, &sd, &x_test);
    println!("forward with random statistics vs reference with fit's: {off:.2e}");
    assert!(
        off > 1e-3,
        "the outputs do not depend on the running statistics ({off:.2e})"
    );
}
