//! Post-training quantization in Rust of the Fashion-MNIST network of
//! examples/fashion_mnist.rs: the trained float weights
//! (tests/fixtures/fashion/fashion_net.safetensors, 15 epochs of that
//! example, `--save`) are quantized to int8 by `Int8Model::quantize` with
//! TFLite's conventions (min/max calibration on the first 1,000 training
//! images, per-channel symmetric weights, BatchNorm folded, ReLUs as
//! clamps), then the float and int8 models are evaluated on all 10,000
//! test images.
//!
//! ```text
//! cargo run --release --example fashion_mnist_int8
//! cargo run --release --example fashion_mnist_int8 -- --save int8.safetensors
//! cargo run --release --example fashion_mnist_int8 -- --weights other_float.safetensors
//! ```
//!
//! It fails if the int8 accuracy is more than 1 point below the float one,
//! or if the int8 file it makes differs from the committed
//! tests/fixtures/fashion/fashion_net_int8.safetensors (when it quantizes
//! the committed float weights), so the two cannot drift. `--save PATH`
//! writes the int8 file (`#[int8 = "PATH"]` compiles it in).

#[path = "common/fashion_mnist.rs"]
#[allow(dead_code)] // the class names are not printed here
mod fashion_mnist;
#[path = "common/fashion_net_int8.rs"]
#[allow(dead_code)] // the generated items this example does not use
mod net;

use net::{FashionNet8, FashionNet8Int8, CALIBRATION};
use staticnet::quant::{Int8Model, PtqConfig};
use staticnet::{Model, Weights};
use std::error::Error;
use std::time::Instant;

const FLOAT: &str = "tests/fixtures/fashion/fashion_net.safetensors";
const INT8: &str = "tests/fixtures/fashion/fashion_net_int8.safetensors";

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn arg(args: &[String], flag: &str) -> Result<Option<String>, Box<dyn Error>> {
    match args.iter().position(|a| a == flag) {
        Some(i) => Ok(Some(
            args.get(i + 1)
                .ok_or(format!("{flag} needs a file name"))?
                .clone(),
        )),
        None => Ok(None),
    }
}

/// The index of the largest value.
fn argmax(v: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, x) in v.enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best.0
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let save = arg(&args, "--save")?;
    let weights = arg(&args, "--weights")?.unwrap_or_else(|| FLOAT.to_string());
    let root = env!("CARGO_MANIFEST_DIR");
    let at_root = |p: &str| {
        if std::path::Path::new(p).is_absolute() {
            p.to_string()
        } else {
            format!("{root}/{p}")
        }
    };

    let t = Instant::now();
    let (mut x_train, _) = fashion_mnist::load("train")?;
    let (x_test, y_test) = fashion_mnist::load("t10k")?;
    x_train.truncate(CALIBRATION);
    println!(
        "Fashion-MNIST from {}: calibration on the first {} training images, {} test images (read in {:.1} s)",
        fashion_mnist::data_dir().display(),
        x_train.len(),
        x_test.len(),
        t.elapsed().as_secs_f64()
    );

    let model = FashionNet8::<f32>::boxed_load(at_root(&weights))?;
    println!("float weights: {weights}");

    let total = Instant::now();
    let t = Instant::now();
    let config = PtqConfig::default();
    let q = FashionNet8Int8::quantize(&model, &x_train, &config)?;
    let quantize_secs = t.elapsed().as_secs_f64();
    println!(
        "quantized ({:?} calibration, per-channel weights) in {quantize_secs:.2} s; input scale {} zero point {}",
        config.calibration, q.__input.scale, q.__input.zero_point
    );

    let t = Instant::now();
    let float_right = x_test
        .iter()
        .zip(&y_test)
        .filter(|(x, &y)| argmax(model.forward(x).iter().copied()) == y)
        .count();
    let float_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let int8_right = x_test
        .iter()
        .zip(&y_test)
        .filter(|(x, &y)| argmax(q.forward(&q.quantize_in(x)).iter().map(|&v| v as f32)) == y)
        .count();
    let int8_secs = t.elapsed().as_secs_f64();
    let n = x_test.len() as f64;
    let (fa, ia) = (
        100.0 * float_right as f64 / n,
        100.0 * int8_right as f64 / n,
    );
    println!(
        "float test accuracy {fa:.2}% ({float_right} of {}) in {float_secs:.2} s",
        x_test.len()
    );
    println!(
        "int8  test accuracy {ia:.2}% ({int8_right} of {}) in {int8_secs:.2} s",
        x_test.len()
    );
    println!(
        "int8 - float: {:+.2} points; quantization and both evaluations took {:.2} s",
        ia - fa,
        total.elapsed().as_secs_f64()
    );

    let bytes = q.to_safetensors();
    if let Some(path) = &save {
        std::fs::write(path, &bytes)?;
        println!("int8 file ({} bytes) written to {path}", bytes.len());
    }
    if weights == FLOAT {
        let committed = std::fs::read(at_root(INT8))?;
        if committed != bytes {
            return Err(format!(
                "the int8 file made now differs from the committed {INT8}: re-run with --save {INT8} if the change is intended"
            )
            .into());
        }
        println!("the int8 file equals the committed {INT8}, byte for byte");
    }
    if ia < fa - 1.0 {
        return Err(
            format!("int8 accuracy {ia:.2}% is more than 1 point below float {fa:.2}%").into(),
        );
    }
    Ok(())
}
