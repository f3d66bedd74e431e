//! `Weights`: every bad file is an `Err` that names the tensor and what
//! was expected, never a panic or a half-loaded model; mutated and
//! truncated files (proptest) are rejected or read exactly.

use proptest::prelude::*;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use staticnet::{model, LoadError, LoadOptions, Model, Weights};

model! {
    pub struct Small {
        input: [4, 3],
        gru: Gru(2, return_sequences = true),
        flat: Flatten,
        fc: Dense(2),
    }
}

/// A file with `tensors` (name, dtype, shape, raw bytes), written by the
/// safetensors crate itself.
fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.to_string(),
                TensorView::new(*d, s.clone(), b).expect("consistent test tensor"),
            )
        })
        .collect();
    safetensors::serialize(views, None).expect("serialize")
}

fn f32_bytes(n: usize, scale: f32) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (i as f32 * scale - 0.3).to_le_bytes())
        .collect()
}

/// The tensors of a valid file for `Small`, as (name, dtype, shape, bytes).
fn valid_tensors() -> Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)> {
    vec![
        (
            "gru.weight_ih_l0",
            Dtype::F32,
            vec![6, 3],
            f32_bytes(18, 0.01),
        ),
        (
            "gru.weight_hh_l0",
            Dtype::F32,
            vec![6, 2],
            f32_bytes(12, 0.02),
        ),
        ("gru.bias_ih_l0", Dtype::F32, vec![6], f32_bytes(6, 0.03)),
        ("gru.bias_hh_l0", Dtype::F32, vec![6], f32_bytes(6, 0.04)),
        ("fc.weight", Dtype::F32, vec![2, 8], f32_bytes(16, 0.05)),
        ("fc.bias", Dtype::F32, vec![2], f32_bytes(2, 0.06)),
    ]
}

fn with(edit: impl FnOnce(&mut Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let mut t = valid_tensors();
    edit(&mut t);
    file(&t)
}

/// Every parameter of `m` equals the file's values at the same PyTorch
/// flat index, decoded independently of the loader.
fn matches_file(m: &Small<f64>, bytes: &[u8]) -> Result<(), String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut err = Ok(());
    m.visit_params(&mut |p| {
        let Ok(view) = st.tensor(p.name) else {
            err = Err(format!("{} missing", p.name));
            return;
        };
        let w = match view.dtype() {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            d => {
                err = Err(format!("{}: {d:?}", p.name));
                return;
            }
        };
        for (k, got) in p.iter().enumerate() {
            let b = &view.data()[k * w..k * w + w];
            let want = if w == 4 {
                f32::from_le_bytes(b.try_into().unwrap()) as f64
            } else {
                f64::from_le_bytes(b.try_into().unwrap())
            };
            if got.to_bits() != want.to_bits() && !(got.is_nan() && want.is_nan()) {
                err = Err(format!("{}[{k}]: {got} != {want}", p.name));
            }
        }
    });
    err
}

