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
    /// (name, what it is, for "needs ..")
    positional: Option<(&'static str, &'static str)>,
    options: &'static [&'static str],
    /// A typical call, for "e.g. ..".
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
        "MaxPool2d" => s(
            Some(("size", "the window size")),
            &["stride"],
            "MaxPool2d(2)",
        ),
        "AvgPool2d" => s(
            Some(("size", "the window size")),
            &["stride"],
            "AvgPool2d(2)",
        ),
        "SimpleRnn" => s(
            Some(("units", "the number of units")),
            &["activation", "return_sequences"],
            "SimpleRnn(32, return_sequences = true)",
        ),
        "Lstm" => s(
            Some(("units", "the number of units")),
            &["return_sequences"],
            "Lstm(32, return_sequences = true)",
        ),
        "Gru" => s(
            Some(("units", "the number of units")),
            &["return_sequences"],
            "Gru(32, return_sequences = true)",
        ),
        "Flatten" => s(None, &[], "Flatten"),
        "Relu" => s(None, &[], "Relu"),
        "Sigmoid" => s(None, &[], "Sigmoid"),
        "Tanh" => s(None, &[], "Tanh"),
        "Softmax" => s(None, &[], "Softmax"),
        _ => None,
    }
}

/// The value given for option `name` of `decl` (the positional argument
/// counts as its option), for errors found after resolution.
pub fn arg_value<'a>(decl: &'a LayerDecl, name: &str) -> Option<&'a Value> {
    let positional = signature(&decl.kind.to_string()).and_then(|s| s.positional);
    decl.args.iter().find_map(|a| match &a.key {
        Some(k) if k == name => Some(&a.value),
        None if positional.is_some_and(|(p, _)| p == name) => Some(&a.value),
        _ => None,
    })
}

/// One layer being resolved: what errors need to name it.
struct Layer<'a> {
    cx: &'a Ctxt,
    decl: &'a LayerDecl,
    kind: String,
    name: String,
    sig: Signature,
}

/// Resolves one layer's kind and arguments; records errors and returns
/// `None` if the layer cannot be understood. Every argument is checked even
/// after an error, so one expansion reports all of a layer's mistakes.
pub fn resolve(cx: &Ctxt, decl: &LayerDecl) -> Option<Spec> {
    let kind = decl.kind.to_string();
    let name = decl.name.to_string();
    let Some(sig) = signature(&kind) else {
        cx.error_spanned(&decl.kind, symbol::unknown_kind(&kind, &name));
        return None;
    };
    let l = Layer {
        cx,
        decl,
        kind,
        name,
        sig,
    };
    let (args, args_ok) = l.collect_args();
    let spec = l.spec(&args, args_ok);
    if args_ok {
        spec
    } else {
        None
    }
}

