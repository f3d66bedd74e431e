//! `#[weights = "file.safetensors"]`: the file's tensors checked against
//! the model's parameters at compile time and written into
//! `pub const WEIGHTS` (`f32`) and `WEIGHTS_F64`, decoded at compile time
//! from an `include_bytes!` of the file (so the values sit in read-only
//! data, with no parsing at run time and no heap, and cargo rebuilds when
//! the file changes).

use super::lit;
use crate::ast::ModelDef;
use crate::plan::Plan;
use crate::weights::{self, WeightsAttr, WeightsFile};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// The `WEIGHTS` constants, decoded from an `include_bytes!` of the file
/// (so cargo rebuilds when it changes) and, if the file does not fit the
/// model, errors spanned on the path literal. On error the constants are
/// still emitted (all zeros, the file included only for cargo to watch it)
/// so code using them reports nothing further.
pub fn expand(def: &ModelDef, plan: &Plan, attr: &WeightsAttr) -> TokenStream {
    let (file, errors) = match weights::read(attr) {
        Ok(file) => {
            let errors = check(def, plan, attr, &file);
            (Some(file), errors)
        }
        Err(e) => (None, Some(e)),
    };
    let valid = file.as_ref().filter(|_| errors.is_none());
    let errors = errors.map(|e| e.to_compile_error());
    let track = file.as_ref().filter(|_| valid.is_none()).map(|f| {
        let path = f.path.to_string_lossy().into_owned();
        quote!(
            const _: &[u8] = ::core::include_bytes!(#path);
        )
    });
    let name = &def.name;
    let written = attr.path.value();
    let v32 = value(plan, valid, "f32");
    let v64 = value(plan, valid, "f64");
    let doc32 = format!(
        "The weights of `{written}` compiled in as `f32` (read and checked by `model!` at \
         compile time; F32, F64, F16 and BF16 files are accepted, F64 values are rounded to \
         nearest).\n\n\
         Every use of a `const` is a fresh copy: to keep exactly one copy, in read-only \
         data, write `static NET: {name} = {name}::WEIGHTS;` or call [`Self::weights`]."
    );
    let doc64 = format!(
        "The weights of `{written}` compiled in as `f64` (exact for F64, F32, F16 and BF16 \
         files); see [`{name}::WEIGHTS`] for the `f32` model."
    );
    let consts = quote! {
        impl #name<f32> {
            #[doc = #doc32]
            pub const WEIGHTS: Self = #v32;

            /// [`Self::WEIGHTS`] as a `&'static` reference: one copy of the
            /// model in read-only data, never built on the stack.
            pub fn weights() -> &'static Self {
                &Self::WEIGHTS
            }
        }
        impl #name<f64> {
            #[doc = #doc64]
            pub const WEIGHTS_F64: Self = #v64;
        }
    };
    quote! {
        #errors
        #track
        #consts
    }
}

