//! Weights trained or initialised by PyTorch, loaded at run time
//! (`Weights::from_safetensors`) and compiled in (`#[weights = ..]`), give
//! PyTorch's outputs; weights written by Rust (`Weights::to_safetensors`)
//! load into PyTorch and give Rust's outputs.
//!
//! Fixtures: `tests/fixtures/interchange/`, made by `tools/interchange.py`
//! (see its docstring for the three steps):
//! - `<case>.safetensors`: `safetensors.torch.save_file(state_dict)`, f32;
//! - `<case>.io.safetensors`: inputs, and PyTorch's outputs computed in f64
//!   on exactly those f32 weights;
//! - `rust/<case>.safetensors`: written by this test
//!   (`STATICNET_WRITE_FIXTURES=1`) from `Model::init`, and
//!   `rust/<case>.torch.safetensors`: what PyTorch computed after
//!   `load_state_dict(strict=True)` of that file, with the file's CRC32.

mod common;

use common::{normalize_dsl, struct_body, Fixture};
use staticnet::{model, Float, LoadOptions, Model, Tensor, Weights};
use std::path::PathBuf;

const SOURCE: &str = include_str!("interchange.rs");

model! {
    #[weights = "tests/fixtures/interchange/ix_dense.safetensors"]
    pub struct IxDense {
        input: [6],
        fc1: Dense(5, activation = relu),
        fc2: Dense(3, activation = softmax),
    }
}

model! {
    #[weights = "tests/fixtures/interchange/ix_conv.safetensors"]
    pub struct IxConv {
        input: [2, 7, 6],
        conv1: Conv2d(3, kernel = (3, 2), stride = (2, 1), padding = same, activation = tanh),
        pool: MaxPool2d(2),
        flat: Flatten,
        fc: Dense(4),
    }
}

model! {
    #[weights = "tests/fixtures/interchange/ix_rnn.safetensors"]
    pub struct IxRnn {
        input: [5, 3],
        rnn: SimpleRnn(4, return_sequences = true),
        fc: Dense(2),
    }
}

model! {
    #[weights = "tests/fixtures/interchange/ix_lstm.safetensors"]
    pub struct IxLstm {
        input: [6, 3],
        lstm: Lstm(5),
    }
}

model! {
    #[weights = "tests/fixtures/interchange/ix_gru.safetensors"]
    pub struct IxGru {
        input: [6, 3],
        gru: Gru(4, return_sequences = true),
        flat: Flatten,
        fc: Dense(2, activation = sigmoid),
    }
}

model! {
    #[weights = "tests/fixtures/interchange/ix_seed_cnn.safetensors"]
    pub struct IxSeedCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(64, activation = relu),
        out: Dense(1, activation = sigmoid),
    }
}

model! {
    #[weights = "tests/fixtures/interchange/ix_forecaster.safetensors"]
    pub struct IxForecaster {
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head: Dense(1),
    }
}

fn dir() -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "interchange",
    ]
    .iter()
    .collect()
}

fn read(path: &PathBuf) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with tools/interchange.py)",
            path.display()
        )
    })
}

/// Runs `model` on every input of `io` and compares with `want` (flat per
/// sample): `|got − want| ≤ tol · max(1, |want|)`. `Err` names the first
/// sample and index that differ.
fn compare<T: Float, M: Model<T>>(
    what: &str,
    model: &M,
    inputs: &[f64],
    want: &[f64],
    tol: f64,
) -> Result<f64, String> {
    let n_in = M::Input::LEN;
    let n_out = M::Output::LEN;
    if !inputs.len().is_multiple_of(n_in) || want.len() != inputs.len() / n_in * n_out {
        return Err(format!(
            "{what}: {} input and {} output values do not fit samples of {n_in} → {n_out}",
            inputs.len(),
            want.len()
        ));
    }
    let mut worst = 0.0f64;
    for (s, (x, w)) in inputs
        .chunks_exact(n_in)
        .zip(want.chunks_exact(n_out))
        .enumerate()
    {
        let x: Vec<T> = x.iter().map(|&v| T::of_f64(v)).collect();
        let x = M::Input::from_flat(&x).map_err(|e| format!("{what}: {e}"))?;
        let y = model.forward(&x);
        for (i, (&g, &w)) in y.as_flat().iter().zip(w).enumerate() {
            let g = g.to_f64();
            let d = (g - w).abs();
            // A NaN difference fails too.
            if d.is_nan() || d > tol * w.abs().max(1.0) {
                return Err(format!(
                    "{what}: sample {s}, output {i}: got {g}, PyTorch {w} (|diff| {d:e} > {tol:e})"
                ));
            }
            worst = worst.max(d);
        }
    }
    Ok(worst)
}

