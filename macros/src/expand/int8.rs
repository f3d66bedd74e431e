//! `#[int8 = "file.safetensors"]`: the int8 form of the model, `<Name>Int8`,
//! from the same definition as the float one. Each layer's part comes from
//! its kind ([`Layer::int8_form`](crate::layers::Layer::int8_form) and the
//! `int8_*` methods after it); this driver checks the file against the
//! graph at compile time (every tensor, its dtype, shape and the values the
//! DSL implies, one error listing all), and writes
//!
//! - `struct <Name>Int8`, one `staticnet::quant` parameter block per layer
//!   with parameters, and `const WEIGHTS` decoded at compile time from an
//!   `include_bytes!` of the file (as `#[weights]` does);
//! - `forward` (TFLite Micro's arithmetic, integer only), `forward_layers`
//!   (every layer's output kept in a `<Name>Int8Layers`, for either
//!   interpreter's), and `quantize_input` / `dequantize_output` (float, at
//!   the edges only).
//!
//! Folded layers (BatchNorm, Relu, Relu6, Dropout) have no code: a node
//! reading one reads what it reads. A folded Relu is the clamp of the layer
//! before it, which the file holds (`activation_min`, `activation_max`), and
//! the check makes sure that clamp is the ReLU the DSL says.

use super::lit;
use crate::ast::{Entry, ModelDef};
use crate::layers::int8::{self as q8, Int8Dtype, Int8Form, Int8Tensor};
use crate::layers::Act;
use crate::plan::{Plan, Src};
use crate::shape::Shape;
use crate::weights::{self, FileTensor, WeightsAttr, WeightsFile};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};
use std::cell::RefCell;
use syn::LitStr;

/// The parsed attribute: the file's path as written (`None` for a bare
/// `#[int8]`: the int8 form without compiled-in parameters, made by
/// post-training quantization at run time).
pub struct Int8Attr {
    pub path: Option<LitStr>,
}

/// Removes `#[int8 = "file"]` (or `#[int8("file")]`) from the struct's
/// attributes and parses it.
pub fn take(def: &mut ModelDef) -> syn::Result<Option<Int8Attr>> {
    let mut found: Option<Int8Attr> = None;
    let mut rest = Vec::with_capacity(def.attrs.len());
    for attr in std::mem::take(&mut def.attrs) {
        if !attr.path().is_ident("int8") {
            rest.push(attr);
            continue;
        }
        let usage = "`#[int8]` takes the quantized file as a string: `#[int8 = \"path/to/model_int8.safetensors\"]` (converted from a .tflite by tools/tflite_to_safetensors.py, or written by `Int8Model::to_safetensors`), or nothing (`#[int8]`: quantize at run time with `Int8Model::quantize`)";
        let path = match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(LitStr::new(&s.value(), s.span())),
                other => return Err(syn::Error::new_spanned(other, usage)),
            },
            syn::Meta::List(list) => Some(
                list.parse_args::<LitStr>()
                    .map_err(|e| syn::Error::new(e.span(), usage))?,
            ),
            syn::Meta::Path(_) => None,
        };
        if found.is_some() {
            return Err(syn::Error::new_spanned(
                &attr,
                "`#[int8]` is given twice; a model's int8 form comes from one file",
            ));
        }
        found = Some(Int8Attr { path });
    }
    def.attrs = rest;
    Ok(found)
}

/// What every kernel layer may carry besides its own tensors: the scales
/// and zero points of its input and output and its clamp range (optional,
/// checked if present; the driver requires the ones it uses).
fn standard(t: &mut Vec<Int8Tensor>) {
    for (suffix, dtype) in [
        ("input_scale", Int8Dtype::F32),
        ("output_scale", Int8Dtype::F32),
        ("input_zero_point", Int8Dtype::I32),
        ("output_zero_point", Int8Dtype::I32),
        ("activation_min", Int8Dtype::I32),
        ("activation_max", Int8Dtype::I32),
    ] {
        if !t.iter().any(|x| x.suffix == suffix) {
            t.push(Int8Tensor {
                suffix,
                dtype,
                shape: Vec::new(),
                required: false,
                expect: None,
            });
        }
    }
}

/// The graph as the int8 form sees it.
pub(super) struct Graph<'p, 'a> {
    pub(super) plan: &'p Plan<'a>,
    /// Whether each node is folded (no code of its own).
    pub(super) folded: Vec<bool>,
    /// Each kernel node's tensors (empty for folded nodes).
    pub(super) tensors: Vec<Vec<Int8Tensor>>,
}

impl Graph<'_, '_> {
    /// What `src` is once folded nodes are looked through.
    pub(super) fn resolve(&self, mut src: Src) -> Src {
        while let Src::Node(i) = src {
            if !self.folded[i] {
                break;
            }
            src = self.plan.nodes[i].inputs[0];
        }
        src
    }

    /// The kernel nodes, in order.
    pub(super) fn kernels(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.plan.nodes.len()).filter(|&i| !self.folded[i])
    }

    /// The node the model's output is.
    pub(super) fn output(&self) -> Src {
        self.resolve(Src::Node(self.plan.last()))
    }

    /// The activation each reader of kernel node `i` sees through the
    /// folded nodes between them (`Relu`/`Relu6` layers), with the folded
    /// node that applies it; the model's output counts as a reader.
    pub(super) fn seen_acts(&self, i: usize) -> Vec<(Act, Option<usize>)> {
        let plan = self.plan;
        let through = |mut src: Src| -> Option<(Act, Option<usize>)> {
            let mut act = (Act::Linear, None);
            while let Src::Node(j) = src {
                if j == i {
                    return Some(act);
                }
                if !self.folded[j] {
                    return None;
                }
                let a = plan.nodes[j].layer.activation();
                if a != Act::Linear && act.0 == Act::Linear {
                    act = (a, Some(j));
                }
                src = plan.nodes[j].inputs[0];
            }
            None
        };
        let mut seen: Vec<(Act, Option<usize>)> = self
            .kernels()
            .flat_map(|k| plan.nodes[k].inputs.iter().filter_map(|&s| through(s)))
            .collect();
        seen.extend(through(Src::Node(plan.last())));
        seen
    }
}

