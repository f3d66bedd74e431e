//! The grammar of the DSL, and nothing else: meaning is given in `layers`
//! and `shape`.

use crate::ast::{Arg, Entry, InputDecl, LayerDecl, ModelDef, Reads, Value};
use proc_macro2::{TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{braced, bracketed, parenthesized, Attribute, Ident, Token};

impl Parse for ModelDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        if !input.peek(Token![struct]) {
            return Err(input.error("expected `struct Name { input: [..], layer: Kind(..), .. }`"));
        }
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        if input.peek(Token![<]) {
            return Err(input.error(
                "write the model without generics: `model!` makes it generic over the float type itself (`Name<T = f32>`)",
            ));
        }
        let content;
        let brace = braced!(content in input);
        let mut entries = Vec::new();
        while !content.is_empty() {
            let entry: Entry = content.parse()?;
            let key = match &entry {
                Entry::Input(i) => i.key.to_string(),
                Entry::Layer(l) => l.name.to_string(),
            };
            entries.push(entry);
            if content.is_empty() {
                break;
            }
            if !content.peek(Token![,]) {
                return Err(content.error(format!(
                    "expected `,` after the `{key}` entry; entries are separated by commas"
                )));
            }
            content.parse::<Token![,]>()?;
        }
        if !input.is_empty() {
            return Err(input.error(
                "unexpected tokens after the model's closing brace; `model!` takes one struct",
            ));
        }
        Ok(ModelDef {
            attrs,
            vis,
            name,
            brace_span: brace.span.join(),
            entries,
        })
    }
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let name: Ident = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "expected a layer name, e.g. `fc1: Dense(64)`")
        })?;
        if !input.peek(Token![:]) {
            return Err(input.error(format!(
                "expected `:` after `{name}`; a layer is written `{name}: Kind(args)`"
            )));
        }
        input.parse::<Token![:]>()?;
        if input.peek(syn::token::Bracket) {
            let content;
            let bracket = bracketed!(content in input);
            let mut dims = Vec::new();
            while !content.is_empty() {
                dims.push(parse_value(&content, 0)?);
                if content.is_empty() {
                    break;
                }
                if !content.peek(Token![,]) {
                    return Err(content.error(
                        "expected `,` between the dimensions of `input`, e.g. `input: [1, 28, 28]`",
                    ));
                }
                content.parse::<Token![,]>()?;
            }
            return Ok(Entry::Input(InputDecl {
                key: name,
                bracket_span: bracket.span.join(),
                dims,
            }));
        }
        let kind: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected a layer kind after `{name}:`, e.g. `Dense(64)`, or a shape `[..]` for `input`"),
            )
        })?;
        let mut args = Vec::new();
        let mut args_tokens = None;
        if input.peek(syn::token::Paren) {
            let content;
            parenthesized!(content in input);
            args_tokens = Some(content.fork().parse::<TokenStream>()?);
            while !content.is_empty() {
                args.push(content.parse()?);
                if content.is_empty() {
                    break;
                }
                if !content.peek(Token![,]) {
                    return Err(content.error(format!(
                        "expected `,` between the arguments of `{name}`, e.g. `{name}: Conv2d(32, kernel = 3)`"
                    )));
                }
                content.parse::<Token![,]>()?;
            }
        }
        // A second parenthesised list (the first is the arguments, even
        // when empty) names what the layer reads.
        let reads = if input.peek(syn::token::Paren) {
            Some(parse_reads(input, &name)?)
        } else {
            None
        };
        Ok(Entry::Layer(LayerDecl {
            attrs,
            name,
            kind,
            args_tokens,
            args,
            reads,
        }))
    }
}

/// `(a, b, ..)`: the names of the layers (or `input`) a layer reads.
fn parse_reads(input: ParseStream, name: &Ident) -> syn::Result<Reads> {
    let content;
    let paren = parenthesized!(content in input);
    let mut names = Vec::new();
    while !content.is_empty() {
        let read: Ident = content.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!(
                    "`{name}` reads layers by name, e.g. `{name}: Flatten()(pool2)` or `(input)`"
                ),
            )
        })?;
        names.push(read);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    if names.is_empty() {
        return Err(syn::Error::new(
            paren.span.join(),
            format!("`{name}` reads nothing: name the layer it reads, e.g. `(input)`, or remove the empty `()`"),
        ));
    }
    if !input.is_empty() && !input.peek(Token![,]) {
        return Err(input.error(format!(
            "expected `,` after `{name}`'s read list; a layer reads one list, e.g. `{name}: Dense(4)(fc1)`"
        )));
    }
    Ok(Reads {
        span: paren.span.join(),
        names,
    })
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            if input.is_empty() || input.peek(Token![,]) {
                return Err(input.error(format!("expected a value after `{key} =`")));
            }
            let value = parse_value(input, 0)?;
            return Ok(Arg {
                key: Some(key),
                value,
            });
        }
        if input.peek(Ident) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            let key: Ident = input.fork().parse()?;
            return Err(syn::Error::new(
                key.span(),
                format!("options are written with `=`: `{key} = ..`"),
            ));
        }
        Ok(Arg {
            key: None,
            value: parse_value(input, 0)?,
        })
    }
}

/// Tuples nested deeper than this are kept as tokens (and rejected later):
/// no option takes more than a pair, and the recursion stays shallow
/// whatever the input.
const MAX_NESTING: usize = 4;

/// A literal, a name, a parenthesised tuple, a bracketed list, or (kept as tokens for a
/// later, clearer error) anything else up to the next top-level comma.
fn parse_value(input: ParseStream, depth: usize) -> syn::Result<Value> {
    if input.peek(syn::LitInt) {
        return Ok(Value::Int(input.parse()?));
    }
    if input.peek(syn::LitFloat) {
        return Ok(Value::Float(input.parse()?));
    }
    if input.peek(syn::LitBool) {
        return Ok(Value::Bool(input.parse()?));
    }
    if input.peek(Ident) && one_tree_then_end(input) {
        return Ok(Value::Ident(input.parse()?));
    }
    if input.peek(syn::token::Paren) && depth < MAX_NESTING && one_tree_then_end(input) {
        let content;
        let paren = parenthesized!(content in input);
        let mut items = Vec::new();
        while !content.is_empty() {
            items.push(parse_value(&content, depth + 1)?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        return Ok(Value::Tuple(paren.span.join(), items));
    }
    if input.peek(syn::token::Bracket) && depth < MAX_NESTING && one_tree_then_end(input) {
        let content;
        let bracket = bracketed!(content in input);
        let mut items = Vec::new();
        while !content.is_empty() {
            items.push(parse_value(&content, depth + 1)?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        return Ok(Value::List(bracket.span.join(), items));
    }
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        let tt: TokenTree = input.parse()?;
        tokens.extend(std::iter::once(tt));
    }
    if tokens.is_empty() {
        return Err(input.error("expected a value"));
    }
    Ok(Value::Other(tokens))
}

/// `true` if the next token tree is followed by a comma or the end.
fn one_tree_then_end(input: ParseStream) -> bool {
    let fork = input.fork();
    fork.parse::<TokenTree>().is_ok() && (fork.is_empty() || fork.peek(Token![,]))
}
