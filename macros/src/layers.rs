//! Each layer kind's arguments: which it takes, what they mean, and the
//! errors for everything else.

use crate::ast::{Arg, LayerDecl, Value};
use crate::ctxt::Ctxt;
use crate::symbol::{self, ACTIVATIONS};
use std::collections::BTreeMap;

/// The largest single size (units, filters, kernel, stride, dimension) the
/// DSL accepts; anything larger is certainly a typo for a stack-allocated
/// network.
pub const MAX_SIZE: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

impl Act {
    pub fn type_name(self) -> &'static str {
        match self {
            Act::Linear => "Linear",
            Act::Relu => "Relu",
            Act::Sigmoid => "Sigmoid",
            Act::Tanh => "Tanh",
            Act::Softmax => "Softmax",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Simple(Act),
    Lstm,
    Gru,
}

impl Cell {
    /// Gate blocks per unit in PyTorch's weight layout.
    pub fn gates(self) -> usize {
        match self {
            Cell::Simple(_) => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Valid,
    Same,
    Explicit(usize, usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    Dense {
        units: usize,
        act: Act,
    },
    Conv2d {
        filters: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        act: Act,
    },
    Pool {
        max: bool,
        size: (usize, usize),
        stride: (usize, usize),
    },
    Flatten,
    Recurrent {
        cell: Cell,
        units: usize,
        return_sequences: bool,
    },
    Activation(Act),
}

impl Spec {
    /// The canonical kind name (for the summary).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Spec::Dense { .. } => "Dense",
            Spec::Conv2d { .. } => "Conv2d",
            Spec::Pool { max: true, .. } => "MaxPool2d",
            Spec::Pool { max: false, .. } => "AvgPool2d",
            Spec::Flatten => "Flatten",
            Spec::Recurrent {
                cell: Cell::Simple(_),
                ..
            } => "SimpleRnn",
            Spec::Recurrent {
                cell: Cell::Lstm, ..
            } => "Lstm",
            Spec::Recurrent {
                cell: Cell::Gru, ..
            } => "Gru",
            Spec::Activation(Act::Relu) => "Relu",
            Spec::Activation(Act::Sigmoid) => "Sigmoid",
            Spec::Activation(Act::Tanh) => "Tanh",
            Spec::Activation(Act::Softmax) => "Softmax",
            Spec::Activation(Act::Linear) => "Linear",
        }
    }
}

/// What a kind accepts: its positional argument (with the name it may also
/// be given by), and its named options.
struct Signature {
    positional: Option<(&'static str, &'static str)>, // (name, what it is, for "needs ..")
    options: &'static [&'static str],
    example: &'static str,
}

fn signature(kind: &str) -> Option<Signature> {
    let s = |positional, options, example| {
        Some(Signature {
            positional,
            options,
            example,
        })
    };
    match kind {
        "Dense" => s(
            Some(("units", "the number of units")),
            &["activation"],
            "Dense(64, activation = relu)",
        ),
        "Conv2d" => s(
            Some(("filters", "the number of filters")),
            &["kernel", "stride", "padding", "activation"],
            "Conv2d(32, kernel = 3, activation = relu)",
        ),
        "MaxPool2d" | "AvgPool2d" => s(
            Some(("size", "the window size")),
            &["stride"],
            "MaxPool2d(2)",
        ),
        "SimpleRnn" => s(
            Some(("units", "the number of units")),
            &["activation", "return_sequences"],
            "SimpleRnn(32, return_sequences = true)",
        ),
        "Lstm" | "Gru" => s(
            Some(("units", "the number of units")),
            &["return_sequences"],
            "Lstm(32, return_sequences = true)",
        ),
        "Flatten" | "Relu" | "Sigmoid" | "Tanh" | "Softmax" => s(None, &[], "Flatten"),
        _ => None,
    }
}

/// Resolves one layer's kind and arguments; records errors and returns
/// `None` if the layer cannot be understood.
pub fn resolve(cx: &Ctxt, decl: &LayerDecl) -> Option<Spec> {
    let kind = decl.kind.to_string();
    let Some(sig) = signature(&kind) else {
        cx.error_spanned(&decl.kind, symbol::unknown_kind(&kind));
        return None;
    };
    let args = collect_args(cx, decl, &kind, &sig)?;
    let get = |name: &str| args.get(name).copied();
    let positional = |cx: &Ctxt| -> Option<usize> {
        let (name, what) = sig.positional?;
        match get(name) {
            Some(v) => size(cx, v, name),
            None => {
                cx.error_spanned(
                    &decl.kind,
                    format!("`{kind}` needs {what}, e.g. `{}`", sig.example),
                );
                None
            }
        }
    };
    let act_or = |cx: &Ctxt, default: Act| -> Option<Act> {
        match get("activation") {
            Some(v) => activation(cx, v),
            None => Some(default),
        }
    };
    let spec = match kind.as_str() {
        "Dense" => {
            let units = positional(cx);
            let act = act_or(cx, Act::Linear);
            Spec::Dense {
                units: units?,
                act: act?,
            }
        }
        "Conv2d" => {
            let filters = positional(cx);
            let kernel = match get("kernel") {
                Some(v) => pair(cx, v, "kernel"),
                None => {
                    cx.error_spanned(
                        &decl.kind,
                        "`Conv2d` needs a kernel size: `kernel = 3` or `kernel = (3, 5)`",
                    );
                    None
                }
            };
            let stride = get("stride").map_or(Some((1, 1)), |v| pair(cx, v, "stride"));
            let padding = get("padding").map_or(Some(Padding::Valid), |v| padding(cx, v));
            let act = act_or(cx, Act::Linear);
            Spec::Conv2d {
                filters: filters?,
                kernel: kernel?,
                stride: stride?,
                padding: padding?,
                act: act?,
            }
        }
        "MaxPool2d" | "AvgPool2d" => {
            let size = match get("size") {
                Some(v) => pair(cx, v, "size"),
                None => {
                    cx.error_spanned(
                        &decl.kind,
                        format!(
                            "`{kind}` needs a window size, e.g. `{kind}(2)` or `{kind}((2, 3))`"
                        ),
                    );
                    None
                }
            };
            let stride = match get("stride") {
                Some(v) => Some(pair(cx, v, "stride")?),
                None => size,
            };
            Spec::Pool {
                max: kind == "MaxPool2d",
                size: size?,
                stride: stride?,
            }
        }
        "Flatten" => Spec::Flatten,
        "SimpleRnn" | "Lstm" | "Gru" => {
            let units = positional(cx);
            let act = act_or(cx, Act::Tanh);
            let rs =
                get("return_sequences").map_or(Some(false), |v| boolean(cx, v, "return_sequences"));
            let act = act?;
            if kind == "SimpleRnn" && act == Act::Softmax {
                if let Some(v) = get("activation") {
                    cx.error_spanned(v, "`SimpleRnn` takes an element-wise activation (`tanh`, `relu`, `sigmoid` or `linear`), not `softmax`");
                }
                return None;
            }
            let cell = match kind.as_str() {
                "Lstm" => Cell::Lstm,
                "Gru" => Cell::Gru,
                _ => Cell::Simple(act),
            };
            Spec::Recurrent {
                cell,
                units: units?,
                return_sequences: rs?,
            }
        }
        "Relu" => Spec::Activation(Act::Relu),
        "Sigmoid" => Spec::Activation(Act::Sigmoid),
        "Tanh" => Spec::Activation(Act::Tanh),
        "Softmax" => Spec::Activation(Act::Softmax),
        _ => return None,
    };
    Some(spec)
}

/// Maps every argument to its option name, reporting unknown options,
/// surplus positional arguments and options given twice.
fn collect_args<'a>(
    cx: &Ctxt,
    decl: &'a LayerDecl,
    kind: &str,
    sig: &Signature,
) -> Option<BTreeMap<&'static str, &'a Value>> {
    let mut out: BTreeMap<&'static str, &'a Value> = BTreeMap::new();
    let mut ok = true;
    let mut positional_used = false;
    let all: Vec<&'static str> = sig
        .positional
        .iter()
        .map(|(n, _)| *n)
        .chain(sig.options.iter().copied())
        .collect();
    for Arg { key, value } in &decl.args {
        let name: &'static str = match key {
            None => {
                if !out.is_empty() && !positional_used && sig.positional.is_some() {
                    cx.error_spanned(
                        value,
                        "positional arguments come before `name = value` options",
                    );
                    ok = false;
                    continue;
                }
                match sig.positional {
                    Some((n, _)) if !positional_used => {
                        positional_used = true;
                        n
                    }
                    Some(_) => {
                        cx.error_spanned(
                            value,
                            format!(
                                "`{kind}` takes one positional argument; name the others, e.g. `{}`",
                                sig.example
                            ),
                        );
                        ok = false;
                        continue;
                    }
                    None => {
                        cx.error_spanned(value, format!("`{kind}` takes no arguments"));
                        ok = false;
                        continue;
                    }
                }
            }
            Some(key) => {
                let k = key.to_string();
                match all.iter().find(|n| **n == k) {
                    Some(n) => {
                        if sig.positional.is_some_and(|(p, _)| p == *n) {
                            positional_used = true;
                        }
                        n
                    }
                    None => {
                        let msg = if all.is_empty() {
                            format!("`{kind}` takes no options")
                        } else {
                            let hint = symbol::did_you_mean(&k, all.iter().copied())
                                .map(|s| format!("did you mean `{s}`? "))
                                .unwrap_or_default();
                            format!(
                                "unknown option `{k}` for `{kind}`; {hint}`{kind}` takes {}",
                                symbol::one_of(&all)
                            )
                        };
                        cx.error_spanned(key, msg);
                        ok = false;
                        continue;
                    }
                }
            }
        };
        if out.insert(name, value).is_some() {
            let at: &dyn quote::ToTokens = match key {
                Some(k) => k,
                None => value,
            };
            cx.error_spanned(at, format!("`{name}` is given twice"));
            ok = false;
        }
    }
    ok.then_some(out)
}

