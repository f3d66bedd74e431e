//! `GlobalAvgPool` and `GlobalMaxPool`: the mean or maximum of every
//! channel of an image (`[c, h, w]` → `[c]`) or of every feature of a
//! sequence over its steps (`[t, f]` → `[f]`); Keras'
//! `GlobalAveragePooling2D`/`1D` and `GlobalMaxPooling2D`/`1D`.
//!
//! No tensors. Kernels: `runtime/src/kernels/global_pool.rs`.

use super::args::{Args, Signature};
use super::int8::{Int8Form, Int8Tensor};
use super::{lit, BackIo, Kind, Layer, ShapeCx, Site};
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::any::Any;

pub struct GlobalPool {
    pub max: bool,
}

const fn kind(name: &'static str) -> Kind {
    Kind {
        name,
        signature: Signature {
            positional: None,
            options: &[],
            example: name,
        },
        resolve,
    }
}

pub const GLOBAL_AVG_POOL: Kind = kind("GlobalAvgPool");
pub const GLOBAL_MAX_POOL: Kind = kind("GlobalMaxPool");

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    Some(Box::new(GlobalPool {
        max: args.kind() == "GlobalMaxPool",
    }))
}

impl GlobalPool {
    /// `global_{avg,max}_pool{2d,1d}` plus `suffix`, with the input's
    /// sizes: `::<T, C, H, W>` for an image, `::<T, F, S>` for a sequence.
    fn kernel(&self, s: &Site, suffix: &str) -> TokenStream {
        let op = if self.max { "max" } else { "avg" };
        match s.input {
            Shape::Image(c, h, w) => {
                let f = format_ident!("global_{op}_pool2d{suffix}", span = s.span);
                let [c, h, w] = [c, h, w].map(lit);
                quote!(k::#f::<T, #c, #h, #w>)
            }
            Shape::Seq(t, n) => {
                let f = format_ident!("global_{op}_pool1d{suffix}", span = s.span);
                let [n, t] = [n, t].map(lit);
                quote!(k::#f::<T, #n, #t>)
            }
            Shape::Vector(_) => quote!(::core::compile_error!(
                "staticnet: internal error: global pooling of a vector"
            )),
        }
    }
}

impl Layer for GlobalPool {
    fn kind(&self) -> &'static str {
        if self.max {
            "GlobalMaxPool"
        } else {
            "GlobalAvgPool"
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        match at.input {
            Shape::Image(c, ..) => Some(Shape::Vector(c)),
            Shape::Seq(_, f) => Some(Shape::Vector(f)),
            Shape::Vector(_) => {
                let name = &at.decl.name;
                let hint = match at.prev {
                    Some(p) if at.prev_is::<super::flatten::Flatten>().is_some() => {
                        format!("move `{name}` before `{}` (or remove `{}`: `{name}` already outputs a vector)", p.decl.name, p.decl.name)
                    }
                    Some(_) => format!("a vector has nothing left to pool; remove `{name}`, or move it up to an image or sequence"),
                    None => "declare the input as `[channels, height, width]` or `[steps, features]`".to_string(),
                };
                at.cx.error_spanned(
                    &at.decl.kind,
                    format!(
                        "`{}` needs an image [channels, height, width] or a sequence [steps, features], but {} (a vector); {hint}",
                        self.kind(),
                        at.from()
                    ),
                );
                None
            }
        }
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        _linear: bool,
    ) -> TokenStream {
        s.call(self.kernel(s, ""), quote!(#x))
    }

    fn backward(&self, s: &Site, io: &BackIo, _linear: bool) -> TokenStream {
        let BackIo { input, grad, .. } = io;
        let args = if self.max {
            quote!(&#input, &#grad)
        } else {
            quote!(&#grad)
        };
        s.call(self.kernel(s, "_backward"), args)
    }

    fn int8_form(&self, s: &Site) -> Int8Form {
        match (self.max, s.input) {
            (false, Shape::Image(..)) => Int8Form::Kernel,
            (true, Shape::Image(..)) => Int8Form::Unsupported(Some(
                "write it as `MaxPool2d` over the whole image, then `Flatten`".into(),
            )),
            _ => Int8Form::Unsupported(None),
        }
    }

    fn int8_tensors(&self, s: &Site) -> Vec<Int8Tensor> {
        let Shape::Image(_, h, w) = s.input else {
            return Vec::new();
        };
        vec![
            Int8Tensor::scalar("activation_min"),
            Int8Tensor::scalar("activation_max"),
            Int8Tensor::geometry("kernel", (h, w)),
            Int8Tensor::geometry("stride", (h, w)),
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
        // TFLite's AVERAGE_POOL_2D over the whole image.
        let (x, lo, hi) = (&xs[0], t("activation_min"), t("activation_max"));
        let call = s.call(
            quote!(q::global_avg_pool_int8_into),
            quote!(#x, #lo, #hi, &mut #out),
        );
        quote!(#call;)
    }
}