#[test]
fn valid_file_loads_in_pytorch_order() {
    let bytes = file(&valid_tensors());
    let m = Small::<f64>::from_safetensors(&bytes).unwrap();
    matches_file(&m, &bytes).unwrap();
    // fc.weight [2, 8] row-major: element (1, 0) is flat index 8.
    assert_eq!(m.fc.weight[(1, 0)], (8.0f32 * 0.05 - 0.3) as f64);
    assert_eq!(m.fc.weight[(0, 7)], (7.0f32 * 0.05 - 0.3) as f64);
    // f32 model from the same file, then back out: the same bytes' values.
    let m32 = Small::<f32>::from_safetensors(&bytes).unwrap();
    let back = Small::<f64>::from_safetensors(&m32.to_safetensors()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn missing_tensor_names_it_and_its_shape() {
    let bytes = with(|t| t.retain(|x| x.0 != "gru.weight_hh_l0"));
    let e = Small::<f32>::from_safetensors(&bytes).unwrap_err();
    assert!(matches!(
        e,
        LoadError::Missing {
            name: "gru.weight_hh_l0",
            shape: [6, 2]
        }
    ));
    assert_eq!(
        e.to_string(),
        "missing tensor `gru.weight_hh_l0`: the model expects shape [6, 2]"
    );
}

#[test]
fn unexpected_tensor_is_an_error_unless_allowed() {
    let bytes = with(|t| t.push(("head.weight", Dtype::F32, vec![1, 2], f32_bytes(2, 1.0))));
    let e = Small::<f32>::from_safetensors(&bytes).unwrap_err();
    assert!(
        matches!(&e, LoadError::Unexpected { name, shape } if name == "head.weight" && shape == &[1, 2])
    );
    assert!(e
        .to_string()
        .contains("unexpected tensor `head.weight` [1, 2]"));
    assert!(e.to_string().contains("LoadOptions::allow_extra"));
    let all = Small::<f32>::from_safetensors_with(&bytes, LoadOptions::new().allow_extra());
    let named =
        Small::<f32>::from_safetensors_with(&bytes, LoadOptions::new().ignore(&["head.weight"]));
    let strict = Small::<f32>::from_safetensors(&file(&valid_tensors())).unwrap();
    assert_eq!(all.unwrap(), strict);
    assert_eq!(named.unwrap(), strict);
    // `ignore` skips only the names it lists.
    let other = Small::<f32>::from_safetensors_with(&bytes, LoadOptions::new().ignore(&["x"]));
    assert!(matches!(other, Err(LoadError::Unexpected { .. })));
}

#[test]
fn wrong_shape_names_both_shapes() {
    // Same number of values, transposed: still an error.
    let bytes = with(|t| t[4].2 = vec![8, 2]);
    let e = Small::<f32>::from_safetensors(&bytes).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor `fc.weight` has shape [8, 2], but the model expects [2, 8]"
    );
}

#[test]
fn wrong_dtype_is_named() {
    let bytes = with(|t| t[5] = ("fc.bias", Dtype::I64, vec![2], vec![0; 16]));
    let e = Small::<f32>::from_safetensors(&bytes).unwrap_err();
    assert!(matches!(&e, LoadError::Dtype { name: "fc.bias", found } if found == "I64"));
    assert_eq!(
        e.to_string(),
        "tensor `fc.bias` is I64; expected a float tensor (F32, F64, F16 or BF16)"
    );
}

#[test]
fn f64_f16_and_bf16_files_load_into_f32_and_f64() {
    // fc.bias as F64 [1.5, -0.1], F16 [1.5, -2.0] (0x3e00, 0xc000),
    // BF16 [1.5, -2.0] (0x3fc0, 0xc000).
    let f64s: Vec<u8> = [1.5f64, -0.1]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let f16s: Vec<u8> = [0x3e00u16, 0xc000]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let bf16s: Vec<u8> = [0x3fc0u16, 0xc000]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    for (dtype, data, want) in [
        (Dtype::F64, f64s, [1.5, -0.1]),
        (Dtype::F16, f16s, [1.5, -2.0]),
        (Dtype::BF16, bf16s, [1.5, -2.0]),
    ] {
        let bytes = with(|t| t[5] = ("fc.bias", dtype, vec![2], data.clone()));
        let m64 = Small::<f64>::from_safetensors(&bytes).unwrap();
        let m32 = Small::<f32>::from_safetensors(&bytes).unwrap();
        assert_eq!(m64.fc.bias.as_slice(), &want, "{dtype:?}");
        assert_eq!(
            m32.fc.bias.as_slice(),
            &[want[0] as f32, want[1] as f32],
            "{dtype:?}"
        );
    }
}

#[test]
fn writer_uses_the_model_float_type() {
    let m = Small::<f64>::init(3);
    let st64 = m.to_safetensors();
    let st = SafeTensors::deserialize(&st64).unwrap();
    assert!(st.iter().all(|(_, v)| v.dtype() == Dtype::F64));
    assert_eq!(st.len(), Small::<f64>::TENSORS);
    assert_eq!(Small::<f64>::from_safetensors(&st64).unwrap(), m);
    let m32 = Small::<f32>::init(3);
    let bytes = m32.to_safetensors();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.iter().all(|(_, v)| v.dtype() == Dtype::F32));
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(
        meta.metadata()
            .as_ref()
            .and_then(|m| m.get("format"))
            .map(String::as_str),
        Some("pt")
    );
    assert_eq!(bytes, m32.to_safetensors(), "deterministic");
}

