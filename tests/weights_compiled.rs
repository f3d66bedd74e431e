//! `#[weights]`: the values compiled in (`WEIGHTS`, `WEIGHTS_F64`) equal
//! the file's bit for bit, for every parameter and buffer of a model with
//! several tensors, from F32, F64, F16 and BF16 files (F64 into `f32`
//! rounded to nearest), and for a tensor decoded in parts. The files are
//! made by tools/make_fixtures_wscale.py; the expected values are decoded
//! here from the file with the safetensors crate, independently of the
//! macro (F16 tensors against their exact widening by numpy, stored beside
//! them).

use safetensors::{Dtype, SafeTensors};
use staticnet::{model, Buffer, Float, Model};

model! {
    /// Conv2d, BatchNorm (running statistics and count), Dense and a
    /// bias-free Dense, from an F32 file with edge values.
    #[weights("tests/fixtures/wscale/several_f32.safetensors")]
    pub struct SeveralF32 {
        input: [2, 6, 6],
        conv: Conv2d(3, kernel = (3, 3)),
        bn: BatchNorm,
        flat: Flatten,
        fc: Dense(5),
        head: Dense(2, bias = false),
    }
}

model! {
    /// The same model from an F64 file.
    #[weights("tests/fixtures/wscale/several_f64.safetensors")]
    pub struct SeveralF64 {
        input: [2, 6, 6],
        conv: Conv2d(3, kernel = (3, 3)),
        bn: BatchNorm,
        flat: Flatten,
        fc: Dense(5),
        head: Dense(2, bias = false),
    }
}

model! {
    /// The same model from a file of F16, BF16, F32 and F64 tensors (and
    /// their expected values, skipped).
    #[weights("tests/fixtures/wscale/several_half.safetensors", allow_extra)]
    pub struct SeveralHalf {
        input: [2, 6, 6],
        conv: Conv2d(3, kernel = (3, 3)),
        bn: BatchNorm,
        flat: Flatten,
        fc: Dense(5),
        head: Dense(2, bias = false),
    }
}

model! {
    /// A [300, 900] weight: more than the macro decodes in one constant
    /// evaluation, so it is decoded in parts.
    #[weights("tests/fixtures/wscale/big_bf16.safetensors")]
    pub struct Big {
        input: [900],
        big: Dense(300),
    }
}

/// In read-only data, as firmware keeps them (and off the test thread's
/// stack: `Big<f64>` is 2 MB).
static SEVERAL32: SeveralF32 = SeveralF32::WEIGHTS;
static BIG32: Big = Big::WEIGHTS;
static BIG64: Big<f64> = Big::WEIGHTS_F64;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/wscale/{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The file's values of `name` widened exactly to f64, in PyTorch's flat
/// order (F16 from the file's `expect.<name>`).
fn file_values(st: &SafeTensors<'_>, name: &str) -> (Dtype, Vec<f64>) {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let d = t.data();
    let v = match t.dtype() {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
        Dtype::F64 => d
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16) as f64)
            .collect(),
        Dtype::F16 => file_values(st, &format!("expect.{name}")).1,
        other => panic!("{name}: {other:?}"),
    };
    (t.dtype(), v)
}

/// Compares every parameter and buffer of `m` with the file, bit for bit:
/// in `f32`, F64 values rounded to nearest (`as f32`), others exact; in
/// `f64`, exact. NaN must stay NaN. Returns how many tensors it compared.
fn check<T: Float, M: Model<T>>(m: &M, file: &str) -> usize {
    let bytes = fixture(file);
    let st = SafeTensors::deserialize(&bytes).expect("a safetensors file");
    let is_f32 = std::mem::size_of::<T>() == 4;
    let mut compared = 0;
    let mut errors = Vec::new();
    let mut compare = |name: &str, got: Vec<f64>| {
        let (dtype, want) = file_values(&st, name);
        assert_eq!(got.len(), want.len(), "{file}: {name}: length");
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            let w = if is_f32 && dtype == Dtype::F64 {
                *w as f32 as f64
            } else {
                *w
            };
            let same = if w.is_nan() {
                g.is_nan()
            } else {
                g.to_bits() == w.to_bits()
            };
            if !same {
                errors.push(format!("{file}: {name}[{k}]: {g:e} != {w:e}"));
            }
        }
        compared += 1;
    };
    m.visit_params(&mut |p| compare(p.name, p.iter().map(Float::to_f64).collect()));
    m.visit_buffers(&mut |b| match b {
        Buffer::Values(p) => compare(p.name, p.iter().map(Float::to_f64).collect()),
        Buffer::Count { name, value } => {
            let t = st.tensor(name).expect("the count");
            assert_eq!(t.dtype(), Dtype::I64);
            assert_eq!(*value, i64::from_le_bytes(t.data().try_into().unwrap()));
            assert_eq!(*value, 7);
        }
    });
    assert!(
        errors.is_empty(),
        "{} differences:\n{}",
        errors.len(),
        errors.join("\n")
    );
    compared
}

/// conv.weight, conv.bias, bn.{weight, bias, running_mean, running_var},
/// fc.weight, fc.bias, head.weight.
const TENSORS: usize = 9;

