//! The syntax tree of the DSL; every node keeps the tokens it came from so
//! errors can point at them.

use proc_macro2::{Span, TokenStream};
use syn::{Attribute, Ident, LitBool, LitFloat, LitInt, Visibility};

/// `#[attrs] vis struct Name { input: [..], layer: Kind(args), .. }`
pub struct ModelDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// The span of the braces around the entries.
    pub brace_span: Span,
    pub entries: Vec<Entry>,
}

/// One `name: ...` line.
pub enum Entry {
    /// `input: [d0, d1, ..]`
    Input(InputDecl),
    /// `name: Kind` or `name: Kind(args)`
    Layer(LayerDecl),
}

pub struct InputDecl {
    pub key: Ident,
    pub bracket_span: Span,
    pub dims: Vec<Value>,
}

pub struct LayerDecl {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub kind: Ident,
    /// The argument list's tokens as written (for docs), if any.
    pub args_tokens: Option<TokenStream>,
    pub args: Vec<Arg>,
    /// `(a, b)` after the argument list: what the layer reads, if not the
    /// line above.
    pub reads: Option<Reads>,
}

/// The names in a layer's read list `(..)`, with the list's span.
pub struct Reads {
    pub span: Span,
    pub names: Vec<Ident>,
}

/// `value` (positional) or `key = value`.
pub struct Arg {
    pub key: Option<Ident>,
    pub value: Value,
}

/// An argument's value; anything else is kept as tokens for the error.
pub enum Value {
    Int(LitInt),
    Float(LitFloat),
    Bool(LitBool),
    Ident(Ident),
    Tuple(Span, Vec<Value>),
    Other(TokenStream),
    /// `[a, b, ..]` (a target shape, an axis order).
    List(Span, Vec<Value>),
}

impl quote::ToTokens for Value {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Value::Int(v) => v.to_tokens(tokens),
            Value::Float(v) => v.to_tokens(tokens),
            Value::Bool(v) => v.to_tokens(tokens),
            Value::Ident(v) => v.to_tokens(tokens),
            Value::Tuple(span, items) => {
                let mut inner = TokenStream::new();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        inner.extend(quote::quote!(,));
                    }
                    item.to_tokens(&mut inner);
                }
                let mut g = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, inner);
                g.set_span(*span);
                tokens.extend(std::iter::once(proc_macro2::TokenTree::Group(g)));
            }
            Value::Other(ts) => tokens.extend(ts.clone()),
            Value::List(span, items) => {
                let mut inner = TokenStream::new();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        inner.extend(quote::quote!(,));
                    }
                    item.to_tokens(&mut inner);
                }
                let mut g = proc_macro2::Group::new(proc_macro2::Delimiter::Bracket, inner);
                g.set_span(*span);
                tokens.extend(std::iter::once(proc_macro2::TokenTree::Group(g)));
            }
        }
    }
}

impl Value {
    /// What the user wrote, in words, for error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Ident(_) => "a name",
            Value::Tuple(..) => "a tuple",
            Value::Other(_) => "an expression",
            Value::List(..) => "a list",
        }
    }
}
