//! A CRNN — a convolutional front-end on a spectrogram into a two-layer
//! GRU — trained for a few epochs on synthetic "chirps": 16 frequency bins
//! × 20 frames holding a tone that rises, falls or stays put (plus noise),
//! three classes. The conv layers see local time–frequency patterns; the
//! `Permute → Reshape` bridge turns the feature map into one step per
//! frame for the GRUs, which see the direction the tone moves in.
//!
//! The same model is checked against PyTorch (forward and every gradient,
//! BatchNorm in eval mode) in `tests/crnn.rs`. BatchNorm here runs with
//! its stored statistics (training with batch statistics is a later
//! issue), so it is an affine layer whose γ and β train.
//!
//! Run with `cargo run --release --example crnn`.

use staticnet::loss::SparseCategoricalCrossEntropy;
use staticnet::metrics::SparseCategoricalAccuracy;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{evaluate, fit, model, FitConfig, Image, Model, Rng};
use std::error::Error;

model! {
    /// A spectrogram of 16 frequency bins × 20 frames → 3 classes.
    pub struct Crnn {
        input: [1, 16, 20],
        conv1: Conv2d(8, kernel = 3, padding = same),
        bn1:   BatchNorm,
        relu1: Relu,
        pool1: MaxPool2d((2, 1)),
        conv2: Conv2d(8, kernel = 3, padding = same, activation = relu),
        pool2: MaxPool2d((2, 1)),
        perm:  Permute([2, 0, 1]),
        seq:   Reshape([20, 32]),
        gru1:  Gru(16, return_sequences = true),
        gru2:  Gru(16),
        out:   Dense(3, activation = softmax),
    }
}

type Spectrogram = Image<f32, 1, 16, 20>;

const BINS: usize = 16;
const FRAMES: usize = 20;

/// A synthetic spectrogram of class `class` (0 rising, 1 falling, 2 flat):
/// a tone of random start bin and slope whose energy spreads to the
/// neighbouring bins, on uniform noise.
fn example(class: usize, rng: &mut Rng) -> Spectrogram {
    let mut s: Spectrogram = [[[0.0; FRAMES]; BINS]; 1];
    let slope = match class {
        0 => 0.3 + 0.4 * rng.uniform(),
        1 => -(0.3 + 0.4 * rng.uniform()),
        _ => 0.0,
    };
    let span = slope.abs() * (FRAMES - 1) as f64;
    let start = if slope > 0.0 {
        rng.uniform() * (BINS as f64 - 1.0 - span)
    } else if slope < 0.0 {
        span + rng.uniform() * (BINS as f64 - 1.0 - span)
    } else {
        rng.uniform() * (BINS - 1) as f64
    };
    for t in 0..FRAMES {
        let centre = start + slope * t as f64;
        for (f, row) in s[0].iter_mut().enumerate() {
            let d = f as f64 - centre;
            row[t] = ((-d * d).exp() + 0.3 * rng.uniform()) as f32;
        }
    }
    s
}

fn data(n: usize, seed: u64) -> (Vec<Spectrogram>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    (0..n).map(|i| (example(i % 3, &mut rng), i % 3)).unzip()
}

fn main() -> Result<(), Box<dyn Error>> {
    let (x_train, y_train) = data(600, 1);
    let (x_test, y_test) = data(150, 2);
    print!("{}", Crnn::<f32>::summary());
    let mut model = Crnn::<f32>::boxed_init(42);
    let before = evaluate(
        &*model,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &x_test,
        &y_test,
    )?;
    println!("Before training: {before}");
    let mut adam = Adam::boxed_zeroed(AdamConfig {
        lr: 0.005,
        ..Default::default()
    });
    fit(
        &mut *model,
        &mut *adam,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &x_train,
        &y_train,
        &FitConfig {
            epochs: 8,
            batch_size: 16,
            seed: 3,
            verbose: 2,
            ..Default::default()
        },
    )?;
    let after = evaluate(
        &*model,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &x_test,
        &y_test,
    )?;
    println!("After 8 epochs: {after}");
    let probs = model.forward(&x_test[0]);
    println!(
        "First test spectrogram (class {}): probabilities {:.3?}",
        y_test[0],
        probs.as_slice()
    );
    if after.loss >= before.loss {
        return Err(format!("training did not lower the test loss ({before} → {after})").into());
    }
    Ok(())
}
