//! A model trained in PyTorch, run in Rust.
//!
//! `tools/interchange.py` trained the textbook CNN (in PyTorch) to tell
//! vertical from horizontal bars in noisy 10×10 images and saved its
//! `state_dict` with `safetensors.torch.save_file`. This loads that file at
//! run time (`Weights::load`), and also has it compiled in
//! (`#[weights = ..]`, read and checked by `model!`), runs both on the test
//! images the script recorded, and checks their predictions against
//! PyTorch's.
//!
//! ```sh
//! cargo run --release --example from_pytorch
//! ```

use safetensors::SafeTensors;
use staticnet::{model, Model, Tensor, Weights};

model! {
    /// The textbook CNN, its weights compiled in from PyTorch's file.
    #[weights = "tests/fixtures/interchange/ix_seed_cnn.safetensors"]
    pub struct BarsCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(64, activation = relu),
        out: Dense(1, activation = sigmoid),
    }
}

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/interchange");

/// A float64 tensor of the script's io file, flat.
fn tensor(st: &SafeTensors<'_>, name: &str) -> Result<Vec<f64>, String> {
    let view = st.tensor(name).map_err(|e| format!("{name}: {e}"))?;
    Ok(view
        .data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Run time: strict, so a file that does not fit is an error naming the
    // tensor and both shapes.
    let net = BarsCnn::<f32>::load(format!("{DIR}/ix_seed_cnn.safetensors"))?;
    // Compile time: the same values, in read-only data.
    let compiled: &'static BarsCnn = BarsCnn::weights();
    assert!(net == *compiled, "run-time and compiled-in weights differ");

    let io_bytes = std::fs::read(format!("{DIR}/ix_seed_cnn.io.safetensors"))?;
    let io = SafeTensors::deserialize(&io_bytes)?;
    let inputs = tensor(&io, "input")?;
    let torch = tensor(&io, "output")?;
    let labels = tensor(&io, "label")?;

    println!("{}", BarsCnn::<f32>::summary());
    println!("image  label       PyTorch     staticnet  |diff|    prediction");
    let n = <BarsCnn as Model<f32>>::Input::LEN;
    let mut worst = 0.0f64;
    for (i, x) in inputs.chunks_exact(n).enumerate() {
        let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let x = <BarsCnn as Model<f32>>::Input::from_flat(&x)?;
        let p = net.forward(&x)[0];
        assert_eq!(p, compiled.forward(&x)[0]);
        let d = (p as f64 - torch[i]).abs();
        worst = worst.max(d);
        let kind = |v: f64| if v > 0.5 { "vertical" } else { "horizontal" };
        println!(
            "{i:>5}  {:<10}  {:.7}  {:.7}  {d:.1e}   {}",
            kind(labels[i]),
            torch[i],
            p,
            kind(p as f64)
        );
        assert!(d <= 1e-5, "image {i}: staticnet {p}, PyTorch {}", torch[i]);
        assert_eq!(
            kind(p as f64),
            kind(torch[i]),
            "image {i}: prediction differs"
        );
    }
    println!(
        "all {} predictions match PyTorch's (worst |diff| {worst:.1e})",
        torch.len()
    );
    Ok(())
}