/// The int8 form, or the errors saying why there is none (spanned on the
/// layer, or on the file's path for the file's mismatches).
pub fn expand(def: &ModelDef, plan: &Plan, attr: &Int8Attr) -> TokenStream {
    let name = format_ident!("{}Int8", def.name);
    let mut errors: Vec<syn::Error> = Vec::new();
    if let Shape::Seq(..) = plan.input {
        let at = def.entries.iter().find_map(|e| match e {
            Entry::Input(inp) => Some(inp.key.clone()),
            _ => None,
        });
        errors.push(syn::Error::new_spanned(
            at.unwrap_or_else(|| def.name.clone()),
            "an int8 model (`#[int8]`) takes a vector or an image, not a sequence",
        ));
    }
    let mut folded = Vec::new();
    let mut tensors = Vec::new();
    let mut unsupported = false;
    for (i, n) in plan.nodes.iter().enumerate() {
        let site = plan.site(i);
        let why = match n.layer.int8_form(&site) {
            Int8Form::Kernel => {
                folded.push(false);
                let mut t = n.layer.int8_tensors(&site);
                standard(&mut t);
                tensors.push(t);
                continue;
            }
            Int8Form::Folded => {
                folded.push(true);
                tensors.push(Vec::new());
                if n.inputs.len() != 1 || n.input != n.output {
                    "it is folded into the layer before it, and that needs one input of its own shape".to_string()
                } else {
                    continue;
                }
            }
            Int8Form::Unsupported(Some(why)) => why,
            Int8Form::Unsupported(None) => "the int8 kernels (TensorFlow Lite's) cover Conv2d, \
                DepthwiseConv2d, Dense, Add, AvgPool2d, MaxPool2d, GlobalAvgPool, Flatten, \
                Reshape and Softmax, with Relu and Relu6 as the clamp of the layer before them and \
                BatchNorm and Dropout folded; remove `#[int8]` to keep the float model only"
                .to_string(),
        };
        folded.push(true);
        tensors.push(Vec::new());
        unsupported = true;
        errors.push(syn::Error::new_spanned(
            &n.decl.kind,
            format!(
                "`{}: {}` has no int8 form (`#[int8]` on `{}`): {why}",
                n.decl.name, n.decl.kind, def.name
            ),
        ));
    }
    let g = Graph {
        plan,
        folded,
        tensors,
    };
    // A Relu folded onto the model's input has no layer to clamp.
    for (i, n) in plan.nodes.iter().enumerate().filter(|_| !unsupported) {
        if g.folded[i]
            && n.layer.activation() != Act::Linear
            && g.resolve(Src::Node(i)) == Src::Input
        {
            errors.push(syn::Error::new_spanned(
                &n.decl.kind,
                format!(
                    "in an int8 model a `{}` is the clamp of the layer before it, but `{}` reads the model's input; quantize the input clamped instead",
                    n.decl.kind, n.decl.name
                ),
            ));
        }
    }
    if let Some(e) = errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        let errors = e.to_compile_error();
        let vis = &def.vis;
        let doc = format!(
            "The int8 form of [`{}`] (not generated: see the errors).",
            def.name
        );
        return quote! {
            #errors
            #[doc = #doc]
            #vis struct #name;
        };
    }
    let (file, error) = match &attr.path {
        None => (None, None),
        Some(path) => {
            let wattr = WeightsAttr {
                path: LitStr::new(&path.value(), path.span()),
                allow_extra: false,
                ignore: Vec::new(),
            };
            match weights::read(&wattr) {
                Ok(file) => {
                    let error = check(def, &g, path, &file, &name);
                    (Some(file), error)
                }
                // `weights::read` speaks of "the weights file".
                Err(e) => (
                    None,
                    Some(syn::Error::new(
                        path.span(),
                        e.to_string().replace("the weights file", "the int8 file"),
                    )),
                ),
            }
        }
    };
    let valid = file.as_ref().filter(|_| error.is_none());
    let track = file.as_ref().filter(|_| valid.is_none()).map(|f| {
        let path = f.path.to_string_lossy().into_owned();
        quote!(
            const _: &[u8] = ::core::include_bytes!(#path);
        )
    });
    let errors = error.map(|e| e.to_compile_error());
    let code = generate(def, &g, attr, valid, &name);
    let ptq = super::int8_ptq::expand(def, &g, &name);
    quote! {
        #errors
        #track
        #code
        #ptq
    }
}