impl Layer<'_> {
    /// `` `units` of `fc1` ``
    fn subject(&self, what: &str) -> String {
        format!("`{what}` of `{}`", self.name)
    }

    /// Records that a required argument is missing, unless an earlier
    /// argument error (say a misspelt option) may be the reason.
    fn missing(&self, args_ok: bool, msg: String) {
        if args_ok {
            self.cx.error_spanned(&self.decl.kind, msg);
        }
    }

    fn spec(&self, args: &BTreeMap<&'static str, &Value>, args_ok: bool) -> Option<Spec> {
        let get = |name: &str| args.get(name).copied();
        let (name, kind) = (&self.name, self.kind.as_str());
        let positional = || -> Option<usize> {
            let (pname, what) = self.sig.positional?;
            match get(pname) {
                Some(v) => self.size(v, pname),
                None => {
                    self.missing(
                        args_ok,
                        format!("`{name}` needs {what}, e.g. `{name}: {}`", self.sig.example),
                    );
                    None
                }
            }
        };
        let act_or = |default: Act| -> Option<Act> {
            match get("activation") {
                Some(v) => self.activation(v),
                None => Some(default),
            }
        };
        let spec = match kind {
            "Dense" => {
                let units = positional();
                let act = act_or(Act::Linear);
                Spec::Dense {
                    units: units?,
                    act: act?,
                }
            }
            "Conv2d" => {
                let filters = positional();
                let kernel = match get("kernel") {
                    Some(v) => self.pair(v, "kernel"),
                    None => {
                        self.missing(
                            args_ok,
                            format!("`{name}` needs a kernel size: add `kernel = 3` (or `kernel = (3, 5)`), e.g. `{name}: {}`", self.sig.example),
                        );
                        None
                    }
                };
                let stride = get("stride").map_or(Some((1, 1)), |v| self.pair(v, "stride"));
                let padding = get("padding").map_or(Some(Padding::Valid), |v| self.padding(v));
                let act = act_or(Act::Linear);
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
                    Some(v) => self.pair(v, "size"),
                    None => {
                        self.missing(
                            args_ok,
                            format!("`{name}` needs a window size, e.g. `{name}: {kind}(2)` or `{name}: {kind}((2, 3))`"),
                        );
                        None
                    }
                };
                let stride = match get("stride") {
                    Some(v) => self.pair(v, "stride"),
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
                let units = positional();
                let act = act_or(Act::Tanh);
                let rs = get("return_sequences")
                    .map_or(Some(false), |v| self.boolean(v, "return_sequences"));
                let cell = match kind {
                    "Lstm" => Cell::Lstm,
                    "Gru" => Cell::Gru,
                    _ => match act {
                        Some(Act::Softmax) => {
                            if let Some(v) = get("activation") {
                                self.cx.error_spanned(v, format!("`{name}`: `SimpleRnn` takes an element-wise activation ({}), not `softmax`; add a `Softmax` layer after `{name}` instead", symbol::one_of(&["tanh", "relu", "sigmoid", "linear"])));
                            }
                            return None;
                        }
                        act => Cell::Simple(act?),
                    },
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
    /// misplaced or surplus positional arguments and options given twice.
    /// A misspelt option with an obvious correction is checked under the
    /// corrected name, so its value is validated too. Returns the map and
    /// whether every argument was well placed.
    fn collect_args(&self) -> (BTreeMap<&'static str, &Value>, bool) {
        let (cx, kind, name, sig) = (self.cx, self.kind.as_str(), &self.name, &self.sig);
        let mut out: BTreeMap<&'static str, &Value> = BTreeMap::new();
        let mut ok = true;
        let all: Vec<&'static str> = sig
            .positional
            .iter()
            .map(|(n, _)| *n)
            .chain(sig.options.iter().copied())
            .collect();
        let mut positional_seen = false;
        let mut named_seen = false;
        for Arg { key, value } in &self.decl.args {
            let option: &'static str = match key {
                None => {
                    let Some((pname, what)) = sig.positional else {
                        cx.error_spanned(
                            value,
                            format!("`{kind}` takes no arguments; write `{name}: {kind}`"),
                        );
                        ok = false;
                        continue;
                    };
                    if positional_seen {
                        cx.error_spanned(
                            value,
                            format!(
                                "`{kind}` takes one positional argument ({what}); name this one in `{name}`, e.g. `{name}: {}`",
                                sig.example
                            ),
                        );
                        ok = false;
                        continue;
                    }
                    positional_seen = true;
                    if named_seen {
                        cx.error_spanned(
                            value,
                            format!(
                                "in `{name}`, {what} comes first, before the `name = value` options: `{name}: {}`",
                                self.reordered()
                            ),
                        );
                        ok = false;
                    }
                    pname
                }
                Some(key) => {
                    named_seen = true;
                    let k = key.to_string();
                    match all.iter().find(|n| **n == k) {
                        Some(n) => n,
                        None if all.is_empty() => {
                            cx.error_spanned(
                                key,
                                format!("`{kind}` takes no options; write `{name}: {kind}`"),
                            );
                            ok = false;
                            continue;
                        }
                        None => {
                            let guess = symbol::suggest_option(&k, &all);
                            let hint = guess
                                .map(|s| format!("did you mean `{s}`? "))
                                .unwrap_or_default();
                            cx.error_spanned(
                                key,
                                format!(
                                    "unknown option `{k}` in `{name}`; {hint}`{kind}` takes {}",
                                    symbol::one_of(&all)
                                ),
                            );
                            ok = false;
                            match guess {
                                Some(g) if !out.contains_key(g) => g,
                                _ => continue,
                            }
                        }
                    }
                }
            };
            if out.contains_key(option) {
                let at: &dyn quote::ToTokens = match key {
                    Some(k) => k,
                    None => value,
                };
                let why = match sig.positional {
                    Some((p, _)) if p == option => {
                        format!(" (the positional argument of `{kind}` is its `{p}`)")
                    }
                    _ => String::new(),
                };
                cx.error_spanned(
                    at,
                    format!("`{option}` is given twice in `{name}`{why}; remove one"),
                );
                ok = false;
                continue;
            }
            out.insert(option, value);
        }
        (out, ok)
    }

    /// The layer's call with its positional argument moved first.
    fn reordered(&self) -> String {
        let args = &self.decl.args;
        let positional = args
            .iter()
            .filter(|a| a.key.is_none())
            .map(|a| show(&a.value));
        let named = args
            .iter()
            .filter_map(|a| a.key.as_ref().map(|k| format!("{k} = {}", show(&a.value))));
        let parts: Vec<String> = positional.chain(named).collect();
        format!("{}({})", self.kind, parts.join(", "))
    }

    /// A positive integer no larger than [`MAX_SIZE`].
    fn size(&self, v: &Value, what: &str) -> Option<usize> {
        size(self.cx, v, &self.subject(what))
    }

    /// `n` (square) or `(a, b)`, each positive.
    fn pair(&self, v: &Value, what: &str) -> Option<(usize, usize)> {
        match v {
            Value::Int(_) => self.size(v, what).map(|n| (n, n)),
            Value::Tuple(_, items) => match &items[..] {
                [a, b] => {
                    let a = self.size(a, what);
                    let b = self.size(b, what);
                    Some((a?, b?))
                }
                _ => {
                    self.cx.error_spanned(
                        v,
                        format!(
                            "{} must be an integer or a pair `(height, width)`, found {} values",
                            self.subject(what),
                            items.len()
                        ),
                    );
                    None
                }
            },
            other => {
                self.cx.error_spanned(
                    other,
                    format!(
                        "{} must be an integer or a pair `(height, width)`, found {}",
                        self.subject(what),
                        found(other)
                    ),
                );
                None
            }
        }
    }

    /// A size that may be zero (padding).
    fn nonneg(&self, v: &Value, what: &str) -> Option<usize> {
        match v {
            Value::Int(lit) if lit.suffix().is_empty() && lit.base10_digits() == "0" => Some(0),
            Value::Int(lit) if lit.base10_digits().starts_with('-') => {
                self.cx.error_spanned(
                    lit,
                    format!(
                        "{} cannot be negative, found {}",
                        self.subject(what),
                        lit.base10_digits()
                    ),
                );
                None
            }
            _ => self.size(v, what),
        }
    }

    fn padding(&self, v: &Value) -> Option<Padding> {
        const HELP: &str = "`padding` takes `valid`, `same`, an integer or a pair `(ph, pw)`";
        let name = &self.name;
        match v {
            Value::Ident(id) if id == "valid" => Some(Padding::Valid),
            Value::Ident(id) if id == "same" => Some(Padding::Same),
            Value::Ident(id) => {
                let hint = symbol::did_you_mean(&id.to_string(), ["valid", "same"].into_iter())
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                self.cx.error_spanned(
                    id,
                    format!("unknown padding `{id}` in `{name}`; {hint}{HELP}"),
                );
                None
            }
            Value::Int(_) => self.nonneg(v, "padding").map(|p| Padding::Explicit(p, p)),
            Value::Tuple(_, items) => match &items[..] {
                [a, b] => {
                    let a = self.nonneg(a, "padding");
                    let b = self.nonneg(b, "padding");
                    Some(Padding::Explicit(a?, b?))
                }
                _ => {
                    self.cx
                        .error_spanned(v, format!("`padding` of `{name}` must be `valid`, `same`, an integer or a pair `(ph, pw)`, found {} values", items.len()));
                    None
                }
            },
            other => {
                self.cx
                    .error_spanned(other, format!("`padding` of `{name}` must be `valid`, `same`, an integer or a pair `(ph, pw)`, found {}", found(other)));
                None
            }
        }
    }

    fn activation(&self, v: &Value) -> Option<Act> {
        let name = &self.name;
        let all = symbol::one_of(ACTIVATIONS);
        let word = match v {
            Value::Ident(id) => id.to_string(),
            Value::Other(ts) => {
                let s = ts.to_string();
                let unquoted = s.trim_matches('"');
                if s.starts_with('"') && ACTIVATIONS.contains(&unquoted) {
                    self.cx.error_spanned(
                        v,
                        format!("write the activation of `{name}` without quotes: `activation = {unquoted}`"),
                    );
                    return None;
                }
                s
            }
            other => {
                self.cx.error_spanned(
                    other,
                    format!(
                        "`activation` of `{name}` takes {all}, found {}",
                        found(other)
                    ),
                );
                return None;
            }
        };
        match word.as_str() {
            "linear" => return Some(Act::Linear),
            "relu" => return Some(Act::Relu),
            "sigmoid" => return Some(Act::Sigmoid),
            "tanh" => return Some(Act::Tanh),
            "softmax" => return Some(Act::Softmax),
            _ => {}
        }
        let msg = if symbol::UNSUPPORTED_ACTIVATIONS.contains(&word.to_lowercase().as_str()) {
            format!(
                "the activation `{word}` of `{name}` is not supported; the activations are {all}"
            )
        } else {
            let hint = symbol::suggest_activation(&word)
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            format!("unknown activation `{word}` in `{name}`; {hint}the activations are {all}")
        };
        self.cx.error_spanned(v, msg);
        None
    }

    fn boolean(&self, v: &Value, what: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(b.value),
            other => {
                let fix = match other {
                    Value::Int(i) if i.base10_digits() == "1" => format!("write `{what} = true`"),
                    Value::Int(i) if i.base10_digits() == "0" => format!("write `{what} = false`"),
                    Value::Ident(id) if id.to_string().eq_ignore_ascii_case("true") => {
                        format!("write `{what} = true`")
                    }
                    Value::Ident(id) if id.to_string().eq_ignore_ascii_case("false") => {
                        format!("write `{what} = false`")
                    }
                    _ => "write `true` or `false`".to_string(),
                };
                self.cx.error_spanned(
                    other,
                    format!(
                        "{} takes `true` or `false`, found {}; {fix}",
                        self.subject(what),
                        found(other)
                    ),
                );
                None
            }
        }
    }
}

/// A positive integer no larger than [`MAX_SIZE`]; `subject` names it in
/// errors ("`units` of `fc1`").
pub fn size(cx: &Ctxt, v: &Value, subject: &str) -> Option<usize> {
    let Value::Int(lit) = v else {
        cx.error_spanned(
            v,
            format!("{subject} must be a positive integer, found {}", found(v)),
        );
        return None;
    };
    if !lit.suffix().is_empty() {
        cx.error_spanned(
            lit,
            format!(
                "{subject} must be written without a type suffix: `{}`",
                lit.base10_digits()
            ),
        );
        return None;
    }
    // syn reads `-1` as one negative literal.
    if lit.base10_digits().starts_with('-') {
        cx.error_spanned(
            lit,
            format!(
                "{subject} must be at least 1, found {}",
                lit.base10_digits()
            ),
        );
        return None;
    }
    // Any number of digits is accepted here: a value too large even for
    // `u128` is simply "too large".
    match lit.base10_parse::<u128>() {
        Ok(0) => {
            cx.error_spanned(lit, format!("{subject} must be at least 1, found 0"));
            None
        }
        Ok(n) if n <= MAX_SIZE as u128 => usize::try_from(n).ok(),
        _ => {
            cx.error_spanned(
                lit,
                format!(
                    "{subject} is {}, more than staticnet accepts (at most {MAX_SIZE}); a statically allocated network cannot be this large",
                    lit.base10_digits()
                ),
            );
            None
        }
    }
}

/// What the user wrote, in words and tokens: "a float `3.5`".
fn found(v: &Value) -> String {
    format!("{} `{}`", v.describe(), show(v))
}

/// A value as the user wrote it, spaced as a person would.
pub fn show(v: &Value) -> String {
    match v {
        Value::Int(l) => l.to_string(),
        Value::Float(l) => l.to_string(),
        Value::Bool(b) => b.value.to_string(),
        Value::Ident(id) => id.to_string(),
        Value::Tuple(_, items) => {
            let items: Vec<String> = items.iter().map(show).collect();
            format!("({})", items.join(", "))
        }
        Value::Other(ts) => ts.to_string(),
    }
}