/// CRC-32 (IEEE, as Python's `zlib.crc32`).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// One case: PyTorch's file, loaded both ways in f32 and f64, against
/// PyTorch's outputs; and the Rust-written file against what PyTorch made
/// of it.
macro_rules! case {
    ($test:ident, $case:literal, $ty:ident) => {
        #[test]
        fn $test() {
            let case = $case;
            let io = Fixture::load(&format!("interchange/{case}.io"));
            let ty = stringify!($ty);
            assert_eq!(io.meta("type"), ty, "{case}: fixture is for another type");
            let body = struct_body(SOURCE, ty).expect("model! in this file");
            assert_eq!(
                normalize_dsl(body),
                normalize_dsl(io.meta("dsl")),
                "{case}: the model! here differs from the DSL the fixture was made from"
            );
            let inputs = &io.get("input").values;
            let want = &io.get("output").values;

            let bytes = read(&dir().join(format!("{case}.safetensors")));
            // Run time, strict (the file holds exactly the state_dict).
            let run32 = $ty::<f32>::from_safetensors(&bytes).expect("PyTorch file loads");
            let run64 = $ty::<f64>::from_safetensors(&bytes).expect("PyTorch file loads");
            // Compile time: the same values, bit for bit.
            assert!(
                run32 == $ty::WEIGHTS,
                "{case}: WEIGHTS differs from the run-time load"
            );
            assert!(run64 == $ty::WEIGHTS_F64, "{case}: WEIGHTS_F64 differs");

            let w32 = compare(&format!("{case} f32"), &run32, inputs, want, 1e-5).unwrap();
            compare(
                &format!("{case} WEIGHTS"),
                $ty::weights(),
                inputs,
                want,
                1e-5,
            )
            .unwrap();
            let w64 = compare(&format!("{case} f64"), &run64, inputs, want, 1e-12).unwrap();
            println!("{case}: worst |diff| f32 {w32:.2e}, f64 {w64:.2e}");

            // Our writer reproduces what it reads: PyTorch's file → Rust →
            // bytes → Rust gives the same model.
            let again = $ty::<f32>::from_safetensors(&run32.to_safetensors()).unwrap();
            assert!(again == run32, "{case}: to_safetensors does not round-trip");

            rust_written::<$ty<f32>>(&format!("{case}"), inputs, $ty::<f32>::init(7));
        }
    };
}

/// `rust/<name>.safetensors` (written here from `model` when
/// `STATICNET_WRITE_FIXTURES` is set) was read by PyTorch, whose outputs
/// are in `rust/<name>.torch.safetensors`: check it is that file and that
/// Rust computes the same outputs from it.
fn rust_written<M: Model<f32> + PartialEq + std::fmt::Debug>(name: &str, inputs: &[f64], model: M) {
    let path = dir().join("rust").join(format!("{name}.safetensors"));
    if std::env::var_os("STATICNET_WRITE_FIXTURES").is_some() {
        model.save(&path).expect("write fixture");
        return;
    }
    let bytes = read(&path);
    let torch = Fixture::load(&format!("interchange/rust/{name}.torch"));
    assert_eq!(
        torch.meta("weights_crc32"),
        crc32(&bytes).to_string(),
        "{name}: PyTorch's verdict is for another version of the file; rerun \
         tools/interchange.py check-rust"
    );
    let loaded = M::from_safetensors(&bytes).expect("Rust-written file loads");
    // The file is exactly what `to_safetensors` writes for it.
    assert!(
        loaded.to_safetensors() == bytes,
        "{name}: writer not stable"
    );
    let worst = compare(
        &format!("{name} (Rust-written, PyTorch-run)"),
        &loaded,
        inputs,
        &torch.get("output").values,
        1e-5,
    )
    .unwrap();
    println!("{name}: Rust-written weights, worst |diff| vs PyTorch {worst:.2e}");
}

case!(dense, "ix_dense", IxDense);
case!(conv, "ix_conv", IxConv);
case!(simple_rnn, "ix_rnn", IxRnn);
case!(lstm, "ix_lstm", IxLstm);
case!(gru, "ix_gru", IxGru);
case!(seed_cnn, "ix_seed_cnn", IxSeedCnn);
case!(forecaster, "ix_forecaster", IxForecaster);

/// An f64 model writes F64 tensors, which PyTorch loads into a float64
/// module.
#[test]
fn forecaster_f64_written_by_rust() {
    let io = Fixture::load("interchange/ix_forecaster.io");
    let name = "ix_forecaster.f64";
    let path = dir().join("rust").join(format!("{name}.safetensors"));
    if std::env::var_os("STATICNET_WRITE_FIXTURES").is_some() {
        IxForecaster::<f64>::init(11).save(&path).expect("write");
        return;
    }
    let bytes = read(&path);
    let torch = Fixture::load(&format!("interchange/rust/{name}.torch"));
    assert_eq!(torch.meta("weights_crc32"), crc32(&bytes).to_string());
    assert_eq!(torch.meta("weights_dtypes"), "torch.float64");
    let m = IxForecaster::<f64>::from_safetensors(&bytes).unwrap();
    compare(
        name,
        &m,
        &io.get("input").values,
        &torch.get("output").values,
        1e-12,
    )
    .unwrap();
}

/// The trained CNN still classifies: its recorded labels agree with
/// PyTorch's predictions (a sanity check that the fixture is a trained
/// model, not a test of Rust).
#[test]
fn seed_cnn_fixture_is_trained() {
    let io = Fixture::load("interchange/ix_seed_cnn.io");
    let p = &io.get("output").values;
    let y = &io.get("label").values;
    assert!(p.iter().zip(y).all(|(p, y)| (*p > 0.5) == (*y > 0.5)));
}

/// The io files are not weights: `allow_extra` still finds every
/// parameter missing, all listed in one error.
#[test]
fn io_file_is_not_a_model() {
    let bytes = read(&dir().join("ix_dense.io.safetensors"));
    let e = IxDense::<f32>::from_safetensors_with(&bytes, LoadOptions::new().allow_extra())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "4 tensors do not match the model:\n  \
         - missing tensor `fc1.weight`: the model expects shape [5, 6]\n  \
         - missing tensor `fc1.bias`: the model expects shape [5]\n  \
         - missing tensor `fc2.weight`: the model expects shape [3, 5]\n  \
         - missing tensor `fc2.bias`: the model expects shape [3]"
    );
}

#[test]
fn crc32_matches_zlib() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}
