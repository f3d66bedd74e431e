//! BatchNorm fused into the preceding layer's output loop at inference,
//! against the unfused chain, f32, batch 1.
//!
//! Each group is one `→ BatchNorm → Relu` block of an MLPerf Tiny model:
//! - `vww_conv`: MobileNet-VWW's first block, [3, 96, 96] → Conv2d(8, 3×3,
//!   stride 2, same) → [8, 48, 48] (Conv2d's padded, strided loop);
//! - `vww_depthwise`: its first depthwise block, [8, 48, 48] →
//!   DepthwiseConv2d(3×3, same) (the grouped loop);
//! - `ic_conv`: ResNet-8's first block, [3, 32, 32] → Conv2d(16, 3×3, same).
//!
//! Row `fused` is the model's `forward` (one kernel call, see
//! `macros/golden/benches__bnfuse.rs`); row `unfused` computes the same
//! block as the code generated before the fusion did: the layer's own
//! model (the convolution alone), then `kernels::batchnorm_image`, then
//! `kernels::activate_image::<Relu>`, three passes and three images, with
//! the same parameters. Setup asserts that both agree before anything is
//! timed. Times are CPU time of the benchmark thread.
//!
//! Run: `cargo bench --bench bnfuse`. Instruction counts (independent of
//! the load): `BNFUSE_COUNT=<group>/<row> BNFUSE_ITERS=<n>` runs that row
//! `n` times and exits without criterion, for
//! `valgrind --tool=cachegrind` (the difference of two `n` over their
//! difference is the instructions of one call; see BENCHMARKS.md).

mod common;
use common::ThreadCpuTime;
use criterion::{criterion_group, Criterion};
use staticnet::activation::Relu;
use staticnet::kernels::{activate_image, batchnorm_image};
use staticnet::{model, BatchNormParams, Image, Model, Rng};
use std::hint::black_box;
use std::time::Duration;

model! {
    /// MobileNet-VWW's first block.
    pub struct VwwConv {
        input: [3, 96, 96],
        conv: Conv2d(8, kernel = 3, stride = 2, padding = same),
        bn: BatchNorm(eps = 1e-3),
        relu: Relu,
    }
}

model! {
    /// [`VwwConv`]'s convolution alone (the unfused row's first pass).
    pub struct VwwConvOnly {
        input: [3, 96, 96],
        conv: Conv2d(8, kernel = 3, stride = 2, padding = same),
    }
}

model! {
    /// MobileNet-VWW's first depthwise block.
    pub struct VwwDepthwise {
        input: [8, 48, 48],
        dw: DepthwiseConv2d(kernel = 3, padding = same),
        bn: BatchNorm(eps = 1e-3),
        relu: Relu,
    }
}

model! {
    /// [`VwwDepthwise`]'s convolution alone.
    pub struct VwwDepthwiseOnly {
        input: [8, 48, 48],
        dw: DepthwiseConv2d(kernel = 3, padding = same),
    }
}

model! {
    /// ResNet-8's first block.
    pub struct IcConv {
        input: [3, 32, 32],
        conv: Conv2d(16, kernel = 3, padding = same),
        bn: BatchNorm(eps = 1e-3),
        relu: Relu,
    }
}

model! {
    /// [`IcConv`]'s convolution alone.
    pub struct IcConvOnly {
        input: [3, 32, 32],
        conv: Conv2d(16, kernel = 3, padding = same),
    }
}

const EPS: f32 = 1e-3;

/// Random biases, γ and β, and running statistics (mean in [−0.2, 0.2),
/// variance in [0.5, 1.5)), so the affine is not the identity and relu
/// cuts about half the values.
fn randomise<M: Model<f32>, const C: usize>(
    net: &mut M,
    bn: impl FnOnce(&mut M) -> &mut BatchNormParams<f32, C>,
    rng: &mut Rng,
) {
    net.visit_params_mut(&mut |mut p| {
        let gamma = p.name == "bn.weight";
        if p.name.ends_with("bias") || gamma {
            for k in 0..p.len() {
                let v = rng.uniform() as f32 * 0.4 - 0.2;
                p.set(k, if gamma { 1.0 + v } else { v });
            }
        }
    });
    let bn = bn(net);
    for c in 0..C {
        bn.running_mean[c] = rng.uniform() as f32 * 0.4 - 0.2;
        bn.running_var[c] = rng.uniform() as f32 + 0.5;
    }
}

