//! `MaxPool2d(size)` and `AvgPool2d(size)`, `size = k | (kh, kw)`,
//! `stride` (default: the window): image → image, floor division as Keras
//! and PyTorch (`AvgPool2d((H, W))` on an `[c, H, W]` image is global
//! average pooling).
//!
//! No tensors. Kernels: `runtime/src/kernels/pool.rs`.

use super::args::{Args, Signature};
use super::{lit, BackIo, Kind, Layer, ShapeCx, Site};
use crate::shape::Shape;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use std::any::Any;

pub struct Pool2d {
    pub max: bool,
    pub size: (usize, usize),
    pub stride: (usize, usize),
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

pub const MAX_POOL2D: Kind = kind("MaxPool2d", "MaxPool2d(2)");
pub const AVG_POOL2D: Kind = kind("AvgPool2d", "AvgPool2d(2)");

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let (name, kind) = (args.name(), args.kind());
    let size = args.required_pair(
        "size",
        format!(
            "`{name}` needs a window size, e.g. `{name}: {kind}(2)` or `{name}: {kind}((2, 3))`"
        ),
    );
    let stride = match args.get("stride") {
        Some(v) => args.pair(v, "stride"),
        None => size,
    };
    Some(Box::new(Pool2d {
        max: kind == "MaxPool2d",
        size: size?,
        stride: stride?,
    }))
}

impl Pool2d {
    /// The forward or backward kernel.
    fn kernel(&self, s: &Site, backward: bool) -> Ident {
        let name = match (self.max, backward) {
            (true, false) => "max_pool2d",
            (true, true) => "max_pool2d_backward",
            (false, false) => "avg_pool2d",
            (false, true) => "avg_pool2d_backward",
        };
        Ident::new(name, s.span)
    }

    /// The kernels' generics after `T`: input `c, h, w`, window, stride,
    /// output `oh, ow`.
    fn geometry(&self, s: &Site) -> TokenStream {
        let (Shape::Image(c, h, w), Shape::Image(_, oh, ow)) = (s.input, s.output) else {
            return quote_spanned!(s.span=> ::core::compile_error!("staticnet: internal error: pooling off an image"));
        };
        let ((kh, kw), (sh, sw)) = (self.size, self.stride);
        let [c, h, w, kh, kw, sh, sw, oh, ow] = [c, h, w, kh, kw, sh, sw, oh, ow].map(lit);
        quote!(#c, #h, #w, #kh, #kw, #sh, #sw, #oh, #ow)
    }
}

impl Layer for Pool2d {
    fn kind(&self) -> &'static str {
        if self.max {
            "MaxPool2d"
        } else {
            "AvgPool2d"
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        let Shape::Image(c, h, w) = at.input else {
            super::conv2d::needs_image(at, self.kind());
            return None;
        };
        let ((kh, kw), (sh, sw)) = (self.size, self.stride);
        if kh > h || kw > w {
            let name = &at.decl.name;
            at.cx.error_spanned(
                at.value_of("size"),
                format!(
                    "the {kh}×{kw} window of `{name}` is larger than its input: {}; use a window of at most {h}×{w}, or remove `{name}`",
                    at.from()
                ),
            );
            return None;
        }
        Some(Shape::Image(c, (h - kh) / sh + 1, (w - kw) / sw + 1))
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        _linear: bool,
    ) -> TokenStream {
        let (f, g) = (self.kernel(s, false), self.geometry(s));
        s.call(quote!(k::#f::<T, #g>), quote!(#x))
    }

    fn backward(&self, s: &Site, io: &BackIo, _linear: bool) -> TokenStream {
        let (f, g) = (self.kernel(s, true), self.geometry(s));
        let BackIo {
            input,
            output,
            grad,
        } = io;
        s.call(quote!(k::#f::<T, #g>), quote!(&#input, &#output, &#grad))
    }
}