/// Every mismatch between the file and the model's parameters, combined,
/// each naming the tensor and both shapes.
fn check(
    def: &ModelDef,
    plan: &Plan,
    attr: &WeightsAttr,
    file: &WeightsFile,
) -> Option<syn::Error> {
    let span = attr.path.span();
    let written = attr.path.value();
    let model = &def.name;
    // Each mismatch is one line of a single error (a wrong file, or
    // renamed layers, would otherwise give one error per tensor).
    let mut errors: Vec<String> = Vec::new();
    // Missing tensors and the file's surplus ones, for the rename hint.
    let mut missing: Vec<(&str, &[usize])> = Vec::new();
    let mut extra: Vec<(&str, &[usize])> = Vec::new();
    let mut expected = super::params::tensors(plan);
    expected.extend(super::params::buffers(plan));
    let counters = super::params::counters(plan);
    for (_, _, name) in &counters {
        // Optional (PyTorch files before 0.4.1 and Keras conversions have
        // none), but if present it must be PyTorch's I64 scalar.
        match file.tensors.get(name) {
            Some(t) if !t.shape.is_empty() || t.dtype != "I64" => errors.push(format!(
                "tensor `{name}` in `{written}` is {} {}, but a batch count is an I64 scalar []",
                t.dtype,
                fmt_shape(&t.shape)
            )),
            _ => {}
        }
    }
    for (field, _, name, shape) in &expected {
        let layer = plan
            .nodes
            .iter()
            .find(|p| &p.decl.name == *field)
            .map(|p| {
                let args = p
                    .decl
                    .args_tokens
                    .as_ref()
                    .map(|t| format!("({t})"))
                    .unwrap_or_default();
                format!(
                    " for `{}: {}{args}` on {}",
                    p.decl.name, p.decl.kind, p.input
                )
            })
            .unwrap_or_default();
        match file.tensors.get(name) {
            None => {
                missing.push((name.as_str(), shape.as_slice()));
                errors.push(format!(
                    "`{written}` has no tensor `{name}`; `{model}` needs it with shape {}{layer}",
                    fmt_shape(shape)
                ));
            }
            Some(t) if &t.shape != shape => errors.push(format!(
                "tensor `{name}` in `{written}` has shape {}, but `{model}` needs {}{layer}",
                fmt_shape(&t.shape),
                fmt_shape(shape)
            )),
            Some(t) if t.values().is_none() => errors.push(format!(
                "tensor `{name}` in `{written}` is {}; weights must be F32, F64, F16 or BF16",
                t.dtype
            )),
            Some(_) => {}
        }
    }
    if !attr.allow_extra {
        let ignored: Vec<String> = attr.ignore.iter().map(|s| s.value()).collect();
        let known: Vec<&str> = expected
            .iter()
            .map(|t| t.2.as_str())
            .chain(counters.iter().map(|c| c.2.as_str()))
            .collect();
        for (name, t) in &file.tensors {
            if known.contains(&name.as_str()) || ignored.contains(name) {
                continue;
            }
            extra.push((name.as_str(), t.shape.as_slice()));
            errors.push(format!(
                "`{written}` has a tensor `{name}` {} that `{model}` does not have \
                 (its parameters are {}); to skip it write \
                 `#[weights(\"{written}\", ignore = [\"{name}\"])]`",
                fmt_shape(&t.shape),
                list(&known)
            ));
        }
    }
    let message = match &errors[..] {
        [] => return None,
        [one] => one.clone(),
        all => {
            let mut m = format!(
                "`{written}` does not fit `{model}`: {} tensors are wrong",
                all.len()
            );
            // The header names the file once.
            let named = format!("`{written}`");
            for e in all {
                m.push_str("\n  - ");
                m.push_str(&e.replacen(&named, "the file", 1));
            }
            m
        }
    };
    Some(syn::Error::new(span, message + &renames(&missing, &extra)))
}

/// "help: rename `out` to `head`" lines for each layer whose tensors are
/// all missing while the file has a layer with the same tensors, of the
/// same shapes, under another name (a layer renamed in the DSL or in the
/// training script).
fn renames(missing: &[(&str, &[usize])], extra: &[(&str, &[usize])]) -> String {
    let layer = |n: &str| n.split_once('.').map(|(l, _)| l.to_string());
    let mut layers: Vec<String> = missing.iter().filter_map(|(n, _)| layer(n)).collect();
    layers.dedup();
    let mut taken: Vec<String> = Vec::new();
    let mut out = String::new();
    for ours in layers {
        let needs: Vec<(&str, &[usize])> = missing
            .iter()
            .filter_map(|(n, s)| {
                let (l, rest) = n.split_once('.')?;
                (l == ours).then_some((rest, *s))
            })
            .collect();
        let theirs = extra.iter().filter_map(|(n, _)| layer(n)).find(|cand| {
            !taken.contains(cand)
                && needs.iter().all(|(rest, shape)| {
                    extra
                        .iter()
                        .any(|(n, s)| *n == format!("{cand}.{rest}") && s == shape)
                })
        });
        if let Some(theirs) = theirs {
            out.push_str(&format!(
                "\nhelp: the file's `{theirs}.*` tensors have the names and shapes `{ours}` needs: rename the layer `{ours}` to `{theirs}` (or the file's tensors)"
            ));
            taken.push(theirs);
        }
    }
    out
}

