//! `Flatten`: image or sequence → vector in PyTorch's flat order (a
//! vector passes through unchanged).
//!
//! No tensors. Kernels: `runtime/src/kernels/reshape.rs`.

use super::args::{Args, Signature};
use super::int8::{self, Int8Form};
use super::{lit, BackIo, Kind, Layer, ShapeCx, Site};
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::quote;
use std::any::Any;

pub struct Flatten;

pub const KIND: Kind = Kind {
    name: "Flatten",
    signature: Signature {
        positional: None,
        options: &[],
        example: "Flatten",
    },
    resolve,
};

fn resolve(_args: &Args) -> Option<Box<dyn Layer>> {
    Some(Box::new(Flatten))
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn is_flat_view(&self, input: Shape) -> bool {
        matches!(input, Shape::Image(..))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        Some(Shape::Vector(at.input.len()))
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        x_val: &TokenStream,
        _linear: bool,
    ) -> TokenStream {
        match s.input {
            Shape::Image(c, h, w) => {
                let [c, h, w, n] = [c, h, w, c * h * w].map(lit);
                s.call(quote!(k::flatten_image::<T, #c, #h, #w, #n>), quote!(#x))
            }
            Shape::Seq(t, f) => {
                let [t, f, n] = [t, f, t * f].map(lit);
                s.call(quote!(k::flatten_seq::<T, #f, #t, #n>), quote!(#x))
            }
            Shape::Vector(_) => x_val.clone(),
        }
    }

    fn forward_into(
        &self,
        s: &Site,
        x: &TokenStream,
        x_val: &TokenStream,
        out: &TokenStream,
        _linear: bool,
    ) -> Option<TokenStream> {
        let call = match s.input {
            Shape::Image(c, h, w) => {
                let [c, h, w, n] = [c, h, w, c * h * w].map(lit);
                s.call(
                    quote!(k::flatten_image_into::<T, #c, #h, #w, #n>),
                    quote!(#x, &mut #out),
                )
            }
            Shape::Seq(t, f) => {
                let [t, f, n] = [t, f, t * f].map(lit);
                s.call(
                    quote!(k::flatten_seq_into::<T, #f, #t, #n>),
                    quote!(#x, &mut #out),
                )
            }
            Shape::Vector(_) => quote!(#out = #x_val),
        };
        Some(quote!(#call;))
    }

    fn backward(&self, s: &Site, io: &BackIo, _linear: bool) -> TokenStream {
        let d = &io.grad;
        match s.input {
            Shape::Image(c, h, w) => {
                let [c, h, w, n] = [c, h, w, c * h * w].map(lit);
                s.call(
                    quote!(k::flatten_image_backward::<T, #c, #h, #w, #n>),
                    quote!(&#d),
                )
            }
            Shape::Seq(t, f) => {
                let [t, f, n] = [t, f, t * f].map(lit);
                s.call(
                    quote!(k::flatten_seq_backward::<T, #f, #t, #n>),
                    quote!(&#d),
                )
            }
            Shape::Vector(_) => d.clone(),
        }
    }

    fn int8_form(&self, s: &Site) -> Int8Form {
        if matches!(s.input, Shape::Seq(..)) || matches!(s.output, Shape::Seq(..)) {
            return Int8Form::Unsupported(Some(
                "int8 models take vectors and images, not sequences".into(),
            ));
        }
        Int8Form::Kernel
    }

    fn int8_forward_into(
        &self,
        s: &Site,
        xs: &[TokenStream],
        out: &TokenStream,
        _t: &dyn Fn(&str) -> TokenStream,
    ) -> TokenStream {
        // Moves nothing but the type: the flat order is PyTorch's (the
        // converter permuted the next Dense's columns for TFLite's NHWC).
        let x = int8::flat(&xs[0], s.input);
        let y = int8::flat_mut(out, s.output);
        let call = s.call(quote!(q::reshape_int8_into), quote!(#x, #y));
        quote!(#call;)
    }
}
