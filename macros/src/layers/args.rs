//! The arguments of a layer: which a kind takes, what they mean, and the
//! errors for everything else. Each kind's file reads its options through
//! [`Args`]; the checks common to many kinds (sizes, pairs, padding,
//! activations, booleans) live here once.

use crate::ast::{Arg, LayerDecl, Value};
use crate::ctxt::Ctxt;
use crate::layers::Act;
use crate::symbol::{self, ACTIVATIONS};
use std::collections::BTreeMap;

/// The largest single size (units, filters, kernel, stride, dimension) the
/// DSL accepts; anything larger is certainly a typo for a stack-allocated
/// network.
pub const MAX_SIZE: usize = 1 << 20;

/// What a kind accepts: its positional argument (with the name it may also
/// be given by), and its named options.
pub struct Signature {
    /// (name, what it is, for "needs ..")
    pub positional: Option<(&'static str, &'static str)>,
    pub options: &'static [&'static str],
    /// A typical call, for "e.g. ..".
    pub example: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Valid,
    Same,
    Explicit(usize, usize),
}

/// The value given for option `name` of `decl` (the positional argument
/// counts as its option).
pub fn arg_value<'a>(
    decl: &'a LayerDecl,
    sig: Option<&Signature>,
    name: &str,
) -> Option<&'a Value> {
    let positional = sig.and_then(|s| s.positional);
    decl.args.iter().find_map(|a| match &a.key {
        Some(k) if k == name => Some(&a.value),
        None if positional.is_some_and(|(p, _)| p == name) => Some(&a.value),
        _ => None,
    })
}

/// One layer's arguments, each mapped to its option name, with what errors
/// need to name the layer.
pub struct Args<'a> {
    cx: &'a Ctxt,
    decl: &'a LayerDecl,
    kind: String,
    name: String,
    sig: &'a Signature,
    map: BTreeMap<&'static str, &'a Value>,
    ok: bool,
}

impl<'a> Args<'a> {
    /// Maps every argument of `decl` after the first `skip` (a merge
    /// layer's input names) to its option, recording errors.
    pub fn collect_after(
        cx: &'a Ctxt,
        decl: &'a LayerDecl,
        sig: &'a Signature,
        skip: usize,
    ) -> Self {
        let (map, ok) = Self::collect_args(cx, decl, sig, skip);
        Args {
            cx,
            decl,
            kind: decl.kind.to_string(),
            name: decl.name.to_string(),
            sig,
            map,
            ok,
        }
    }

    /// Whether every argument was well placed.
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// The layer's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layer's kind as written.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The error sink.
    pub fn cx(&self) -> &Ctxt {
        self.cx
    }

