//! One-year-ahead forecasts of the yearly sunspot number (1700–2008, NOAA
//! NGDC via statsmodels; see data/README.md) with an LSTM, against the
//! naive forecast "next year = this year".
//!
//! The series is normalised with the mean and standard deviation of the
//! training years only. Each sample is a window of the 16 previous years
//! and its target the next year. The split is chronological: windows whose
//! target falls in the last 20% of the years (1947–2008) are the test set,
//! so the model never sees the future it is scored on. Training uses Adam
//! and mean squared error, with the mean absolute error as `fit`'s metric;
//! the test RMSE is reported in sunspot units. With the `plot` feature the
//! loss and MAE curves are drawn into `forecast_curves.svg` and `.png`
//! under the target directory.
//!
//! Run with `cargo run --release --features plot --example forecast`.

use staticnet::loss::MeanSquaredError;
use staticnet::metrics::MeanAbsoluteError;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{evaluate, fit, model, predict, FitConfig, History, Model, Sequence, Vector};
use std::error::Error;

const WINDOW: usize = 16;

model! {
    /// 16 normalised yearly values → LSTM(32) → next year's value.
    pub struct Forecaster {
        input: [16, 1],
        lstm1: Lstm(32),
        head:  Dense(1),
    }
}

type Window = Sequence<f32, WINDOW, 1>;

const EPOCHS: usize = 100;
const LEARNING_RATE: f64 = 0.003;

/// Reads data/sunspots.csv: a header, then `year,value` rows.
fn load_sunspots() -> Result<(Vec<u32>, Vec<f64>), Box<dyn Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sunspots.csv");
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let (mut years, mut values) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().skip(1) {
        let (year, value) = line
            .trim()
            .split_once(',')
            .ok_or_else(|| format!("{path}:{}: expected year,value", i + 1))?;
        years.push(year.parse().map_err(|e| format!("{path}:{}: {e}", i + 1))?);
        values.push(
            value
                .parse()
                .map_err(|e| format!("{path}:{}: {e}", i + 1))?,
        );
    }
    Ok((years, values))
}

fn rmse(pairs: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (a, b) in pairs {
        sum += (a - b) * (a - b);
        n += 1;
    }
    (sum / n as f64).sqrt()
}

fn main() -> Result<(), Box<dyn Error>> {
    let (years, values) = load_sunspots()?;
    let n = values.len();
    // Years from `split` on are test targets.
    let split = n - (0.2 * n as f64).round() as usize;

    // Normalise with the training years' statistics only.
    let train_years = &values[..split];
    let mean = train_years.iter().sum::<f64>() / split as f64;
    let std = (train_years.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / split as f64).sqrt();
    let z: Vec<f32> = values.iter().map(|v| ((v - mean) / std) as f32).collect();

    // Sample t: years t−16 .. t−1 → year t.
    let (mut x_train, mut y_train, mut x_test, mut y_test, mut test_targets) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for t in WINDOW..n {
        let x = Window::from_column_slice(&z[t - WINDOW..t]);
        let y = Vector::<f32, 1>::new(z[t]);
        if t < split {
            x_train.push(x);
            y_train.push(y);
        } else {
            x_test.push(x);
            y_test.push(y);
            test_targets.push(t);
        }
    }
    println!(
        "sunspots {}–{}: {} years; windows of {WINDOW} years → next year; \
         train {} windows (targets {}–{}), test {} (targets {}–{})",
        years[0],
        years[n - 1],
        n,
        x_train.len(),
        years[WINDOW],
        years[split - 1],
        x_test.len(),
        years[split],
        years[n - 1],
    );
    println!("normalised with the training years' mean {mean:.2} and std {std:.2}");

    print!("{}", Forecaster::<f32>::summary());
    let mut model = Forecaster::<f32>::init(42);
    let mut adam = Adam::boxed_zeroed(AdamConfig {
        lr: LEARNING_RATE,
        ..Default::default()
    });
    let history = fit(
        &mut model,
        &mut *adam,
        &MeanSquaredError,
        // Reported (and plotted) only: the gradient is the loss's.
        &MeanAbsoluteError,
        &x_train,
        &y_train,
        &FitConfig {
            epochs: EPOCHS,
            batch_size: 32,
            seed: 1,
            ..Default::default()
        },
    )?;

    let test = evaluate(
        &model,
        &MeanSquaredError,
        &MeanAbsoluteError,
        &x_test,
        &y_test,
    )?;
    println!("Test (normalised) {test}");

    // Back to sunspot units.
    let predictions = predict(&model, &x_test)?;
    let lstm = rmse(
        predictions
            .iter()
            .zip(&test_targets)
            .map(|(p, &t)| (f64::from(p[0]) * std + mean, values[t])),
    );
    let naive = rmse(test_targets.iter().map(|&t| (values[t - 1], values[t])));
    println!("Last test years (actual / LSTM / naive):");
    for (p, &t) in predictions
        .iter()
        .zip(&test_targets)
        .skip(test_targets.len() - 5)
    {
        println!(
            "  {}: {:6.1} / {:6.1} / {:6.1}",
            years[t],
            values[t],
            f64::from(p[0]) * std + mean,
            values[t - 1]
        );
    }
    println!(
        "Test RMSE {}–{} (sunspot number): LSTM {lstm:.2}, naive last-value {naive:.2} ({:.0}% lower)",
        years[split],
        years[n - 1],
        100.0 * (1.0 - lstm / naive)
    );
    plot(
        &history,
        "forecast_curves",
        &format!(
            "Forecaster (LSTM 32) on yearly sunspots: test RMSE {lstm:.2} vs naive {naive:.2}"
        ),
    )?;
    if lstm >= naive {
        return Err("the LSTM did not beat the naive forecast".into());
    }
    Ok(())
}

/// The loss and MAE curves (normalised units) as `<name>.svg` and
/// `<name>.png` under the target directory (with the `plot` feature).
#[cfg(feature = "plot")]
fn plot(history: &History, name: &str, heading: &str) -> Result<(), Box<dyn Error>> {
    use std::path::PathBuf;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    std::fs::create_dir_all(&target)?;
    let svg = target.join(format!("{name}.svg"));
    history.plot_svg(&svg, heading)?;
    let png = target.join(format!("{name}.png"));
    history.plot_png(&png, heading)?;
    println!(
        "Loss and MAE curves: {} and {}",
        svg.display(),
        png.display()
    );
    Ok(())
}

#[cfg(not(feature = "plot"))]
fn plot(_: &History, _: &str, _: &str) -> Result<(), Box<dyn Error>> {
    println!("(run with `--features plot` for the loss and MAE curves as SVG and PNG)");
    Ok(())
}
