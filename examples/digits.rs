//! The textbook CNN adapted to real data: the 1,797 8×8 handwritten digits
//! (UCI "Optical Recognition of Handwritten Digits", as shipped by
//! scikit-learn; see data/README.md), ten classes, softmax output, trained
//! with Adam and categorical cross-entropy on integer labels.
//!
//! A fixed, seeded 80/20 shuffle split gives 1,438 training and 359 test
//! images; a tenth of the training part is held out by `fit` for the
//! validation curves. Pixels (0..16) are scaled to [0, 1]. With the
//! `plot` feature the loss and accuracy curves are drawn
//! (`History::plot_svg` / `plot_png`) into `digits_curves.svg` and `.png`
//! under the target directory.
//!
//! Run with `cargo run --release --features plot --example digits`.

use staticnet::fit::shuffle;
use staticnet::loss::SparseCategoricalCrossEntropy;
use staticnet::metrics::SparseCategoricalAccuracy;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{evaluate, fit, model, FitConfig, History, Image, Model, Rng, Validation};
use std::error::Error;

model! {
    /// The textbook CNN on 8×8 digits: [32, 6, 6] → [32, 3, 3] → 288 → 64 → 10.
    pub struct DigitsCnn {
        input: [1, 8, 8],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(10, activation = softmax),
    }
}

type Digit = Image<f32, 1, 8, 8>;

const EPOCHS: usize = 30;
const LEARNING_RATE: f64 = 0.002;
const SPLIT_SEED: u64 = 2024;

/// Reads data/digits.csv: 64 pixel values 0..16 (row-major) and the label.
fn load_digits() -> Result<(Vec<Digit>, Vec<usize>), Box<dyn Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv");
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.trim().split(',').collect();
        if fields.len() != 65 {
            return Err(format!(
                "{path}:{}: expected 65 fields, found {}",
                i + 1,
                fields.len()
            )
            .into());
        }
        let mut img: Digit = [[[0.0; 8]; 8]; 1];
        for (v, f) in img.iter_mut().flatten().flatten().zip(&fields[..64]) {
            let p: u8 = f.parse().map_err(|e| format!("{path}:{}: {e}", i + 1))?;
            *v = f32::from(p) / 16.0;
        }
        let label: usize = fields[64]
            .parse()
            .map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        x.push(img);
        y.push(label);
    }
    Ok((x, y))
}

fn main() -> Result<(), Box<dyn Error>> {
    let (x, y) = load_digits()?;

    // A fixed 80/20 split: shuffle the indices with a seeded RNG, the first
    // fifth is the test set.
    let mut order: Vec<usize> = (0..x.len()).collect();
    shuffle(&mut order, &mut Rng::new(SPLIT_SEED));
    let n_test = x.len() / 5;
    let (test_idx, train_idx) = order.split_at(n_test);
    let pick = |idx: &[usize]| -> (Vec<Digit>, Vec<usize>) {
        (
            idx.iter().map(|&i| x[i]).collect(),
            idx.iter().map(|&i| y[i]).collect(),
        )
    };
    let (x_train, y_train) = pick(train_idx);
    let (x_test, y_test) = pick(test_idx);
    println!(
        "digits: {} images, {} train / {} test, pixels scaled to [0, 1]",
        x.len(),
        x_train.len(),
        x_test.len()
    );

    print!("{}", DigitsCnn::<f32>::summary());
    let mut model = DigitsCnn::<f32>::init(42);
    let mut adam = Adam::boxed_zeroed(AdamConfig {
        lr: LEARNING_RATE,
        ..Default::default()
    });
    let history = fit(
        &mut model,
        &mut *adam,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &x_train,
        &y_train,
        &FitConfig {
            epochs: EPOCHS,
            batch_size: 32,
            seed: 1,
            validation: Validation::Split(0.1),
            ..Default::default()
        },
    )?;

    let test = evaluate(
        &model,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &x_test,
        &y_test,
    )?;
    println!("Test {test}");
    let accuracy = test.metric.map_or(0.0, |(_, v)| v);
    println!(
        "Test accuracy: {:.2}% ({} of {})",
        100.0 * accuracy,
        (accuracy * x_test.len() as f64).round(),
        x_test.len()
    );

    let heading = format!(
        "DigitsCnn on the 8×8 digits: Adam (lr {LEARNING_RATE}), batch 32; test accuracy {:.2}%",
        100.0 * accuracy
    );
    plot(&history, "digits_curves", &heading)?;

    if accuracy < 0.97 {
        return Err(format!("test accuracy {:.2}% is below 97%", 100.0 * accuracy).into());
    }
    Ok(())
}

/// The loss and accuracy curves as `<name>.svg` and `<name>.png` under
/// the target directory (with the `plot` feature: `cargo run --release
/// --features plot --example digits`).
#[cfg(feature = "plot")]
fn plot(history: &History, name: &str, heading: &str) -> Result<(), Box<dyn Error>> {
    use std::path::PathBuf;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    std::fs::create_dir_all(&target)?;
    for ext in ["svg", "png"] {
        let path = target.join(format!("{name}.{ext}"));
        if ext == "svg" {
            history.plot_svg(&path, heading)?;
        } else {
            history.plot_png(&path, heading)?;
        }
        println!("Loss and accuracy curves: {}", path.display());
    }
    Ok(())
}

#[cfg(not(feature = "plot"))]
fn plot(_: &History, _: &str, _: &str) -> Result<(), Box<dyn Error>> {
    println!("(run with `--features plot` for the loss and accuracy curves as SVG and PNG)");
    Ok(())
}
