//! NeuralAmpModeler's WaveNets ("standard" and "nano", see `models.rs`)
//! streaming one audio sample per `step`, as an amp-simulator plugin's
//! audio callback runs them, with the real-time factor this machine gets.
//!
//! The weights here are Keras-default random ones (`init`), so the sound is
//! meaningless; `tests/wavenet.rs` loads PyTorch weights into the same
//! models and checks them. A trained NAM model's weights load by name
//! through `visit_params_mut` (the name mapping is in
//! `tools/make_fixtures_wavenet.py`).
//!
//! ```text
//! cargo run --release --example wavenet
//! ```

use staticnet::{model, Model, Vector};
use std::time::Instant;

include!("models.rs");

/// One second of audio at 48 kHz.
const RATE: usize = 48_000;

/// A decaying plucked 110 Hz tone with some harmonics: a guitar-ish input.
fn signal(t: usize) -> f32 {
    let s = t as f32 / RATE as f32;
    let w = 2.0 * std::f32::consts::PI * 110.0 * s;
    0.5 * (-3.0 * s).exp() * (w.sin() + 0.3 * (2.0 * w).sin() + 0.1 * (3.0 * w).sin())
}

/// Streams one second through `step`; returns (seconds taken, output RMS).
fn run(mut step: impl FnMut(f32) -> f32) -> (f64, f32) {
    let start = Instant::now();
    let mut energy = 0.0f32;
    for t in 0..RATE {
        let y = step(signal(t));
        energy += y * y;
    }
    (start.elapsed().as_secs_f64(), (energy / RATE as f32).sqrt())
}

fn main() {
    let nano = Box::new(NamNano::<f32>::init(1));
    let mut nano_state = Box::new(NamNanoState::<f32>::zeros());
    let standard = Box::new(NamStandard::<f32>::init(2));
    let mut standard_state = Box::new(NamStandardState::<f32>::zeros());
    println!(
        "NAM nano: {} parameters; NAM standard: {} parameters",
        <NamNano<f32> as Model<f32>>::PARAMS,
        <NamStandard<f32> as Model<f32>>::PARAMS
    );
    for (name, (secs, rms)) in [
        (
            "nano",
            run(|x| nano.step(&mut nano_state, &Vector::<f32, 1>::new(x))[0]),
        ),
        (
            "standard",
            run(|x| standard.step(&mut standard_state, &Vector::<f32, 1>::new(x))[0]),
        ),
    ] {
        println!(
            "{name:>8}: 1 s of 48 kHz audio in {:.1} ms (real-time factor {:.3}, {:.0} ns/sample), output RMS {rms:.4}",
            secs * 1e3,
            secs,
            secs * 1e9 / RATE as f64
        );
    }
}