/// A positive integer no larger than [`MAX_SIZE`].
pub fn size(cx: &Ctxt, v: &Value, what: &str) -> Option<usize> {
    match v {
        Value::Int(lit) => match lit.base10_parse::<usize>() {
            Ok(0) => {
                cx.error_spanned(lit, format!("`{what}` must be at least 1"));
                None
            }
            Ok(n) if n > MAX_SIZE => {
                cx.error_spanned(
                    lit,
                    format!("`{what}` = {n} is too large (at most {MAX_SIZE})"),
                );
                None
            }
            Ok(n) => Some(n),
            Err(_) => {
                cx.error_spanned(
                    lit,
                    format!("`{what}` must be a positive integer without suffix"),
                );
                None
            }
        },
        other => {
            cx.error_spanned(
                other,
                format!(
                    "`{what}` must be a positive integer, found {}",
                    other.describe()
                ),
            );
            None
        }
    }
}

/// `n` (square) or `(a, b)`, each positive.
fn pair(cx: &Ctxt, v: &Value, what: &str) -> Option<(usize, usize)> {
    match v {
        Value::Int(_) => size(cx, v, what).map(|n| (n, n)),
        Value::Tuple(_, items) if items.len() == 2 => {
            let a = size(cx, &items[0], what);
            let b = size(cx, &items[1], what);
            Some((a?, b?))
        }
        other => {
            cx.error_spanned(
                other,
                format!(
                    "`{what}` must be an integer or a pair `(height, width)`, found {}",
                    other.describe()
                ),
            );
            None
        }
    }
}