#[test]
fn corrupt_files_are_format_errors() {
    for bad in [
        &b""[..],
        b"\x01",
        b"12345678",
        b"\xff\xff\xff\xff\xff\xff\xff\xff{}",
    ] {
        let e = Small::<f32>::from_safetensors(bad).unwrap_err();
        assert!(matches!(e, LoadError::Format { .. }), "{bad:?}: {e}");
        assert!(e.to_string().starts_with("not a valid safetensors file: "));
    }
}

#[test]
fn failed_load_leaves_the_model_unchanged() {
    let mut m = Small::<f32>::init(1);
    let before = m.clone();
    // The last tensor in visit order has the wrong shape: a loader that
    // wrote as it went would already have overwritten the GRU.
    let bytes = with(|t| t[5].2 = vec![1, 2]);
    let e = m.load_safetensors_into(&bytes, LoadOptions::new());
    assert!(matches!(
        e,
        Err(LoadError::Shape {
            name: "fc.bias",
            ..
        })
    ));
    assert_eq!(m, before);
    let bytes = with(|t| t.push(("extra", Dtype::F32, vec![1], f32_bytes(1, 1.0))));
    assert!(m.load_safetensors_into(&bytes, LoadOptions::new()).is_err());
    assert_eq!(m, before);
}

#[test]
fn file_helpers_report_the_path() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("weights_load_small.safetensors");
    let m = Small::<f32>::init(5);
    m.save(&path).unwrap();
    assert_eq!(Small::<f32>::load(&path).unwrap(), m);
    let missing = dir.join("no_such_file.safetensors");
    let e = Small::<f32>::load(&missing).unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }));
    assert!(e.to_string().contains("no_such_file.safetensors"), "{e}");
}

fn data_start(bytes: &[u8]) -> usize {
    8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any strict prefix of a valid file is rejected.
    #[test]
    fn truncated_files_are_rejected(cut in 0usize..1000) {
        let bytes = Small::<f64>::init(9).to_safetensors();
        let n = cut % bytes.len();
        prop_assert!(Small::<f64>::from_safetensors(&bytes[..n]).is_err());
    }

    /// Random byte edits anywhere, and random bytes appended: never a
    /// panic; an `Ok` model holds exactly the (mutated) file's values; and
    /// edits that touch only tensor data must load.
    #[test]
    fn mutated_files_load_exactly_or_fail(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        tail in prop::collection::vec(any::<u8>(), 0..3),
        in_header in any::<bool>(),
    ) {
        let mut bytes = file(&valid_tensors());
        let start = data_start(&bytes);
        let mut data_only = true;
        for (at, v) in &edits {
            let i = if in_header { at.index(start) } else { at.index(bytes.len()) };
            data_only &= i >= start;
            bytes[i] = *v;
        }
        bytes.extend_from_slice(&tail);
        match Small::<f64>::from_safetensors(&bytes) {
            Ok(m) => {
                prop_assert!(tail.is_empty(), "trailing bytes accepted");
                prop_assert_eq!(matches_file(&m, &bytes), Ok(()));
            }
            Err(e) => {
                prop_assert!(!(data_only && tail.is_empty()), "data edit rejected: {}", e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// A header rewritten with arbitrary text in place of a tensor's shape
    /// or offsets: an error, not a panic or a wrong read.
    #[test]
    fn rewritten_headers_fail_cleanly(text in "[\\[\\]0-9,\":a-z_ ]{0,12}", at in 0usize..400) {
        let bytes = file(&valid_tensors());
        let start = data_start(&bytes);
        let header = std::str::from_utf8(&bytes[8..start]).unwrap().to_string();
        let at = at % header.len();
        let mut h = header[..at].to_string();
        h.push_str(&text);
        h.push_str(&header[(at + text.len()).min(header.len())..]);
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&bytes[start..]);
        if let Ok(m) = Small::<f64>::from_safetensors(&out) {
            prop_assert_eq!(matches_file(&m, &out), Ok(()));
        }
    }
}
