//! The network of tools/make_fixtures_thumb_kernels.py (the paths of the
//! Cortex-M hand-written kernels that the textbook CNN does not take; the
//! bare-metal test tests/thumb/src/kernels.rs runs it on the emulated
//! boards) on the host, through the portable kernels, against PyTorch:
//! forward output, f64 within 1e-12 · max(1, |PyTorch|) and f32 within
//! 1e-5 · max(1, |PyTorch|). A check that the fixture and the model agree
//! (names, layouts, the network) independently of the target.

use safetensors::{Dtype, SafeTensors};
use staticnet::{model, Float, Model};

model! {
    /// The network of `thumb_kernels.safetensors`.
    #[weights("tests/fixtures/thumb_kernels.safetensors", ignore = ["input", "output"])]
    pub struct ThumbKernels {
        input: [2, 10, 14],
        conv1: Conv2d(8, kernel = 3),
        pool1: MaxPool2d(2),
        conv2: Conv2d(4, kernel = 3, activation = tanh),
        flat:  Flatten,
        fc:    Dense(16, activation = tanh),
    }
}

fn fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/thumb_kernels.safetensors"
    );
    std::fs::read(path).expect("tests/fixtures/thumb_kernels.safetensors")
}

fn f64s(st: &SafeTensors<'_>, name: &str) -> Vec<f64> {
    let t = st.tensor(name).expect(name);
    assert_eq!(t.dtype(), Dtype::F64, "{name}");
    t.data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn forward<T: Float>(m: &ThumbKernels<T>, x: &[f64]) -> Vec<f64> {
    let mut input = [[[T::zero(); 14]; 10]; 2];
    for (v, &a) in input.iter_mut().flatten().flatten().zip(x) {
        *v = T::of_f64(a);
    }
    m.forward(&input).iter().map(|v| v.to_f64()).collect()
}

fn check(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs() / w.abs().max(1.0);
        assert!(
            err <= tol,
            "{what}[{i}] = {g:e}, PyTorch {w:e} (error {err:e})"
        );
    }
}

#[test]
fn forward_matches_pytorch_in_f64_and_f32() {
    let bytes = fixture();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (x, want) = (f64s(&st, "input"), f64s(&st, "output"));
    assert_eq!((x.len(), want.len()), (2 * 10 * 14, 16));
    check(
        &forward(&ThumbKernels::<f64>::WEIGHTS_F64, &x),
        &want,
        1e-12,
        "f64",
    );
    check(
        &forward(&ThumbKernels::<f32>::WEIGHTS, &x),
        &want,
        1e-5,
        "f32",
    );
}
