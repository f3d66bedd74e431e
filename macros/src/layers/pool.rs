//! `MaxPool2d(size)` and `AvgPool2d(size)`, `size = k | (kh, kw)`,
//! `stride` (default: the window): image → image, floor division as Keras
//! and PyTorch (`AvgPool2d((H, W))` on an `[c, H, W]` image is global
//! average pooling).
//!
//! No tensors. Kernels: `runtime/src/kernels/pool.rs`.

use super::args::{Args, Signature};
use super::int8::{self, Int8Form, Int8Tensor};
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
    /// `k::MaxPool2d::<k::In<..>, k::Out<..>, k::Kernel<..>, k::Stride<..>>`
    /// (or `AvgPool2d`): the layer's kernels, each size named.
    fn kernels(&self, s: &Site) -> TokenStream {
        let (Shape::Image(c, h, w), Shape::Image(_, oh, ow)) = (s.input, s.output) else {
            return quote_spanned!(s.span=> ::core::compile_error!("staticnet: internal error: pooling off an image"));
        };
        let ty = Ident::new(if self.max { "MaxPool2d" } else { "AvgPool2d" }, s.span);
        let ((kh, kw), (sh, sw)) = (self.size, self.stride);
        let [c, h, w, oh, ow, kh, kw, sh, sw] = [c, h, w, oh, ow, kh, kw, sh, sw].map(lit);
        quote!(k::#ty::<k::In<#c, #h, #w>, k::Out<#c, #oh, #ow>, k::Kernel<#kh, #kw>, k::Stride<#sh, #sw>>)
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
                    "the {kh}×{kw} window of `{name}` is larger than its input: {}; use a window of at most {h}×{w}, or remove `{name}`{}",
                    at.from(),
                    at.channels_last_hint()
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

    fn int8_form(&self, _s: &Site) -> Int8Form {
        Int8Form::Kernel
    }

    fn int8_tensors(&self, _s: &Site) -> Vec<Int8Tensor> {
        vec![
            Int8Tensor::scalar("activation_min"),
            Int8Tensor::scalar("activation_max"),
            Int8Tensor::geometry("kernel", self.size),
            Int8Tensor::geometry("stride", self.stride),
            Int8Tensor::geometry("pad", (0, 0)),
        ]
    }

    fn int8_forward_into(
        &self,
        s: &Site,
        xs: &[TokenStream],
        out: &TokenStream,
        t: &dyn Fn(&str) -> TokenStream,
    ) -> TokenStream {
        // Input and output share scale and zero point: the pool moves raw
        // int8 values and clamps them to the file's activation range.
        let g = int8::geometry_types(self.size, self.stride, (0, 0));
        let op = Ident::new(if self.max { "max_into" } else { "avg_into" }, s.span);
        let (x, lo, hi) = (&xs[0], t("activation_min"), t("activation_max"));
        let call = s.call(
            quote!(q::Pool2dInt8::<#g>::#op),
            quote!(#x, #lo, #hi, &mut #out),
        );
        quote!(#call;)
    }
}
