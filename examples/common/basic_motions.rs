//! BasicMotions (UEA/UCR archive via sktime; see data/basic_motions/README.md):
//! the loader, the GRU classifier and its training run, shared by
//! `examples/basic_motions.rs` and `tests/basic_motions.rs` (both
//! `#[path]`-include this file, so the test checks the example's very run).

use staticnet::loss::SparseCategoricalCrossEntropy;
use staticnet::metrics::SparseCategoricalAccuracy;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{evaluate, fit, model, FitConfig, History, Sequence};
use std::error::Error;

/// Time steps per recording (10 s at 10 Hz).
pub const STEPS: usize = 100;
/// Channels: accelerometer x, y, z, then gyroscope x, y, z.
pub const CHANNELS: usize = 6;
/// The class names, in the order of the data's labels 0..3.
pub const CLASSES: [&str; 4] = ["Standing", "Running", "Walking", "Badminton"];

model! {
    /// 100 steps × 6 standardised channels → GRU(24) → its last hidden
    /// state → 4 class probabilities. Streamable: `BasicMotionsGruState`
    /// and `step` come with it.
    pub struct BasicMotionsGru {
        input: [100, 6],
        gru:  Gru(24),
        head: Dense(4, activation = softmax),
    }
}

/// One recording as the model reads it: `[steps, channels]`.
pub type Recording = Sequence<f32, STEPS, CHANNELS>;

/// Epochs, learning rate and the seeds of the run (init and shuffle).
pub const EPOCHS: usize = 60;
/// Adam's learning rate.
pub const LEARNING_RATE: f64 = 0.01;
/// The seed of `BasicMotionsGru::init`.
pub const INIT_SEED: u64 = 7;
/// The seed of `fit`'s shuffle.
pub const SHUFFLE_SEED: u64 = 1;

/// Reads `data/basic_motions/<split>.csv`: per row 600 values (channel 0's
/// 100 steps, then channel 1's, …) and the label 0..3; returns the raw
/// values (`[sample][channel][step]`) and the labels.
#[allow(clippy::type_complexity)]
pub fn load_split(
    split: &str,
) -> Result<(Vec<[[f32; STEPS]; CHANNELS]>, Vec<usize>), Box<dyn Error>> {
    let path = format!(
        "{}/data/basic_motions/{split}.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let at = |e: &dyn std::fmt::Display| format!("{path}:{}: {e}", i + 1);
        let fields: Vec<&str> = line.trim().split(',').collect();
        if fields.len() != STEPS * CHANNELS + 1 {
            return Err(at(&format_args!(
                "expected {} fields, found {}",
                STEPS * CHANNELS + 1,
                fields.len()
            ))
            .into());
        }
        let mut rec = [[0.0f32; STEPS]; CHANNELS];
        for (v, f) in rec.iter_mut().flatten().zip(&fields) {
            *v = f.parse().map_err(|e| at(&e))?;
        }
        let label: usize = fields[STEPS * CHANNELS].parse().map_err(|e| at(&e))?;
        if label >= CLASSES.len() {
            return Err(at(&format_args!("label {label} is not 0..3")).into());
        }
        x.push(rec);
        y.push(label);
    }
    Ok((x, y))
}

/// Each channel's mean and standard deviation over the training
/// recordings (all their steps).
pub fn channel_stats(x: &[[[f32; STEPS]; CHANNELS]]) -> [(f32, f32); CHANNELS] {
    let mut stats = [(0.0f32, 1.0f32); CHANNELS];
    for (c, s) in stats.iter_mut().enumerate() {
        let n = (x.len() * STEPS) as f64;
        let mean = x.iter().flat_map(|r| r[c]).map(f64::from).sum::<f64>() / n;
        let var = x
            .iter()
            .flat_map(|r| r[c])
            .map(|v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        *s = (mean as f32, var.sqrt().max(1e-6) as f32);
    }
    stats
}

/// A raw recording standardised with `stats`, as a `[steps, channels]`
/// sequence (one column per step).
pub fn to_sequence(r: &[[f32; STEPS]; CHANNELS], stats: &[(f32, f32); CHANNELS]) -> Recording {
    Recording::from_fn(|c, t| (r[c][t] - stats[c].0) / stats[c].1)
}

/// The data, standardised with the training split's statistics.
pub struct Data {
    /// The 40 training recordings.
    pub x_train: Vec<Recording>,
    /// Their labels.
    pub y_train: Vec<usize>,
    /// The 40 test recordings.
    pub x_test: Vec<Recording>,
    /// Their labels.
    pub y_test: Vec<usize>,
}

/// Loads both splits and standardises every channel with the training
/// split's mean and standard deviation.
pub fn load() -> Result<Data, Box<dyn Error>> {
    let (train, y_train) = load_split("train")?;
    let (test, y_test) = load_split("test")?;
    let stats = channel_stats(&train);
    Ok(Data {
        x_train: train.iter().map(|r| to_sequence(r, &stats)).collect(),
        y_train,
        x_test: test.iter().map(|r| to_sequence(r, &stats)).collect(),
        y_test,
    })
}

/// Trains a fresh `BasicMotionsGru` on the training split with `fit`
/// (Adam, batch 8, seeded); returns the model, its history and its test
/// accuracy.
pub fn train(
    data: &Data,
    verbose: u8,
) -> Result<(BasicMotionsGru<f32>, History, f64), Box<dyn Error>> {
    let mut model = BasicMotionsGru::<f32>::init(INIT_SEED);
    let mut adam = Adam::boxed_zeroed(AdamConfig {
        lr: LEARNING_RATE,
        ..Default::default()
    });
    let history = fit(
        &mut model,
        &mut *adam,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &data.x_train,
        &data.y_train,
        &FitConfig {
            epochs: EPOCHS,
            batch_size: 8,
            seed: SHUFFLE_SEED,
            verbose,
            ..Default::default()
        },
    )?;
    let test = evaluate(
        &model,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &data.x_test,
        &data.y_test,
    )?;
    let accuracy = test.metric.map_or(0.0, |(_, v)| v);
    Ok((model, history, accuracy))
}