fn fmt_shape(s: &[usize]) -> String {
    let dims: Vec<String> = s.iter().map(ToString::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// The I32 values of a tensor (`None` for another dtype).
fn i32s(t: &FileTensor) -> Option<Vec<i64>> {
    (t.dtype == "I32").then(|| {
        t.data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect()
    })
}

/// The value of an I32 scalar tensor of the file.
fn scalar(file: &WeightsFile, name: &str) -> Option<i64> {
    let t = file.tensors.get(name).filter(|t| t.shape.is_empty())?;
    i32s(t)?.first().copied()
}

/// The value of an F32 scalar tensor of the file.
fn scalar_f32(file: &WeightsFile, name: &str) -> Option<f32> {
    let t = file
        .tensors
        .get(name)
        .filter(|t| t.shape.is_empty() && t.dtype == "F32")?;
    Some(f32::from_le_bytes(t.data.get(..4)?.try_into().ok()?))
}

/// Every mismatch between the file and the int8 graph, in one error on
/// the path: each tensor's presence, dtype, shape and DSL-implied values,
/// the tensors the model does not read, the scales `quantize_input` and
/// `dequantize_output` need, and each clamp against the DSL's activation.
fn check(
    def: &ModelDef,
    g: &Graph,
    path: &LitStr,
    file: &WeightsFile,
    model: &Ident,
) -> Option<syn::Error> {
    let plan = g.plan;
    let written = path.value();
    let mut errors: Vec<String> = Vec::new();
    let mut known: Vec<String> = Vec::new();
    let layer = |i: usize| {
        let d = plan.nodes[i].decl;
        let args = d
            .args_tokens
            .as_ref()
            .map(|t| format!("({t})"))
            .unwrap_or_default();
        format!("`{}: {}{args}` on {}", d.name, d.kind, plan.nodes[i].input)
    };
    for i in g.kernels() {
        let lname = plan.nodes[i].decl.name.to_string();
        for t in &g.tensors[i] {
            let full = format!("{lname}.{}", t.suffix);
            known.push(full.clone());
            let want = format!("{} {}", t.dtype.name(), fmt_shape(&t.shape));
            match file.tensors.get(&full) {
                None if t.required => errors.push(format!(
                    "`{written}` has no tensor `{full}`; `{model}` needs it as {want} for {}",
                    layer(i)
                )),
                None => {}
                Some(f) if f.dtype != t.dtype.name() || f.shape != t.shape => errors.push(format!(
                    "tensor `{full}` in `{written}` is {} {}, but `{model}` needs {want} for {}",
                    f.dtype,
                    fmt_shape(&f.shape),
                    layer(i)
                )),
                Some(f) => {
                    let values = i32s(f);
                    if let (Some(expect), Some(got)) = (&t.expect, &values) {
                        if expect != got {
                            errors.push(format!(
                                "tensor `{full}` in `{written}` is {got:?}, but {} has {} {expect:?}",
                                layer(i),
                                t.suffix
                            ));
                        }
                    }
                    if t.dtype == Int8Dtype::F32 {
                        let v = scalar_f32(file, &full).unwrap_or(f32::NAN);
                        if !(v.is_finite() && v > 0.0) {
                            errors.push(format!(
                                "tensor `{full}` in `{written}` is {v}; a scale is a positive finite number"
                            ));
                        }
                    }
                    let range: Option<(i64, i64, &str)> = match t.suffix {
                        "activation_min" | "activation_max" => Some((-128, 127, "an int8")),
                        "left_shift" | "input_left_shift" => Some((0, 31, "a left shift")),
                        _ => None,
                    };
                    if let (Some((lo, hi, what)), Some(v)) =
                        (range, values.as_ref().and_then(|v| v.first()))
                    {
                        if !(lo..=hi).contains(v) {
                            errors.push(format!(
                                "tensor `{full}` in `{written}` is {v}, which is not {what} ({lo} ..= {hi})"
                            ));
                        }
                    }
                }
            }
        }
    }
    // The scales at the model's edges: the input's (the converter's
    // `input.scale` / `input.zero_point`, TFLite's input tensor) and the
    // output layer's.
    for (full, dtype) in [("input.scale", "F32"), ("input.zero_point", "I32")] {
        known.push(full.to_string());
        match file.tensors.get(full) {
            None => errors.push(format!(
                "`{written}` has no tensor `{full}`; `{model}` needs it as {dtype} [] (the model input's quantization) for `quantize_input`"
            )),
            Some(f) if f.dtype != dtype || !f.shape.is_empty() => errors.push(format!(
                "tensor `{full}` in `{written}` is {} {}, but `{model}` needs {dtype} []",
                f.dtype,
                fmt_shape(&f.shape)
            )),
            Some(_) => {}
        }
    }
    if scalar_f32(file, "input.scale").is_some_and(|v| !(v.is_finite() && v > 0.0)) {
        errors.push(format!(
            "tensor `input.scale` in `{written}` is not a positive finite number"
        ));
    }
    if let Src::Node(last) = g.output() {
        for suffix in ["output_scale", "output_zero_point"] {
            let full = format!("{}.{suffix}", plan.nodes[last].decl.name);
            let reported = g.tensors[last]
                .iter()
                .any(|t| t.suffix == suffix && t.required);
            if !reported && !file.tensors.contains_key(&full) {
                errors.push(format!(
                    "`{written}` has no tensor `{full}`; `{model}` needs it for `dequantize_output`"
                ));
            }
        }
    }
    // Each clamp against the activation the DSL gives the layer.
    for i in g.kernels() {
        let lname = &plan.nodes[i].decl.name;
        let own = plan.nodes[i].layer.activation();
        let seen = g.seen_acts(i);
        let folded_acts: Vec<&(Act, Option<usize>)> =
            seen.iter().filter(|(a, _)| *a != Act::Linear).collect();
        if let Some(&&(a, Some(j))) = folded_acts.first() {
            if seen.iter().any(|(b, _)| *b != a) {
                let relu = &plan.nodes[j].decl.name;
                errors.push(format!(
                    "in int8 `{relu}` is the clamp of `{lname}`, so every layer reading `{lname}` gets it; some read `{lname}` before `{relu}`, which an int8 model cannot hold"
                ));
                continue;
            }
        }
        let (act, from) = match (own, folded_acts.first()) {
            (Act::Linear, Some(&&(a, Some(j)))) => (
                a,
                format!("`{}: {}`", plan.nodes[j].decl.name, plan.nodes[j].decl.kind),
            ),
            (Act::Linear, _) => (Act::Linear, String::new()),
            (a, _) => (
                a,
                format!("`activation = {}`", a.type_name().to_lowercase()),
            ),
        };
        let lo = scalar(file, &format!("{lname}.activation_min"));
        let hi = scalar(file, &format!("{lname}.activation_max"));
        let (Some(lo), Some(hi)) = (lo, hi) else {
            if act != Act::Linear {
                errors.push(format!(
                    "{from} is the clamp of `{lname}` in int8, but `{written}` has no `{lname}.activation_min` / `activation_max`"
                ));
            }
            continue;
        };
        let (Some(scale), Some(zp)) = (
            scalar_f32(file, &format!("{lname}.output_scale")),
            scalar(file, &format!("{lname}.output_zero_point")),
        ) else {
            continue;
        };
        let Some(want) = q8::activation_range(act, scale, zp) else {
            continue;
        };
        if (lo, hi) != want {
            let msg = if act == Act::Linear {
                format!(
                    "`{written}` clamps `{lname}` to [{lo}, {hi}] (a fused activation: at output scale {scale} and zero point {zp} a ReLU is [{}, 127]), but the DSL has no activation there: give `{lname}` `activation = relu` (or `relu6`), or add a `Relu` layer after it",
                    want.0.max(zp)
                )
            } else {
                format!(
                    "`{written}` clamps `{lname}` to [{lo}, {hi}], but the DSL's {from} at output scale {scale} and zero point {zp} is [{}, {}]: the file's layer has another activation",
                    want.0, want.1
                )
            };
            errors.push(msg);
        }
    }
    // Tensors of layers the model does not have, one line per layer;
    // tensors of its own layers that it does not read, one line each.
    let mut strangers: Vec<(&str, Vec<&str>)> = Vec::new();
    for (fname, t) in &file.tensors {
        if known.contains(fname) {
            continue;
        }
        let (prefix, rest) = fname.split_once('.').unwrap_or((fname.as_str(), ""));
        let hint = match plan.nodes.iter().position(|n| n.decl.name == prefix) {
            Some(j) if g.folded[j] => format!(
                "; `{prefix}` is folded in int8 (its kind has no tensors there), so the file should not have it"
            ),
            Some(_) => String::new(),
            None => {
                match strangers.iter_mut().find(|(p, _)| *p == prefix) {
                    Some((_, rests)) => rests.push(rest),
                    None => strangers.push((prefix, vec![rest])),
                }
                continue;
            }
        };
        errors.push(format!(
            "`{written}` has a tensor `{fname}` {} {} that `{model}` does not read{hint}",
            t.dtype,
            fmt_shape(&t.shape)
        ));
    }
    for (prefix, rests) in strangers {
        errors.push(format!(
            "`{written}` has a layer `{prefix}` ({} tensors: {}) that `{}` does not have; add it to the DSL (the file's layers, in order, are in its `layers` metadata) or convert the model it belongs to",
            rests.len(),
            rests.join(", "),
            def.name
        ));
    }
    let message = match &errors[..] {
        [] => return None,
        [one] => one.clone(),
        all => {
            let mut m = format!(
                "`{written}` does not fit `{model}`: {} tensors are wrong",
                all.len()
            );
            let named = format!("`{written}`");
            for e in all {
                m.push_str("\n  - ");
                m.push_str(&e.replacen(&named, "the file", 1));
            }
            m
        }
    };
    Some(syn::Error::new(path.span(), message))
}

/// `[[[0; W]; H]; C]` or `[0; N]`.
fn zeros(s: Shape) -> TokenStream {
    match s {
        Shape::Vector(n) => {
            let n = lit(n);
            quote!([0; #n])
        }
        Shape::Seq(t, f) => {
            let (t, f) = (lit(t), lit(f));
            quote!([[0; #f]; #t])
        }
        Shape::Image(c, h, w) => {
            let (c, h, w) = (lit(c), lit(h), lit(w));
            quote!([[[0; #w]; #h]; #c])
        }
    }
}

/// The float type of the float model's tensors of shape `s`.
fn float_type(s: Shape) -> TokenStream {
    match s {
        Shape::Vector(n) => {
            let n = lit(n);
            quote!(::staticnet::Vector<f32, #n>)
        }
        Shape::Seq(t, f) => {
            let (t, f) = (lit(t), lit(f));
            quote!(::staticnet::Sequence<f32, #t, #f>)
        }
        Shape::Image(c, h, w) => {
            let (c, h, w) = (lit(c), lit(h), lit(w));
            quote!(::staticnet::Image<f32, #c, #h, #w>)
        }
    }
}

/// The values of a float tensor `x` (a reference) in flat order.
fn float_flat(x: TokenStream, s: Shape) -> TokenStream {
    match s {
        Shape::Image(..) => quote!(#x.as_flattened().as_flattened().iter()),
        _ => quote!(#x.iter()),
    }
}

fn float_flat_mut(x: TokenStream, s: Shape) -> TokenStream {
    match s {
        Shape::Image(..) => quote!(#x.as_flattened_mut().as_flattened_mut().iter_mut()),
        _ => quote!(#x.iter_mut()),
    }
}

/// Where `forward` keeps each kernel node's output: per node (`None` for
/// folded ones) the number of a buffer of its shape, and whether the node
/// is that buffer's first writer (where it is declared, zeroed once). A
/// node takes a buffer of its shape whose value no later node reads, a
/// new one only if there is none; its inputs' buffers are freed after it
/// is placed, so a kernel never writes the buffer it reads. Every kernel
/// writes all of its output (the `_into` contract), so a reused buffer's
/// old values are never read. This is the reuse of the hand-written
/// chains that tests/thumb ran before: ResNet-8's 12 feature maps in 9
/// buffers (84 KB) rather than 12 locals (112 KB), each zeroed once.
fn buffers(g: &Graph) -> Vec<Option<(usize, bool)>> {
    let plan = g.plan;
    let n = plan.nodes.len();
    // The last kernel node reading each node (itself if none does; past
    // the end for the model's output, which is returned).
    let mut last_read: Vec<usize> = (0..n).collect();
    for k in g.kernels() {
        for &s in &plan.nodes[k].inputs {
            if let Src::Node(j) = g.resolve(s) {
                last_read[j] = last_read[j].max(k);
            }
        }
    }
    if let Src::Node(j) = g.output() {
        last_read[j] = n;
    }
    let mut shapes: Vec<(Shape, bool)> = Vec::new(); // (shape, free)
    let mut placed: Vec<Option<(usize, bool)>> = vec![None; n];
    for i in g.kernels() {
        let shape = plan.nodes[i].output;
        let b = match shapes.iter().position(|&(s, free)| free && s == shape) {
            Some(b) => (b, false),
            None => {
                shapes.push((shape, true));
                (shapes.len() - 1, true)
            }
        };
        shapes[b.0].1 = false;
        placed[i] = Some(b);
        for j in (0..=i).filter(|&j| last_read[j] == i) {
            if let Some((bj, _)) = placed[j] {
                shapes[bj].1 = true;
            }
        }
    }
    placed
}

/// The struct, its compiled-in `WEIGHTS`, the forwards and the helpers.
fn generate(
    def: &ModelDef,
    g: &Graph,
    attr: &Int8Attr,
    file: Option<&WeightsFile>,
    name: &Ident,
) -> TokenStream {
    let plan = g.plan;
    let vis = &def.vis;
    let float = &def.name;
    let layers_name = format_ident!("{}Layers", name);
    let written = attr.path.as_ref().map(LitStr::value).unwrap_or_default();
    // The decoded constants of the `WEIGHTS` block.
    let decoded: RefCell<Vec<TokenStream>> = RefCell::new(Vec::new());
    let value = |i: usize, suffix: &str| -> TokenStream {
        let lname = plan.nodes[i].decl.name.to_string();
        let Some(t) = g.tensors[i].iter().find(|t| t.suffix == suffix) else {
            return quote!(::core::compile_error!(
                "staticnet: internal error: an int8 tensor not declared"
            ));
        };
        let full = format!("{lname}.{suffix}");
        let ft = file.and_then(|f| f.tensors.get(&full));
        let (rows, cols) = (
            t.shape.first().copied().unwrap_or(1),
            t.shape.iter().skip(1).product::<usize>(),
        );
        match (t.dtype, t.shape.len(), ft) {
            (Int8Dtype::I32, 0, Some(f)) => {
                let v = i32s(f).and_then(|v| v.first().copied()).unwrap_or(0);
                let v = Literal::i64_unsuffixed(v);
                quote!(#v)
            }
            (Int8Dtype::F32, 0, Some(f)) => {
                let v = f32::from_le_bytes(
                    f.data
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .unwrap_or([0; 4]),
                );
                // Checked finite and positive; a literal cannot be NaN.
                let v = Literal::f32_suffixed(if v.is_finite() { v } else { 0.0 });
                quote!(#v)
            }
            (Int8Dtype::F32, 0, None) => quote!(0.0f32),
            // Without a file (`#[int8]`), a pool's clamp is the full range
            // (post-training quantization fuses no activation into one).
            (_, 0, None) if suffix == "activation_min" => quote!(-128),
            (_, 0, None) if suffix == "activation_max" => quote!(127),
            (_, 0, None) => quote!(0),
            (Int8Dtype::I32, 1, Some(f)) => {
                let id = format_ident!("{}", full.replace('.', "_").to_uppercase());
                let (n, at) = (lit(rows), lit(f.offset));
                decoded.borrow_mut().push(quote!(
                    const #id: [i32; #n] = q::i32_values::<#n>(Self::FILE, #at);
                ));
                quote!(__Int8::#id)
            }
            (Int8Dtype::I32, _, None) => {
                let n = lit(rows);
                quote!([0; #n])
            }
            (Int8Dtype::I8, _, Some(f)) => {
                let id = format_ident!("{}", full.replace('.', "_").to_uppercase());
                let (o, k, at) = (lit(rows), lit(cols), lit(f.offset));
                decoded.borrow_mut().push(quote!(
                    const #id: [[i8; #k]; #o] = q::i8_rows::<#o, #k>(Self::FILE, #at);
                ));
                quote!(__Int8::#id)
            }
            (Int8Dtype::I8, _, None) => {
                let (o, k) = (lit(rows), lit(cols));
                quote!([[0; #k]; #o])
            }
            _ => quote!(::core::compile_error!(
                "staticnet: internal error: an int8 tensor of an unknown form"
            )),
        }
    };
    let kernels: Vec<usize> = g.kernels().collect();
    // The struct's fields and their values.
    let mut fields = Vec::new();
    let mut values = Vec::new();
    for &i in &kernels {
        let site = plan.site(i);
        let layer = &plan.nodes[i].layer;
        let Some(ty) = layer.int8_param_type(&site) else {
            continue;
        };
        let field = &site.name;
        let d = plan.nodes[i].decl;
        let doc = format!("`{}: {}`'s int8 parameters.", d.name, d.kind);
        fields.push(quote!(#[doc = #doc] pub #field: #ty,));
        let v = layer
            .int8_param_value(&site, &|s| value(i, s))
            .unwrap_or_else(|| {
                quote!(::core::compile_error!(
                    "staticnet: internal error: no int8 value"
                ))
            });
        values.push(quote!(#field: #v,));
    }
    // Every kernel layer's scales, zero points and clamp (the file's
    // standard tensors), and the model input's, for post-training
    // quantization's file out and the float edges.
    let n_kernels = lit(kernels.len());
    let layer_quants: Vec<TokenStream> = kernels
        .iter()
        .map(|&i| {
            let [si, zi, so, zo, lo, hi] = [
                "input_scale",
                "input_zero_point",
                "output_scale",
                "output_zero_point",
                "activation_min",
                "activation_max",
            ]
            .map(|s| value(i, s));
            quote!(q::ptq::LayerQuant {
                input: q::ptq::TensorQuant { scale: #si, zero_point: #zi },
                output: q::ptq::TensorQuant { scale: #so, zero_point: #zo },
                min: #lo,
                max: #hi,
            })
        })
        .collect();
    fields.push(quote!(
        #[doc(hidden)]
        pub __input: ::staticnet::quant::ptq::TensorQuant,
        #[doc(hidden)]
        pub __layers: [::staticnet::quant::ptq::LayerQuant; #n_kernels],
    ));
    // The forwards: each kernel node's statement, with its operands as
    // the reused buffers of `forward` (see [`buffers`]) or fields of the
    // layers struct (`forward_layers`).
    let buffer = buffers(g);
    let buffer_name = |j: usize| format_ident!("buf_{}", buffer[j].map_or(0, |b| b.0));
    let operand = |src: Src, layers: bool| -> TokenStream {
        match g.resolve(src) {
            Src::Input => quote!(input),
            Src::Node(j) => {
                if layers {
                    let n = &plan.nodes[j].decl.name;
                    quote!(&layers.#n)
                } else {
                    let n = buffer_name(j);
                    quote!(&#n)
                }
            }
        }
    };
    let mut forward_lines = Vec::new();
    let mut layers_lines = Vec::new();
    let mut layer_fields = Vec::new();
    let mut layer_zeros = Vec::new();
    let mut layer_names = Vec::new();
    let mut layer_views = Vec::new();
    for &i in &kernels {
        let site = plan.site(i);
        let n = &plan.nodes[i];
        let t = |s: &str| value(i, s);
        let field = &site.name;
        let local = buffer_name(i);
        let xs: Vec<TokenStream> = n.inputs.iter().map(|&s| operand(s, false)).collect();
        let zero = zeros(n.output);
        let stmt = n.layer.int8_forward_into(&site, &xs, &quote!(#local), &t);
        let declare = buffer[i]
            .filter(|b| b.1)
            .map(|_| quote!(let mut #local = #zero;));
        forward_lines.push(quote!(
            #declare
            #stmt
        ));
        let xs: Vec<TokenStream> = n.inputs.iter().map(|&s| operand(s, true)).collect();
        layers_lines.push(
            n.layer
                .int8_forward_into(&site, &xs, &quote!(layers.#field), &t),
        );
        let ty = q8::tensor_type(n.output);
        let doc = format!("The output of `{}: {}`.", n.decl.name, n.decl.kind);
        layer_fields.push(quote!(#[doc = #doc] pub #field: #ty,));
        layer_zeros.push(quote!(#field: #zero,));
        let lname = field.to_string();
        layer_names.push(quote!(#lname));
        let view = match n.output {
            Shape::Vector(_) => quote!(&self.#field[..]),
            other => q8::flat(&quote!(self.#field), other),
        };
        layer_views.push(quote!(#lname => Some(#view),));
    }
    let (out, out_shape) = match g.output() {
        Src::Input => (quote!(*input), plan.input),
        Src::Node(j) => {
            let n = buffer_name(j);
            (quote!(#n), plan.nodes[j].output)
        }
    };
    let in_ty = q8::tensor_type(plan.input);
    let out_ty = q8::tensor_type(out_shape);
    // The scales at the edges.
    let input_q = |full: &str, f32: bool| -> TokenStream {
        let t = file.and_then(|f| f.tensors.get(full));
        match (t, f32) {
            (Some(t), true) => {
                let v = f32::from_le_bytes(
                    t.data
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .unwrap_or([0; 4]),
                );
                let v = Literal::f32_suffixed(if v.is_finite() { v } else { 0.0 });
                quote!(#v)
            }
            (Some(t), false) => {
                let v =
                    Literal::i64_unsuffixed(i32s(t).and_then(|v| v.first().copied()).unwrap_or(0));
                quote!(#v)
            }
            (None, true) => quote!(0.0f32),
            (None, false) => quote!(0),
        }
    };
    let (in_scale, in_zp) = (
        input_q("input.scale", true),
        input_q("input.zero_point", false),
    );
    let last = match g.output() {
        Src::Node(j) => Some(j),
        Src::Input => None,
    };
    let (out_scale, out_zp) = match last {
        Some(i) => (value(i, "output_scale"), value(i, "output_zero_point")),
        None => (in_scale.clone(), in_zp.clone()),
    };
    let out_name = last.map_or_else(
        || "input".to_string(),
        |i| plan.nodes[i].decl.name.to_string(),
    );
    values.push(quote!(
        __input: q::ptq::TensorQuant { scale: #in_scale, zero_point: #in_zp },
        __layers: [#(#layer_quants),*],
    ));
    let weights_value = {
        let decoded = decoded.borrow();
        match file.filter(|_| !decoded.is_empty()) {
            Some(f) => {
                let path = f.path.to_string_lossy().into_owned();
                let len = lit(f.len);
                let changed = format!(
                    "`{path}` changed after `model!` read it (its tensors' offsets are stale): rebuild"
                );
                quote!({
                    use ::staticnet::quant as q;
                    struct __Int8;
                    impl __Int8 {
                        const FILE: &'static [u8] = ::core::include_bytes!(#path);
                        const LEN: () = ::core::assert!(Self::FILE.len() == #len, #changed);
                        #(#decoded)*
                    }
                    let () = __Int8::LEN;
                    Self { #(#values)* }
                })
            }
            None => quote!({
                #[allow(unused_imports)]
                use ::staticnet::quant as q;
                Self { #(#values)* }
            }),
        }
    };
    let (in_f, out_f) = (float_type(plan.input), float_type(out_shape));
    let in_vals = float_flat(quote!(x), plan.input);
    let q_in = match plan.input {
        Shape::Image(..) => quote!(q.as_flattened_mut().as_flattened_mut()),
        _ => quote!(q),
    };
    let zero_in = zeros(plan.input);
    let y_vals = q8::flat(&quote!(y), out_shape);
    let y_float = float_flat_mut(quote!(out), out_shape);
    let out_zero = match out_shape {
        Shape::Vector(_) => quote!(<#out_f>::zeros()),
        Shape::Image(c, h, w) => {
            let (c, h, w) = (lit(c), lit(h), lit(w));
            quote!([[[0.0; #w]; #h]; #c])
        }
        Shape::Seq(..) => quote!(<#out_f>::zeros()),
    };
    let doc = if attr.path.is_none() {
        format!(
            "The int8 form of [`{float}`] (`#[int8]`): the same graph on TensorFlow Lite's \
             int8 kernels ([`staticnet::quant`](::staticnet::quant)), its parameters made at \
             run time by post-training quantization of a trained `{float}<f32>` \
             ([`Int8Model::quantize`](::staticnet::quant::Int8Model::quantize)) and written \
             out by [`Int8Model::to_safetensors`](::staticnet::quant::Int8Model::to_safetensors) \
             for `#[int8 = \"file\"]`. BatchNorm and Dropout layers are folded, a Relu or Relu6 \
             is the clamp of the layer before it.\n\n\
             [`Self::forward`] computes what TensorFlow Lite Micro computes, bit for bit; \
             [`Self::quantize_in`] and [`Self::dequantize_out`] convert at the edges (in `f32`)."
        )
    } else {
        format!(
            "The int8 form of [`{float}`] (`#[int8 = \"{written}\"]`): the same graph on \
         TensorFlow Lite's int8 kernels ([`staticnet::quant`](::staticnet::quant)), with the \
         parameters of `{written}` compiled in as [`Self::WEIGHTS`] (read and checked by \
         `model!` at compile time). BatchNorm and Dropout layers are folded, a Relu or Relu6 \
         is the clamp of the layer before it.\n\n\
         [`Self::forward`] computes what TensorFlow Lite Micro computes, bit for bit, with \
         integer arithmetic only, no heap and no `std`; [`Self::forward_layers`] keeps every \
         layer's output; [`Self::quantize_input`] and [`Self::dequantize_output`] convert at \
         the edges (in `f32`)."
        )
    };
    let layers_doc = format!(
        "Every layer's int8 output of [`{name}`], as [`{name}::forward_layers`] writes them \
         (folded layers have none)."
    );
    let weights_doc = format!(
        "The parameters of `{written}`, decoded at compile time from an `include_bytes!` of \
         the file. Every use of a `const` is a fresh copy: write `static NET: {name} = \
         {name}::WEIGHTS;` (or call [`Self::weights`]) to keep one, in read-only data."
    );
    let out_quant = match last {
        Some(j) => {
            let at = lit(kernels.iter().position(|&k| k == j).unwrap_or(0));
            quote!(self.__layers[#at].output)
        }
        None => quote!(self.__input),
    };
    let in_doc = "The input's scale (the file's `input.scale`).";
    let in_zp_doc = "The input's zero point (the file's `input.zero_point`).";
    let out_doc = format!("The output's scale (the file's `{out_name}.output_scale`).");
    let out_zp_doc = format!("The output's zero point (`{out_name}.output_zero_point`).");
    // With a file: its parameters compiled in, and the edges' constants.
    let has_file = attr.path.is_some();
    let file_items: Option<TokenStream> = has_file.then(|| {
        quote! {
                #[doc = #weights_doc]
                pub const WEIGHTS: Self = #weights_value;

                #[doc = #in_doc]
                pub const INPUT_SCALE: f32 = #in_scale;
                #[doc = #in_zp_doc]
                pub const INPUT_ZERO_POINT: i32 = #in_zp;
                #[doc = #out_doc]
                pub const OUTPUT_SCALE: f32 = #out_scale;
                #[doc = #out_zp_doc]
                pub const OUTPUT_ZERO_POINT: i32 = #out_zp;

                /// [`Self::WEIGHTS`] as a `&'static` reference: one copy in
                /// read-only data, never built on the stack.
                pub fn weights() -> &'static Self {
                    &Self::WEIGHTS
                }
        }
    });
    let edge_fns: Option<TokenStream> = has_file.then(|| quote! {
            /// A float input quantized as TFLite's `QUANTIZE` does, at
            /// [`Self::INPUT_SCALE`] and [`Self::INPUT_ZERO_POINT`].
            pub fn quantize_input(x: &#in_f) -> #in_ty {
                let mut q = #zero_in;
                for (d, &v) in #q_in.iter_mut().zip(#in_vals) {
                    *d = ::staticnet::quant::quantize_f32(v, Self::INPUT_SCALE, Self::INPUT_ZERO_POINT);
                }
                q
            }

            /// The real values of an int8 output, at [`Self::OUTPUT_SCALE`]
            /// and [`Self::OUTPUT_ZERO_POINT`].
            pub fn dequantize_output(y: &#out_ty) -> #out_f {
                let mut out = #out_zero;
                for (d, &v) in #y_float.zip(#y_vals.iter()) {
                    *d = ::staticnet::quant::dequantize_f32(v, Self::OUTPUT_SCALE, Self::OUTPUT_ZERO_POINT);
                }
                out
            }
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq, Eq)]
        #vis struct #name {
            #(#fields)*
        }

        #[doc = #layers_doc]
        #[derive(Clone, Debug, PartialEq, Eq)]
        #vis struct #layers_name {
            #(#layer_fields)*
        }

        impl #layers_name {
            /// Every output zero.
            pub const fn zeroed() -> Self {
                Self { #(#layer_zeros)* }
            }

            /// The output of the layer `name`, flat (in PyTorch's order), or
            /// `None` if the model has no such (unfolded) layer.
            pub fn get(&self, name: &str) -> ::core::option::Option<&[i8]> {
                match name {
                    #(#layer_views)*
                    _ => None,
                }
            }
        }

        impl #name {
            #file_items

            /// The names of the layers with an int8 output, in the order they
            /// run (the fields of the layers struct).
            pub const LAYERS: &'static [&'static str] = &[#(#layer_names),*];

            /// The int8 forward as TensorFlow Lite Micro computes it: integer
            /// arithmetic only, no heap. On x86-64 with `std` it runs a copy
            /// compiled for AVX2 when the CPU has it (`staticnet::dispatch`),
            /// with the same integer results.
            #[inline]
            pub fn forward(&self, input: &#in_ty) -> #out_ty {
                #[cfg(target_arch = "x86_64")]
                {
                    /// The same body compiled for AVX2.
                    #[target_feature(enable = "avx2,fma")]
                    unsafe fn avx2(model: &#name, input: &#in_ty) -> #out_ty {
                        model.__forward(input)
                    }
                    if ::staticnet::dispatch::avx2() {
                        // SAFETY: `avx2()` returned true only because the CPU
                        // running this has AVX2 and FMA
                        // (`is_x86_feature_detected!`), the features `avx2` is
                        // compiled for.
                        return unsafe { avx2(self, input) };
                    }
                }
                self.__forward(input)
            }

            /// The kernel calls of [`Self::forward`].
            #[doc(hidden)]
            #[inline(always)]
            pub fn __forward(&self, input: &#in_ty) -> #out_ty {
                #[allow(unused_imports)]
                use ::staticnet::{kernels as k, quant as q};
                let interpreter = q::Interpreter::Micro;
                let _ = interpreter;
                #(#forward_lines)*
                #out
            }

            /// The int8 forward as `interpreter` computes it, every layer's
            /// output written into `layers`.
            pub fn forward_layers(&self, input: &#in_ty, layers: &mut #layers_name, interpreter: ::staticnet::quant::Interpreter) {
                #[allow(unused_imports)]
                use ::staticnet::{kernels as k, quant as q};
                let _ = interpreter;
                #(#layers_lines)*
            }

            #edge_fns

            /// A float input quantized at this model's input scale and zero
            /// point (`self.__input`, TFLite's `QUANTIZE`): for a model made by
            /// [`Int8Model::quantize`](::staticnet::quant::Int8Model::quantize).
            pub fn quantize_in(&self, x: &#in_f) -> #in_ty {
                let mut q = #zero_in;
                for (d, &v) in #q_in.iter_mut().zip(#in_vals) {
                    *d = ::staticnet::quant::quantize_f32(v, self.__input.scale, self.__input.zero_point);
                }
                q
            }

            /// The real values of an int8 output at this model's output scale
            /// and zero point.
            pub fn dequantize_out(&self, y: &#out_ty) -> #out_f {
                let p = #out_quant;
                let mut out = #out_zero;
                for (d, &v) in #y_float.zip(#y_vals.iter()) {
                    *d = ::staticnet::quant::dequantize_f32(v, p.scale, p.zero_point);
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    fn expand(src: &str) -> String {
        let ts = proc_macro2::TokenStream::from_str(src).expect("tokenizes");
        crate::expand::model(ts).to_string()
    }

    #[test]
    fn attribute_mistakes_are_errors_not_panics() {
        for attr in [
            "#[int8 = 3]",
            "#[int8()]",
            "#[int8(\"a\" \"b\")]",
            "#[int8 = \"no/such/file.safetensors\"]",
            "#[int8 = \"Cargo.toml\"]",
            "#[int8 = \"../tests/ui/weights/truncated.safetensors\"]",
            "#[int8 = \"../tests/ui/weights/dense.safetensors\"]",
            "#[int8 = \"a\"] #[int8 = \"b\"]",
        ] {
            let out = expand(&format!(
                "{attr} pub struct T {{ input: [3], fc: Dense(2), }}"
            ));
            assert!(out.contains("compile_error"), "{attr}: {out}");
        }
    }

    /// A bare `#[int8]` is the int8 form without a file: no `WEIGHTS`,
    /// and post-training quantization through `Int8Model`.
    #[test]
    fn a_bare_attribute_is_the_form_without_a_file() {
        let out = expand("#[int8] pub struct T { input: [3], fc: Dense(2, bias = false), }");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(!out.contains("WEIGHTS"), "{out}");
        assert!(
            out.contains("impl :: staticnet :: quant :: Int8Model for TInt8"),
            "{out}"
        );
        assert!(out.contains("quantize_weighted :: < 2 , 3 >"), "{out}");
    }

    /// IC's residual graph: BatchNorm and Relu layers have no code, and a
    /// layer reading one reads what it reads (`add` reads `activation`,
    /// which is `conv2d` clamped, and `batch_normalization_2`, which is
    /// `conv2d_2`); the parameters are decoded from the file at compile
    /// time, its scalars written as literals.
    #[test]
    fn folded_layers_are_read_through() {
        let out = expand(
            r#"#[int8 = "../tests/fixtures/int8/ic.safetensors"] pub struct ResNet8 {
            input: [3, 32, 32],
            conv2d: Conv2d(16, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
            batch_normalization: BatchNorm(eps = 0.001, momentum = 0.01),
            activation: Relu,
            conv2d_1: Conv2d(16, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
            batch_normalization_1: BatchNorm(eps = 0.001, momentum = 0.01),
            activation_1: Relu,
            conv2d_2: Conv2d(16, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
            batch_normalization_2: BatchNorm(eps = 0.001, momentum = 0.01),
            add: Add(activation, batch_normalization_2),
            activation_2: Relu,
            conv2d_3: Conv2d(32, kernel = (3, 3), stride = (2, 2), padding = same, activation = linear),
            batch_normalization_3: BatchNorm(eps = 0.001, momentum = 0.01),
            activation_3: Relu,
            conv2d_4: Conv2d(32, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
            conv2d_5: Conv2d(32, kernel = (1, 1), stride = (2, 2), padding = same, activation = linear)(activation_2),
            batch_normalization_4: BatchNorm(eps = 0.001, momentum = 0.01)(conv2d_4),
            add_1: Add(conv2d_5, batch_normalization_4),
            activation_4: Relu,
            conv2d_6: Conv2d(64, kernel = (3, 3), stride = (2, 2), padding = same, activation = linear),
            batch_normalization_5: BatchNorm(eps = 0.001, momentum = 0.01),
            activation_5: Relu,
            conv2d_7: Conv2d(64, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
            conv2d_8: Conv2d(64, kernel = (1, 1), stride = (2, 2), padding = same, activation = linear)(activation_4),
            batch_normalization_6: BatchNorm(eps = 0.001, momentum = 0.01)(conv2d_7),
            add_2: Add(conv2d_8, batch_normalization_6),
            activation_6: Relu,
            average_pooling2d: AvgPool2d((8, 8), stride = (8, 8)),
            flatten: Flatten,
            dense: Dense(10),
            softmax: Softmax,
        }"#,
        );
        let int8 = &out[out.find("pub struct ResNet8Int8").expect("the int8 struct")..];
        assert!(!int8.contains("compile_error"), "{int8}");
        for want in [
            "q :: add_image_int8_into (& self . add , & layers . conv2d , & layers . conv2d_2 , & mut layers . add)",
            "q :: add_image_int8_into (& self . add_1 , & layers . conv2d_5 , & layers . conv2d_4 , & mut layers . add_1)",
            "forward_into (& self . conv2d_5 , & layers . add , & mut layers . conv2d_5)",
            // `forward` reuses buffers: `add` (buffer 1, `conv2d_1`'s, free
            // once `conv2d_2` read it) from `conv2d` and `conv2d_2`, and
            // `conv2d_5` into `conv2d_3`'s buffer 3, which `conv2d_4` freed.
            "q :: add_image_int8_into (& self . add , & buf_0 , & buf_2 , & mut buf_1)",
            "forward_into (& self . conv2d_5 , & buf_1 , & mut buf_3)",
            "let mut buf_8 = [[[0 ; 8] ; 8] ; 64] ;",
            "const CONV2D_WEIGHT : [[i8 ; 27] ; 16] = q :: i8_rows :: < 16 , 27 >",
            "input1_multiplier : 1623821475",
            "pub const LAYERS : & 'static [& 'static str] = & [\"conv2d\" , \"conv2d_1\" , \"conv2d_2\" , \"add\"",
        ] {
            assert!(int8.contains(want), "{want}\n{int8}");
        }
        for folded in ["batch_normalization", "activation"] {
            // (as a whole string: the int8 file's `activation_min` is not a
            // layer)
            assert!(!int8.contains(&format!("\"{folded}\"")), "{folded}");
        }
    }
}