#[test]
fn f32_file_bit_for_bit() {
    assert_eq!(check(&SEVERAL32, "several_f32"), TENSORS);
    assert_eq!(check(&SeveralF32::WEIGHTS_F64, "several_f32"), TENSORS);
    assert_eq!(check(SeveralF32::weights(), "several_f32"), TENSORS);
    // The edge values of fc.weight [5, 48], flat index k = (0, k).
    let w = &SEVERAL32.fc.weight;
    assert_eq!(w[(0, 0)].to_bits(), 0);
    assert_eq!(w[(0, 1)].to_bits(), 0x8000_0000);
    assert_eq!(w[(0, 2)].to_bits(), 1);
    assert_eq!(w[(0, 3)].to_bits(), 0x8000_0001);
    assert_eq!(w[(0, 4)], f32::MAX);
    assert_eq!(w[(0, 5)], f32::INFINITY);
    assert_eq!(w[(0, 6)], f32::NEG_INFINITY);
    // In f32, a NaN's payload is kept: its bits are copied.
    assert_eq!(w[(0, 7)].to_bits(), 0x7FC0_1234);
}

#[test]
fn f64_file_exact_in_f64_rounded_to_nearest_in_f32() {
    assert_eq!(check(&SeveralF64::WEIGHTS_F64, "several_f64"), TENSORS);
    assert_eq!(check(&SeveralF64::WEIGHTS, "several_f64"), TENSORS);
    // The rounding cases of fc.weight, worked by hand.
    let w = SeveralF64::WEIGHTS.fc.weight;
    assert_eq!(w[(0, 0)], 1.0); // 1 + 2^-24, a tie: to even
    assert_eq!(w[(0, 1)], 1.0 + 2f32.powi(-22)); // 1 + 3·2^-24, a tie: to even
    assert_eq!(w[(0, 2)], 1.0 + 2f32.powi(-23)); // just above a tie: up
    assert_eq!(w[(0, 3)], 0.1f32);
    assert_eq!(w[(0, 4)], f32::NEG_INFINITY);
    assert_eq!(w[(0, 5)].to_bits(), 0);
    assert_eq!(w[(0, 6)].to_bits(), 0x8000_0000);
    assert_eq!(w[(0, 7)], f32::MAX); // just below the overflow threshold
    assert_eq!(w[(0, 8)].to_bits(), 0x8000_0000);
    assert_eq!(w[(0, 9)].to_bits(), 2); // 1.5 · 2^-149, a tie: to even
    assert_eq!(w[(0, 10)], f32::INFINITY); // (f32::MAX + 2^128) / 2, a tie: to even
    let w64 = SeveralF64::WEIGHTS_F64.fc.weight;
    assert_eq!(w64[(0, 0)], 1.0 + 2f64.powi(-24));
    assert_eq!(w64[(0, 5)], 1e-320);
}

#[test]
fn f16_bf16_f32_f64_mixed_exactly() {
    assert_eq!(check(&SeveralHalf::WEIGHTS_F64, "several_half"), TENSORS);
    assert_eq!(check(&SeveralHalf::WEIGHTS, "several_half"), TENSORS);
    // conv.weight [3, 2, 3, 3] is F16 here (the script gives F16, BF16,
    // F32, F64 by turns to conv.weight, conv.bias, bn.weight, bn.bias,
    // bn.running_mean, ..): storage [3, 18], flat index k < 18 at (0, k).
    let w = SeveralHalf::WEIGHTS_F64.conv.weight;
    assert_eq!(w[(0, 0)], 2f64.powi(-24)); // the smallest F16 subnormal
    assert_eq!(w[(0, 1)], -65504.0);
    assert_eq!(w[(0, 2)], f64::INFINITY);
    assert_eq!(w[(0, 3)].to_bits(), 0x8000_0000_0000_0000);
}

#[test]
fn a_tensor_decoded_in_parts() {
    assert_eq!(check(&BIG32, "big_bf16"), 2);
    assert_eq!(check(&BIG64, "big_bf16"), 2);
    // Row-major [300, 900]: element (r, c) is flat index r · 900 + c; one
    // from each part, by hand.
    let bytes = fixture("big_bf16");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, flat) = file_values(&st, "big.weight");
    for (r, c) in [(0, 0), (299, 872), (1, 873), (299, 899), (150, 450)] {
        assert_eq!(
            BIG32.big.weight[(r, c)] as f64,
            flat[r * 900 + c],
            "({r}, {c})"
        );
        assert_eq!(BIG64.big.weight[(r, c)], flat[r * 900 + c], "({r}, {c})");
    }
}

/// The compiled-in model equals the one the run-time loader reads from the
/// same file (bit for bit, NaN included).
#[test]
fn compiled_in_equals_loaded_from_the_file() {
    use staticnet::Weights;
    let loaded = SeveralF32::<f32>::from_safetensors(&fixture("several_f32")).expect("loads");
    let bits = |m: &SeveralF32| {
        let mut v = Vec::new();
        m.visit_params(&mut |p| v.extend(p.iter().map(f32::to_bits)));
        v
    };
    assert_eq!(bits(&loaded), bits(&SEVERAL32));
}
