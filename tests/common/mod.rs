//! Reading the PyTorch reference fixtures in `tests/fixtures/`, made by
//! `tools/make_fixtures.py` (see `tools/README.md`).
//!
//! A fixture is a safetensors file of float64 tensors: every parameter under
//! its PyTorch `state_dict` name (`conv1.weight`, `lstm1.weight_ih_l0`, ...),
//! plus `input` and `output`; its `__metadata__` holds the case's DSL under
//! `dsl` and `kind = forward`.
//!
//! A gradient fixture, `tests/fixtures/grad_<case>.safetensors`, goes with
//! the forward fixture `<case>` (its `__metadata__` says so under `forward`,
//! with `kind = grad`) and holds `r`, `loss` and `grad.<param>` /
//! `grad.input`: PyTorch autograd's gradients of `sum(output ⊙ r)`.

// Each integration test is its own crate and may use only part of this module.
#![allow(dead_code)]

use safetensors::{Dtype, SafeTensors};
use staticnet::{Float, Model, ParamMut};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Tensor names in a fixture that are not parameters.
pub const RESERVED: &[&str] = &["input", "output"];

/// One float64 tensor: its shape and its values in PyTorch (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor64 {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// A whole fixture file.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub case: String,
    /// The whole `__metadata__` (`dsl`, `kind`, `type`, `init`, `generator`).
    pub meta: BTreeMap<String, String>,
    pub tensors: BTreeMap<String, Tensor64>,
}

impl Fixture {
    /// Reads `tests/fixtures/<case>.safetensors`. Panics with the path and
    /// the reason if the file is missing or malformed: a broken fixture is a
    /// test failure.
    pub fn load(case: &str) -> Fixture {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures"]
            .iter()
            .collect::<PathBuf>()
            .join(format!("{case}.safetensors"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (regenerate with tools/make_fixtures.py)",
                path.display()
            )
        });
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let meta: BTreeMap<String, String> = meta
            .metadata()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let st = SafeTensors::deserialize(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let mut tensors = BTreeMap::new();
        for (name, view) in st.iter() {
            assert_eq!(
                view.dtype(),
                Dtype::F64,
                "{}: `{name}` is not float64",
                path.display()
            );
            let values = view
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            let shape = view.shape().to_vec();
            tensors.insert(name.to_owned(), Tensor64 { shape, values });
        }
        Fixture {
            case: case.to_owned(),
            meta,
            tensors,
        }
    }

    /// The metadata entry `key` (e.g. `dsl`: the DSL body the fixture was
    /// made from), panicking if the fixture lacks it.
    pub fn meta(&self, key: &str) -> &str {
        self.meta
            .get(key)
            .unwrap_or_else(|| panic!("{}: no `{key}` in __metadata__", self.case))
    }

    /// The tensor called `name`, panicking if the fixture lacks it.
    pub fn get(&self, name: &str) -> &Tensor64 {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("{}: fixture has no tensor `{name}`", self.case))
    }

    /// The names of the parameter tensors (everything but [`RESERVED`]).
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.tensors
            .keys()
            .map(String::as_str)
            .filter(|n| !RESERVED.contains(n))
    }
}

/// Writes a flat index as a multi-index of `shape`, e.g. `[1, 0, 3]`.
pub fn multi_index(mut k: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[i] = k % d;
            k /= d;
        }
    }
    idx
}

/// `text` without `//` comments and without whitespace, and without a
/// trailing comma, so two spellings of the same DSL compare equal.
pub fn normalize_dsl(text: &str) -> String {
    let mut out: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect();
    if out.ends_with(',') {
        out.pop();
    }
    out
}

/// The body of `pub struct <name> { ... }` in `source` (brace-matched), if
/// present.
pub fn struct_body<'a>(source: &'a str, name: &str) -> Option<&'a str> {
    let head = format!("pub struct {name} {{");
    let start = source.find(&head)? + head.len();
    let mut depth = 1usize;
    for (i, c) in source[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&source[start..start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Copies every parameter tensor of `fx` into `model` by its PyTorch name,
/// walking `visit_params_mut`: names and shapes must match exactly, each
/// tensor visited once, and no parameter of the fixture left over. `Err`
/// lists every mismatch.
pub fn load_params<T: Float, M: Model<T>>(fx: &Fixture, model: &mut M) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    model.visit_params_mut(&mut |mut p: ParamMut<'_, T>| {
        if !seen.insert(p.name) {
            errors.push(format!("`{}` visited twice", p.name));
            return;
        }
        let Some(t) = fx.tensors.get(p.name) else {
            errors.push(format!(
                "model has `{}` {:?}, fixture does not",
                p.name, p.shape
            ));
            return;
        };
        if t.shape != p.shape {
            errors.push(format!(
                "`{}`: model shape {:?}, PyTorch {:?}",
                p.name, p.shape, t.shape
            ));
            return;
        }
        let values: Vec<T> = t.values.iter().map(|&v| T::of_f64(v)).collect();
        if let Err(e) = p.copy_from(&values) {
            errors.push(format!("`{}`: copy_from: {e}", p.name));
        }
    });
    let extra: Vec<&str> = fx.param_names().filter(|n| !seen.contains(n)).collect();
    if !extra.is_empty() {
        errors.push(format!(
            "fixture tensors the model never visited: {extra:?}"
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", fx.case, errors.join("; ")))
    }
}

/// The scaled error `|got − want| / max(1, |want|)`: relative for values of
/// magnitude above 1, absolute below. NaN if either value is NaN.
pub fn scaled_error(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1.0)
}

/// Compares `got` (in PyTorch flat order) with the fixture tensor `want`
/// called `name`: every value must have [`scaled_error`] `≤ tol` (a NaN
/// fails). `Ok` carries the largest scaled error; `Err` names the tensor,
/// the first differing index (as a multi-index and flat), both values, and
/// how many values differ.
pub fn compare(name: &str, got: &[f64], want: &Tensor64, tol: f64) -> Result<f64, String> {
    if got.len() != want.values.len() {
        return Err(format!(
            "`{name}`: {} values, PyTorch {} (shape {:?})",
            got.len(),
            want.values.len(),
            want.shape
        ));
    }
    let errs: Vec<f64> = got
        .iter()
        .zip(&want.values)
        .map(|(&g, &w)| scaled_error(g, w))
        .collect();
    // Within the tolerance, and not NaN (a NaN compares false either way).
    let ok = |e: f64| e <= tol;
    let bad: Vec<usize> = (0..errs.len()).filter(|&k| !ok(errs[k])).collect();
    match bad.first() {
        None => Ok(errs.iter().copied().fold(0.0, f64::max)),
        Some(&k) => Err(format!(
            "`{name}`{:?} (flat index {k}) = {:e}, PyTorch {:e}, \
             |diff| / max(1, |PyTorch|) = {:.3e} > {tol:.0e}; {} of {} values differ",
            multi_index(k, &want.shape),
            got[k],
            want.values[k],
            errs[k],
            bad.len(),
            got.len(),
        )),
    }
}