fn random_image<const C: usize, const H: usize, const W: usize>(
    rng: &mut Rng,
) -> Box<Image<f32, C, H, W>> {
    let mut x = Box::new([[[0.0f32; W]; H]; C]);
    for v in x.as_flattened_mut().as_flattened_mut() {
        *v = rng.uniform() as f32 * 2.0 - 1.0;
    }
    x
}

fn assert_close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "{what}[{k}]: fused {x}, unfused {y}"
        );
    }
}

/// A block's two rows: each runs the block once on its input.
struct Rows {
    group: &'static str,
    fused: Box<dyn Fn()>,
    unfused: Box<dyn Fn()>,
}

/// The rows of block `$fused` (whose convolution is `$layer`, alone in
/// `$only`): `[c, h, w]` its input, `[oc, oh, ow]` its output.
macro_rules! rows {
    ($group:literal, $fused:ident, $only:ident, $layer:ident, $seed:literal,
     [$c:literal, $h:literal, $w:literal], [$oc:literal, $oh:literal, $ow:literal]) => {{
        let mut rng = Rng::new($seed);
        let mut net = Box::new($fused::<f32>::init(1));
        randomise(&mut *net, |n| &mut n.bn, &mut rng);
        let mut only = Box::new($only::<f32>::zeros());
        only.$layer = net.$layer.clone();
        let bn = net.bn.clone();
        let x = random_image::<$c, $h, $w>(&mut rng);
        let unfused = move |x: &Image<f32, $c, $h, $w>| {
            // What the forward generated before the fusion ran.
            let y = only.forward(x);
            let y = batchnorm_image::<f32, $oc, $oh, $ow>(&bn, &y, EPS);
            activate_image::<f32, Relu, $oc, $oh, $ow>(y)
        };
        assert_close(
            $group,
            net.forward(&x).as_flattened().as_flattened(),
            unfused(&x).as_flattened().as_flattened(),
        );
        let x2 = x.clone();
        Rows {
            group: $group,
            fused: Box::new(move || {
                black_box(black_box(&*net).forward(black_box(&*x)));
            }),
            unfused: Box::new(move || {
                black_box(unfused(black_box(&*x2)));
            }),
        }
    }};
}

fn blocks() -> Vec<Rows> {
    vec![
        rows!(
            "vww_conv",
            VwwConv,
            VwwConvOnly,
            conv,
            7,
            [3, 96, 96],
            [8, 48, 48]
        ),
        rows!(
            "vww_depthwise",
            VwwDepthwise,
            VwwDepthwiseOnly,
            dw,
            8,
            [8, 48, 48],
            [8, 48, 48]
        ),
        rows!(
            "ic_conv",
            IcConv,
            IcConvOnly,
            conv,
            9,
            [3, 32, 32],
            [16, 32, 32]
        ),
    ]
}

fn config() -> Criterion<ThreadCpuTime> {
    Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(100)
}

fn bnfuse(c: &mut Criterion<ThreadCpuTime>) {
    for rows in blocks() {
        let mut g = c.benchmark_group(rows.group);
        g.bench_function("fused", |b| b.iter(&rows.fused));
        g.bench_function("unfused", |b| b.iter(&rows.unfused));
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = bnfuse
}

fn main() {
    // Instruction counting: one row, a given number of times, no criterion.
    if let Ok(which) = std::env::var("BNFUSE_COUNT") {
        let iters: usize = std::env::var("BNFUSE_ITERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let (group, row) = which.split_once('/').expect("BNFUSE_COUNT=<group>/<row>");
        let rows = blocks()
            .into_iter()
            .find(|r| r.group == group)
            .expect("a group");
        let f = match row {
            "fused" => &rows.fused,
            "unfused" => &rows.unfused,
            _ => panic!("row fused or unfused"),
        };
        for _ in 0..iters {
            f();
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
