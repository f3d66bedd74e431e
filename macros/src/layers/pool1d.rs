//! `MaxPool1d(size)` and `AvgPool1d(size)` with `stride` (default: the
//! window) on a sequence `[t, f]` → `[t', f]`: over the steps, each feature
//! alone, floor division as Keras and PyTorch (`MaxPool1d` / `AvgPool1d`
//! on the transposed `[f, t]`).
//!
//! No tensors. Kernels: `runtime/src/kernels/pool1d.rs`.

use super::args::{Args, Signature};
use super::{lit, BackIo, Kind, Layer, ShapeCx, Site};
use crate::shape::Shape;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use std::any::Any;

pub struct Pool1d {
    pub max: bool,
    pub size: usize,
    pub stride: usize,
}

const fn kind(name: &'static str, example: &'static str) -> Kind {
    Kind {
        name,
        signature: Signature {
            positional: Some(("size", "the window size")),
            options: &["stride"],
            example,
        },
        resolve,
    }
}

pub const MAX_POOL1D: Kind = kind("MaxPool1d", "MaxPool1d(2)");
pub const AVG_POOL1D: Kind = kind("AvgPool1d", "AvgPool1d(2)");

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let (name, kind) = (args.name(), args.kind());
    let size = match args.get("size") {
        Some(v) => args.size(v, "size"),
        None => {
            args.missing(format!(
                "`{name}` needs a window size, e.g. `{name}: {kind}(2)`"
            ));
            None
        }
    };
    let stride = match args.get("stride") {
        Some(v) => args.size(v, "stride"),
        None => size,
    };
    Some(Box::new(Pool1d {
        max: kind == "MaxPool1d",
        size: size?,
        stride: stride?,
    }))
}

impl Pool1d {
    /// `k::MaxPool1d::<k::SeqIn<..>, k::SeqOut<..>, k::Window<..>,
    /// k::Step<..>>` (or `AvgPool1d`).
    fn kernels(&self, s: &Site) -> TokenStream {
        let (Shape::Seq(t, f), Shape::Seq(ot, _)) = (s.input, s.output) else {
            return quote_spanned!(s.span=> ::core::compile_error!("staticnet: internal error: 1-D pooling off a sequence"));
        };
        let ty = Ident::new(if self.max { "MaxPool1d" } else { "AvgPool1d" }, s.span);
        let [t, f, ot, k, st] = [t, f, ot, self.size, self.stride].map(lit);
        quote!(k::#ty::<k::SeqIn<#t, #f>, k::SeqOut<#ot, #f>, k::Window<#k>, k::Step<#st>>)
    }
}

impl Layer for Pool1d {
    fn kind(&self) -> &'static str {
        if self.max {
            "MaxPool1d"
        } else {
            "AvgPool1d"
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        let Shape::Seq(n, f) = at.input else {
            super::conv1d::needs_sequence(at, self.kind());
            return None;
        };
        if self.size > n {
            let name = &at.decl.name;
            at.cx.error_spanned(
                at.value_of("size"),
                format!(
                    "the window of `{name}` ({} steps) is longer than its input: {}; use a window of at most {n}, or remove `{name}`",
                    self.size,
                    at.from()
                ),
            );
            return None;
        }
        Some(Shape::Seq((n - self.size) / self.stride + 1, f))
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        _linear: bool,
    ) -> TokenStream {
        let kernels = self.kernels(s);
        s.call(quote!(#kernels::forward), quote!(#x))
    }

    fn forward_into(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        out: &TokenStream,
        _linear: bool,
    ) -> Option<TokenStream> {
        let kernels = self.kernels(s);
        let call = s.call(quote!(#kernels::forward_into), quote!(#x, &mut #out));
        Some(quote!(#call;))
    }

    fn backward(&self, s: &Site, io: &BackIo, _linear: bool) -> TokenStream {
        let kernels = self.kernels(s);
        let BackIo {
            input,
            output,
            grad,
        } = io;
        s.call(
            quote!(#kernels::backward),
            quote!(&#input, &#output, &#grad),
        )
    }
}
