//! A GRU classifier on real smartwatch recordings: BasicMotions (UEA & UCR
//! time-series archive, as shipped by sktime; see
//! data/basic_motions/README.md). Four activities (standing, running,
//! walking, badminton), 6 channels (3-D accelerometer and gyroscope), 100
//! steps at 10 Hz; 40 training and 40 test recordings, the archive's own
//! split. Each channel is standardised with the training recordings' mean
//! and standard deviation.
//!
//! The model is trained with `fit` (Adam, sparse categorical
//! cross-entropy, seeded init and shuffle), scored on the 40 test
//! recordings, and then one test recording is streamed step by step
//! through the generated `BasicMotionsGruState` / `step`, as firmware
//! would feed it one sample every 100 ms: after the last step the streamed
//! output is exactly `forward`'s (asserted, bit for bit).
//!
//! Run with `cargo run --release --example basic_motions`;
//! `tests/basic_motions.rs` checks the same run reaches 95%.

#[path = "common/basic_motions.rs"]
mod basic_motions;

use basic_motions::{BasicMotionsGru, BasicMotionsGruState, CLASSES, STEPS};
use staticnet::{confusion_matrix, Model, Vector};
use std::error::Error;
use std::time::Instant;

fn main() -> Result<(), Box<dyn Error>> {
    let data = basic_motions::load()?;
    println!(
        "BasicMotions: {} train / {} test recordings, {STEPS} steps × 6 channels, classes {CLASSES:?}",
        data.x_train.len(),
        data.x_test.len(),
    );
    print!("{}", BasicMotionsGru::<f32>::summary());

    let start = Instant::now();
    let (model, history, accuracy) = basic_motions::train(&data, 0)?;
    let secs = start.elapsed().as_secs_f64();
    for (e, (loss, acc)) in history.loss.iter().zip(&history.metric).enumerate() {
        if (e + 1) % 10 == 0 || e == 0 {
            println!("epoch {:>2}: loss {loss:.4} - accuracy {acc:.4}", e + 1);
        }
    }
    println!(
        "Trained {} epochs in {secs:.1} s (final training loss {:.4})",
        history.loss.len(),
        history.loss.last().copied().unwrap_or(f64::NAN)
    );
    let cm = confusion_matrix(&model, &data.x_test, &data.y_test)?;
    println!(
        "Test confusion matrix (rows: true class, columns: predicted; {}):\n{cm}",
        CLASSES
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{i} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "Test accuracy: {:.2}% ({} of {})",
        100.0 * accuracy,
        (accuracy * data.x_test.len() as f64).round(),
        data.x_test.len()
    );

    // Stream the first test recording of each class one step at a time.
    for (class, name) in CLASSES.iter().enumerate() {
        let i = data
            .y_test
            .iter()
            .position(|&y| y == class)
            .ok_or("a class without test recordings")?;
        let x = &data.x_test[i];
        let mut state = BasicMotionsGruState::<f32>::zeros();
        let mut streamed = Vector::<f32, 4>::zeros();
        for t in 0..STEPS {
            streamed = model.step(&mut state, &x.column(t).into_owned());
        }
        let full = model.forward(x);
        assert_eq!(streamed, full, "streamed output differs from forward's");
        let p = staticnet::metrics::predicted_class(streamed.as_slice());
        println!(
            "Streamed test recording {i} ({name}) in {STEPS} steps: p = [{}] → {}; equals forward's output bit for bit",
            streamed.iter().map(|v| format!("{v:.4}")).collect::<Vec<_>>().join(", "),
            CLASSES[p],
        );
    }

    if accuracy < 0.95 {
        return Err(format!("test accuracy {:.2}% is below 95%", 100.0 * accuracy).into());
    }
    Ok(())
}