/// `a, b, c` (the first eight, then how many more).
fn list(names: &[&str]) -> String {
    match names.len() {
        0 => "none".to_string(),
        n if n <= 8 => names.join(", "),
        n => format!("{}, and {} more", names[..8].join(", "), n - 8),
    }
}

fn fmt_shape(s: &[usize]) -> String {
    let dims: Vec<String> = s.iter().map(ToString::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// Most values decoded in one constant evaluation: rustc stops an
/// evaluation that runs "too long" (`long_running_const_eval`, deny by
/// default, about two million calls and loop iterations; measured on rustc
/// 1.95: 2.25 million values in one evaluation trip it, half a million do
/// not), so a larger tensor is decoded in parts of whole columns, each its
/// own constant.
const PART: usize = 1 << 18;

/// `Self { conv1: Conv2dParams { weight: .., bias: .. }, .. }` with the
/// file's values (or zeros without a valid file).
///
/// With a file, the value is a block that takes the file's bytes with
/// `include_bytes!` (one byte-string token, however large: one float
/// literal per weight cost rustc ~1 KB of memory each, 1.2 GB at 1M
/// parameters, rust-lang/rust#52868)
/// and decodes each tensor in its own `const` with
/// `embedded::{f32,f64}_columns` from the offset the macro read. Every
/// tensor is its own constant evaluation, so none runs into rustc's limit
/// on long evaluations, and the cost grows linearly with the parameters.
fn value(plan: &Plan, file: Option<&WeightsFile>, float: &str) -> TokenStream {
    let na = quote!(::staticnet::__private::nalgebra);
    let e = quote!(::staticnet::__private::embedded);
    let t = format_ident!("{}", float);
    let columns = format_ident!("{}_columns", float);
    let mut all = super::params::tensors(plan);
    all.extend(super::params::buffers(plan));
    let counters = super::params::counters(plan);
    let mut fields = Vec::new();
    let mut decoded = Vec::new();
    for p in &plan.nodes {
        let Some(block) = p.layer.param_block() else {
            continue;
        };
        let mut members: Vec<TokenStream> = all
            .iter()
            .filter(|t| t.0 == &p.decl.name)
            .map(|(_, member, name, shape)| {
                let member = format_ident!("{}", member);
                let rows = shape.first().copied().unwrap_or(1);
                let cols = shape.iter().skip(1).product::<usize>();
                let (r, c) = (lit(rows), lit(cols));
                let source = file
                    .and_then(|f| f.tensors.get(name))
                    .filter(|t| t.data.len() == rows * cols * width(&t.dtype).unwrap_or(0))
                    .and_then(|t| Some((t.offset, dtype(&t.dtype)?)));
                let storage = match source {
                    Some((offset, dtype)) => {
                        let id = format_ident!("W{}", decoded.len());
                        let items = tensor(&e, &columns, &t, &id, rows, cols, offset, &dtype);
                        decoded.push(items);
                        quote!(__Weights::#id)
                    }
                    None => quote!([[0.0; #r]; #c]),
                };
                quote!(#member: #na::Matrix::from_array_storage(#na::ArrayStorage(#storage)),)
            })
            .collect();
        for (_, member, name) in counters.iter().filter(|c| c.0 == &p.decl.name) {
            // Checked to be an I64 scalar if present; 0 if absent.
            let count = file
                .and_then(|f| f.tensors.get(name))
                .and_then(|t| <[u8; 8]>::try_from(t.data.as_slice()).ok())
                .map_or(0, i64::from_le_bytes);
            let (member, count) = (format_ident!("{}", member), Literal::i64_suffixed(count));
            members.push(quote!(#member: #count,));
        }
        if members.is_empty() {
            continue;
        }
        let field = &p.decl.name;
        fields.push(quote!(#field: #block { #(#members)* },));
    }
    if fields.is_empty() {
        return quote!(Self {
            __float: ::core::marker::PhantomData
        });
    }
    let Some(file) = file.filter(|_| !decoded.is_empty()) else {
        return quote!(Self { #(#fields)* });
    };
    let path = file.path.to_string_lossy().into_owned();
    let len = lit(file.len);
    let changed = format!(
        "`{path}` changed after `model!` read it (its tensors' offsets are stale): rebuild"
    );
    // Associated constants, not `const` items in the block: rustc
    // evaluates every free `const` eagerly, used or not, while an
    // associated one is evaluated when used, so `WEIGHTS_F64` costs
    // nothing in a crate that uses only `WEIGHTS`.
    quote!({
        struct __Weights;
        impl __Weights {
            const FILE: &'static [u8] = ::core::include_bytes!(#path);
            const LEN: () = ::core::assert!(Self::FILE.len() == #len, #changed);
            #(#decoded)*
        }
        let () = __Weights::LEN;
        Self { #(#fields)* }
    })
}

/// The associated constant `id: [[T; rows]; cols]` of one tensor's
/// storage: one `*_columns` call, or for more than [`PART`] values, parts
/// of whole columns (`id_0`, `id_1`, .., each its own constant
/// evaluation) joined by `embedded::with_columns`.
#[allow(clippy::too_many_arguments)]
fn tensor(
    e: &TokenStream,
    columns: &proc_macro2::Ident,
    t: &proc_macro2::Ident,
    id: &proc_macro2::Ident,
    rows: usize,
    cols: usize,
    offset: usize,
    dtype: &TokenStream,
) -> TokenStream {
    let (r, c, start) = (lit(rows), lit(cols), lit(offset));
    if rows * cols <= PART {
        return quote!(
            const #id: [[#t; #r]; #c] = #e::#columns::<#r, #c>(Self::FILE, #start, #dtype, #c, 0);
        );
    }
    // At least one column per part (a single column is at most `rows`
    // values, which rustc's limit allows up to about half a million).
    let per = (PART / rows).max(1);
    let firsts: Vec<usize> = (0..cols).step_by(per).collect();
    let part = |k: usize| format_ident!("{}_{}", id, k);
    let parts = firsts.iter().enumerate().map(|(k, &first)| {
        let (part, n, first) = (part(k), lit(per.min(cols - first)), lit(first));
        quote!(
            const #part: [[#t; #r]; #n] = #e::#columns::<#r, #n>(Self::FILE, #start, #dtype, #c, #first);
        )
    });
    let joins = firsts.iter().enumerate().map(|(k, &first)| {
        let (part, first) = (part(k), lit(first));
        quote!(let w = #e::with_columns(w, &Self::#part, #first);)
    });
    quote!(
        #(#parts)*
        const #id: [[#t; #r]; #c] = {
            let w = [[0.0; #r]; #c];
            #(#joins)*
            w
        };
    )
}

/// The runtime's name of a float dtype the macro reads.
fn dtype(d: &str) -> Option<TokenStream> {
    let e = quote!(::staticnet::__private::embedded::Dtype);
    Some(match d {
        "F32" => quote!(#e::F32),
        "F64" => quote!(#e::F64),
        "F16" => quote!(#e::F16),
        "BF16" => quote!(#e::BF16),
        _ => return None,
    })
}

/// Bytes per value of a float dtype the macro reads.
fn width(d: &str) -> Option<usize> {
    match d {
        "F32" => Some(4),
        "F64" => Some(8),
        "F16" | "BF16" => Some(2),
        _ => None,
    }
}
