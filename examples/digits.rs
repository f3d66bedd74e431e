//! The textbook CNN adapted to real data: the 1,797 8×8 handwritten digits
//! (UCI "Optical Recognition of Handwritten Digits", as shipped by
//! scikit-learn; see data/README.md), ten classes, softmax output, trained
//! with Adam and categorical cross-entropy on integer labels.
//!
//! A fixed, seeded 80/20 shuffle split gives 1,438 training and 359 test
//! images; a tenth of the training part is held out by `fit` for the
//! validation curves. Pixels (0..16) are scaled to [0, 1]. The loss and
//! accuracy curves are drawn by hand into an SVG under the target
//! directory.
//!
//! Run with `cargo run --release --example digits`.

use staticnet::fit::shuffle;
use staticnet::loss::SparseCategoricalCrossEntropy;
use staticnet::metrics::SparseCategoricalAccuracy;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{evaluate, fit, model, FitConfig, History, Image, Model, Rng, Validation};
use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

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

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    std::fs::create_dir_all(&target)?;
    let svg_path = target.join("digits_curves.svg");
    let heading = format!(
        "DigitsCnn on the 8×8 digits: Adam (lr {LEARNING_RATE}), batch 32; test accuracy {:.2}%",
        100.0 * accuracy
    );
    std::fs::write(&svg_path, curves_svg(&history, &heading))?;
    println!("Loss and accuracy curves: {}", svg_path.display());

    if accuracy < 0.97 {
        return Err(format!("test accuracy {:.2}% is below 97%", 100.0 * accuracy).into());
    }
    Ok(())
}

/// Two panels side by side, loss and accuracy per epoch, training (solid)
/// and validation (dashed): plain SVG, no plotting crate.
fn curves_svg(h: &History, heading: &str) -> String {
    const PANEL_W: f64 = 420.0;
    const PANEL_H: f64 = 300.0;
    const LEFT: f64 = 60.0;
    const TOP: f64 = 70.0;
    const GAP: f64 = 90.0;
    let width = LEFT + 2.0 * PANEL_W + GAP + 30.0;
    let height = TOP + PANEL_H + 70.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{heading}</text>"#,
        width / 2.0
    );
    let loss_max = h
        .loss
        .iter()
        .chain(&h.val_loss)
        .fold(0.0f64, |a, &b| a.max(b));
    let acc_min = h
        .metric
        .iter()
        .chain(&h.val_metric)
        .fold(1.0f64, |a, &b| a.min(b));
    let acc_lo = ((acc_min * 10.0).floor() / 10.0).clamp(0.0, 0.9);
    let acc_ticks = ((1.0 - acc_lo) * 10.0).round() as usize;
    let panels = [
        (
            "loss (sparse categorical cross-entropy)",
            &h.loss,
            &h.val_loss,
            0.0,
            nice_ceil(loss_max),
            5,
            true,
        ),
        (
            "accuracy",
            &h.metric,
            &h.val_metric,
            acc_lo,
            1.0,
            acc_ticks,
            false,
        ),
    ];
    for (p, (title, train, val, lo, hi, ticks, legend_top)) in panels.into_iter().enumerate() {
        let x0 = LEFT + p as f64 * (PANEL_W + GAP);
        let axis = Axis {
            lo,
            hi,
            ticks,
            legend_top,
        };
        panel(
            &mut s,
            (x0, TOP, PANEL_W, PANEL_H),
            title,
            train,
            val,
            &axis,
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

/// Rounds `v` up to 1, 2 or 5 times a power of ten (an axis maximum).
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

/// A panel's y axis: range, number of grid intervals, legend placement.
struct Axis {
    lo: f64,
    hi: f64,
    ticks: usize,
    legend_top: bool,
}

fn panel(
    s: &mut String,
    (x0, y0, w, h): (f64, f64, f64, f64),
    title: &str,
    train: &[f64],
    val: &[f64],
    axis: &Axis,
) {
    let (lo, hi) = (axis.lo, axis.hi);
    let ticks = axis.ticks.max(1);
    let epochs = train.len().max(val.len()).max(2);
    let px = |e: usize| x0 + w * (e as f64 - 1.0) / (epochs as f64 - 1.0);
    let py = |v: f64| y0 + h * (1.0 - ((v - lo) / (hi - lo)).clamp(0.0, 1.0));
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="14">{title}</text>"#,
        x0 + w / 2.0,
        y0 - 15.0
    );
    // Grid and y ticks.
    for i in 0..=ticks {
        let v = lo + (hi - lo) * i as f64 / ticks as f64;
        let y = py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 + w,
            x0 - 6.0,
            y + 4.0,
            if hi - lo < 1.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.1}")
            }
        );
    }
    // X ticks: about six epochs labelled.
    let step = epochs.div_ceil(6).max(1);
    for e in (1..=epochs).filter(|e| *e == 1 || e % step == 0) {
        let x = px(e);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{e}</text>"##,
            y0 + h,
            y0 + h + 5.0,
            y0 + h + 18.0
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle">epoch</text>"##,
        x0 + w / 2.0,
        y0 + h + 36.0
    );
    for (values, colour, dash, label, row) in [
        (train, "#1f77b4", "", "training", 0),
        (
            val,
            "#ff7f0e",
            r#" stroke-dasharray="6 4""#,
            "validation",
            1,
        ),
    ] {
        if values.is_empty() {
            continue;
        }
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| format!("{:.1},{:.1}", px(i + 1), py(v)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
            points.join(" ")
        );
        // Legend in the panel's upper or lower right corner, away from the
        // curves.
        let top = if axis.legend_top {
            y0 + 18.0
        } else {
            y0 + h - 40.0
        };
        let (lx, ly) = (x0 + w - 120.0, top + 18.0 * row as f64);
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{label}</text>"#,
            lx + 28.0,
            lx + 34.0,
            ly + 4.0
        );
    }
}