fn nonneg(cx: &Ctxt, v: &Value, what: &str) -> Option<usize> {
    match v {
        Value::Int(lit) if matches!(lit.base10_parse::<usize>(), Ok(0)) => Some(0),
        _ => size(cx, v, what),
    }
}

fn padding(cx: &Ctxt, v: &Value) -> Option<Padding> {
    const HELP: &str = "`padding` takes `valid`, `same`, an integer or a pair `(ph, pw)`";
    match v {
        Value::Ident(id) if id == "valid" => Some(Padding::Valid),
        Value::Ident(id) if id == "same" => Some(Padding::Same),
        Value::Ident(id) => {
            let hint = symbol::did_you_mean(&id.to_string(), ["valid", "same"].into_iter())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            cx.error_spanned(id, format!("unknown padding `{id}`; {hint}{HELP}"));
            None
        }
        Value::Int(_) => nonneg(cx, v, "padding").map(|p| Padding::Explicit(p, p)),
        Value::Tuple(_, items) if items.len() == 2 => {
            let a = nonneg(cx, &items[0], "padding");
            let b = nonneg(cx, &items[1], "padding");
            Some(Padding::Explicit(a?, b?))
        }
        other => {
            cx.error_spanned(other, format!("{HELP}, found {}", other.describe()));
            None
        }
    }
}

fn activation(cx: &Ctxt, v: &Value) -> Option<Act> {
    let found = match v {
        Value::Ident(id) => id.to_string(),
        Value::Other(ts) => {
            let s = ts.to_string();
            let unquoted = s.trim_matches('"');
            if s.starts_with('"') && ACTIVATIONS.contains(&unquoted) {
                cx.error_spanned(
                    v,
                    format!("write the activation without quotes: `activation = {unquoted}`"),
                );
                return None;
            }
            s
        }
        other => {
            cx.error_spanned(
                other,
                format!(
                    "`activation` takes {}, found {}",
                    symbol::one_of(ACTIVATIONS),
                    other.describe()
                ),
            );
            return None;
        }
    };
    match found.as_str() {
        "linear" => Some(Act::Linear),
        "relu" => Some(Act::Relu),
        "sigmoid" => Some(Act::Sigmoid),
        "tanh" => Some(Act::Tanh),
        "softmax" => Some(Act::Softmax),
        _ => {
            let hint = symbol::did_you_mean(&found, ACTIVATIONS.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            cx.error_spanned(
                v,
                format!(
                    "unknown activation `{found}`; {hint}the activations are {}",
                    symbol::one_of(ACTIVATIONS)
                ),
            );
            None
        }
    }
}

fn boolean(cx: &Ctxt, v: &Value, what: &str) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(b.value),
        other => {
            cx.error_spanned(
                other,
                format!(
                    "`{what}` takes `true` or `false`, found {}",
                    other.describe()
                ),
            );
            None
        }
    }
}