    /// The value of option `name`, if given.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).copied()
    }

    /// `` `units` of `fc1` ``
    fn subject(&self, what: &str) -> String {
        format!("`{what}` of `{}`", self.name)
    }

    /// Records that a required argument is missing, unless an earlier
    /// argument error (say a misspelt option) may be the reason.
    pub fn missing(&self, msg: String) {
        if self.ok {
            self.cx.error_spanned(&self.decl.kind, msg);
        }
    }

    /// The required positional size (units, filters).
    pub fn positional_size(&self) -> Option<usize> {
        let (pname, what) = self.sig.positional?;
        let name = &self.name;
        match self.get(pname) {
            Some(v) => self.size(v, pname),
            None => {
                self.missing(format!(
                    "`{name}` needs {what}, e.g. `{name}: {}`",
                    self.sig.example
                ));
                None
            }
        }
    }

    /// `activation = ..`, or `default` if not given.
    pub fn activation_or(&self, default: Act) -> Option<Act> {
        match self.get("activation") {
            Some(v) => self.activation(v),
            None => Some(default),
        }
    }

    /// A required pair option (`kernel`, a pooling `size`): `help` is the
    /// message when it is missing.
    pub fn required_pair(&self, option: &str, help: String) -> Option<(usize, usize)> {
        match self.get(option) {
            Some(v) => self.pair(v, option),
            None => {
                self.missing(help);
                None
            }
        }
    }

    /// An optional boolean option.
    pub fn bool_or(&self, option: &str, default: bool) -> Option<bool> {
        self.get(option)
            .map_or(Some(default), |v| self.boolean(v, option))
    }

    /// Maps every argument to its option name, reporting unknown options,
    /// misplaced or surplus positional arguments and options given twice.
    /// A misspelt option with an obvious correction is checked under the
    /// corrected name, so its value is validated too. Returns the map and
    /// whether every argument was well placed.
    fn collect_args(
        cx: &Ctxt,
        decl: &'a LayerDecl,
        sig: &Signature,
        skip: usize,
    ) -> (BTreeMap<&'static str, &'a Value>, bool) {
        let (kind, name) = (decl.kind.to_string(), decl.name.to_string());
        let kind = kind.as_str();
        let mut out: BTreeMap<&'static str, &'a Value> = BTreeMap::new();
        let mut ok = true;
        let all: Vec<&'static str> = sig
            .positional
            .iter()
            .map(|(n, _)| *n)
            .chain(sig.options.iter().copied())
            .collect();
        let mut positional_seen = false;
        let mut named_seen = false;
        for Arg { key, value } in decl.args.iter().skip(skip) {
            let option: &'static str = match key {
                None => {
                    let Some((pname, what)) = sig.positional else {
                        let read = match value {
                            Value::Ident(id) => format!(
                                "; to read `{id}` instead of the line above, write `{name}: {kind}()({id})`"
                            ),
                            _ => String::new(),
                        };
                        cx.error_spanned(
                            value,
                            format!("`{kind}` takes no arguments; write `{name}: {kind}`{read}"),
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
                                reordered(decl)
                            ),
                        );
                        ok = false;
                    }
                    pname
                }
                Some(key) => {
                    named_seen = true;
                    let k = key.to_string();
                    if k == TRAINABLE {
                        // Every kind's option, read by [`trainable`].
                        continue;
                    }
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
                            let guess = symbol::suggest_option(&k, &all)
                                .or_else(|| symbol::suggest_option(&k, &[TRAINABLE]));
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
            if option != "activation" && quoted(cx, &name, key.is_some().then_some(option), value) {
                ok = false;
                continue;
            }
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

    /// A positive integer no larger than [`MAX_SIZE`].
    pub fn size(&self, v: &Value, what: &str) -> Option<usize> {
        size(self.cx, v, &self.subject(what))
    }

    /// `n` (square) or `(a, b)`, each positive.
    pub fn pair(&self, v: &Value, what: &str) -> Option<(usize, usize)> {
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

    /// A number (a float or an integer literal, possibly negative) as
    /// `f64`; `example` shows a correct use ("`eps = 1e-3`").
    pub fn number(&self, v: &Value, what: &str, example: &str) -> Option<f64> {
        let parsed = match v {
            Value::Float(l) => l.base10_parse::<f64>().ok(),
            Value::Int(l) => l.base10_parse::<f64>().ok(),
            _ => None,
        };
        match parsed {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                self.cx.error_spanned(
                    v,
                    format!(
                        "{} must be a number, e.g. `{example}`, found {}",
                        self.subject(what),
                        found(v)
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

    pub fn padding(&self, v: &Value) -> Option<Padding> {
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

    pub fn activation(&self, v: &Value) -> Option<Act> {
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
        if let Some(act) = Act::from_word(&word) {
            return Some(act);
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

    pub fn boolean(&self, v: &Value, what: &str) -> Option<bool> {
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

/// Records an error if `v` is a string literal (`padding = "same"`, as
/// Keras writes it): no option takes a string, so the fix is to drop the
/// quotes. (`activation` has its own message, in [`Args::activation`].)
fn quoted(cx: &Ctxt, name: &str, option: Option<&str>, v: &Value) -> bool {
    let Value::Other(ts) = v else {
        return false;
    };
    let Ok(s) = syn::parse2::<syn::LitStr>(ts.clone()) else {
        return false;
    };
    let fix = match option {
        Some(option) => format!("{option} = {}", s.value()),
        None => s.value(),
    };
    cx.error_spanned(
        v,
        format!("write `{fix}` without quotes in `{name}`: options are written as Rust tokens, not strings"),
    );
    true
}

/// The layer's call with its positional argument moved first.
fn reordered(decl: &LayerDecl) -> String {
    let args = &decl.args;
    let positional = args
        .iter()
        .filter(|a| a.key.is_none())
        .map(|a| show(&a.value));
    let named = args
        .iter()
        .filter_map(|a| a.key.as_ref().map(|k| format!("{k} = {}", show(&a.value))));
    let parts: Vec<String> = positional.chain(named).collect();
    format!("{}({})", decl.kind, parts.join(", "))
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
        Value::List(_, items) => {
            let items: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// The option every kind takes: `trainable = false` freezes the layer
/// (Keras' `layer.trainable = False`).
pub const TRAINABLE: &str = "trainable";

/// The layer's `trainable = ..` (`None` if not given, or given wrongly,
/// which is reported): a boolean, given once. Whether the layer has
/// parameters to freeze is the params driver's check.
pub fn trainable<'a>(cx: &Ctxt, decl: &'a LayerDecl) -> Option<(bool, &'a Value)> {
    let name = decl.name.to_string();
    let mut given = decl
        .args
        .iter()
        .filter(|a| a.key.as_ref().is_some_and(|k| k == TRAINABLE));
    let first = given.next()?;
    if let Some(again) = given.next() {
        if let Some(k) = &again.key {
            cx.error_spanned(
                k,
                format!("`{TRAINABLE}` is given twice in `{name}`; remove one"),
            );
        }
    }
    match &first.value {
        Value::Bool(b) => Some((b.value, &first.value)),
        other => {
            cx.error_spanned(
                other,
                format!(
                    "`{TRAINABLE}` of `{name}` takes `true` or `false`, found {}; write `{TRAINABLE} = false` to freeze `{name}`",
                    found(other)
                ),
            );
            None
        }
    }
}
