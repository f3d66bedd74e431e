//! Keras models converted by `tools/keras_to_safetensors.py` (kernel
//! transposes, HWC → CHW flatten order, LSTM/GRU gate reordering, GRU bias
//! splitting) give Keras' outputs, loaded at run time and compiled in.
//!
//! Fixtures (`tests/fixtures/keras/`, made by tensorflow-cpu through
//! `keras_to_safetensors.py --fixtures`): `<case>.safetensors` holds the
//! converted weights (f32), `<case>.io.safetensors` the inputs (already in
//! our CHW layout), Keras' outputs (computed in f32) and the DSL the
//! converter printed for the model.

mod common;

use common::{normalize_dsl, struct_body, Fixture};
use staticnet::{model, Model, Tensor, Weights};

const SOURCE: &str = include_str!("keras.rs");

model! {
    #[weights = "tests/fixtures/keras/keras_cnn.safetensors"]
    pub struct KerasCnn {
        input: [2, 9, 8],
        conv1: Conv2d(4, kernel = (3, 2), stride = (2, 1), padding = same, activation = relu),
        pool: MaxPool2d((2, 2), stride = (2, 2)),
        flat: Flatten,
        fc1: Dense(6, activation = tanh),
        out: Dense(3, activation = softmax),
    }
}

model! {
    #[weights = "tests/fixtures/keras/keras_rnn.safetensors"]
    pub struct KerasRnn {
        input: [7, 3],
        rnn: SimpleRnn(5, return_sequences = true),
        lstm: Lstm(4, return_sequences = true),
        gru: Gru(3, return_sequences = true),
        flat: Flatten,
        out: Dense(2, activation = linear),
    }
}

model! {
    /// Keras' Reshape of an image (channels-last order) into a sequence and
    /// of a sequence into an image, as the converter translates them:
    /// permuted to [H, W, C] before, back to [C, H, W] after.
    #[weights = "tests/fixtures/keras/keras_reshape.safetensors"]
    pub struct KerasReshape {
        input: [2, 6, 4],
        conv: Conv2d(3, kernel = (3, 3), stride = (1, 1), padding = same, activation = relu),
        to_seq_hwc: Permute([1, 2, 0]),
        to_seq: Reshape([8, 9]),
        gru: Gru(4, return_sequences = true),
        to_img_flat: Reshape([4, 2, 4]),
        to_img: Permute([2, 0, 1]),
        mix: Conv2d(2, kernel = (1, 1), stride = (1, 1), padding = valid, activation = tanh),
        flat: Flatten,
        out: Dense(3, activation = linear),
    }
}

/// Keras computes in f32 and so do we; 1e-5 (relative above 1) is the
/// interchange tolerance.
const TOL: f64 = 1e-5;

fn check<M: Model<f32>>(case: &str, ty: &str, model: &M) {
    let io = Fixture::load(&format!("keras/{case}.io"));
    assert_eq!(io.meta("type"), ty);
    let body = struct_body(SOURCE, ty).expect("model! in this file");
    assert_eq!(
        normalize_dsl(body),
        normalize_dsl(io.meta("dsl")),
        "{case}: the model! here differs from what the converter printed"
    );
    let x = &io.get("input").values;
    let want = &io.get("output").values;
    let (n_in, n_out) = (M::Input::LEN, M::Output::LEN);
    assert_eq!(x.len() / n_in * n_out, want.len(), "{case}: sample counts");
    let mut worst = 0.0f64;
    for (s, (x, w)) in x
        .chunks_exact(n_in)
        .zip(want.chunks_exact(n_out))
        .enumerate()
    {
        let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let y = model.forward(&M::Input::from_flat(&x).unwrap());
        for (i, (&g, &w)) in y.as_flat().iter().zip(w).enumerate() {
            let d = (g as f64 - w).abs();
            assert!(
                d <= TOL * w.abs().max(1.0),
                "{case}: sample {s}, output {i}: got {g}, Keras {w} (|diff| {d:e})"
            );
            worst = worst.max(d);
        }
    }
    println!("{case}: worst |diff| vs Keras {worst:.2e}");
}

#[test]
fn keras_cnn_matches_keras() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keras/keras_cnn.safetensors"
    ))
    .unwrap();
    let run = KerasCnn::<f32>::from_safetensors(&bytes).unwrap();
    assert!(run == KerasCnn::WEIGHTS);
    check("keras_cnn", "KerasCnn", &run);
    check("keras_cnn", "KerasCnn", KerasCnn::weights());
}

#[test]
fn keras_rnn_matches_keras() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keras/keras_rnn.safetensors"
    ))
    .unwrap();
    let run = KerasRnn::<f32>::from_safetensors(&bytes).unwrap();
    assert!(run == KerasRnn::WEIGHTS);
    check("keras_rnn", "KerasRnn", &run);
    check("keras_rnn", "KerasRnn", KerasRnn::weights());
}

#[test]
fn keras_reshape_matches_keras() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keras/keras_reshape.safetensors"
    ))
    .unwrap();
    let run = KerasReshape::<f32>::from_safetensors(&bytes).unwrap();
    assert!(run == KerasReshape::WEIGHTS);
    check("keras_reshape", "KerasReshape", &run);
}
