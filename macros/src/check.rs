//! Rules that span layers, one function each with its reason above it.

use crate::ast::{Entry, ModelDef};
use crate::ctxt::Ctxt;
use std::collections::BTreeMap;

pub fn all(cx: &Ctxt, def: &ModelDef) {
    unique_names(cx, def);
    reserved_names(cx, def);
}

/// Layer names become struct fields and the prefixes of PyTorch tensor
/// names (`fc1.weight`), so two layers may not share one.
fn unique_names(cx: &Ctxt, def: &ModelDef) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &def.entries {
        if let Entry::Layer(l) = entry {
            let name = l.name.to_string();
            let n = seen.entry(name.clone()).or_insert(0);
            *n += 1;
            if *n == 2 {
                cx.error_spanned(
                    &l.name,
                    format!("a layer named `{name}` already exists; rename this one (layer names become struct fields and PyTorch tensor names, so they must be unique)"),
                );
            }
        }
    }
}

/// Names beginning with `__` are kept for fields the macro itself adds;
/// raw identifiers (`r#type`) would not survive as tensor names.
fn reserved_names(cx: &Ctxt, def: &ModelDef) {
    for entry in &def.entries {
        if let Entry::Layer(l) = entry {
            let name = l.name.to_string();
            if name.starts_with("__") {
                cx.error_spanned(
                    &l.name,
                    format!(
                        "`{name}`: layer names beginning with `__` are reserved for the macro's own fields; rename it, e.g. `{}`",
                        match name.trim_start_matches('_') {
                            "" => "layer1",
                            rest => rest,
                        }
                    ),
                );
            } else if name.starts_with("r#") {
                cx.error_spanned(&l.name, format!("`{name}`: a layer name cannot be a raw identifier, since it is also a PyTorch tensor name; rename it, e.g. `{}_`", name.trim_start_matches("r#")));
            }
        }
    }
}
