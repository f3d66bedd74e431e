//! `Dropout(rate)`: identity outside training, and (until training-mode
//! layers arrive, a later issue) in the training forward too, as PyTorch's
//! `Dropout` in `eval()`. Backward is the identity; streamable.
//!
//! No tensors, no kernels.

use super::args::{Args, Signature};
use super::{BackIo, Kind, Layer, ShapeCx, Site, StreamStep};
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::quote;
use std::any::Any;

pub struct Dropout {
    /// The fraction of values dropped in training mode (a later issue).
    #[allow(dead_code)]
    pub rate: f64,
}

pub const KIND: Kind = Kind {
    name: "Dropout",
    signature: Signature {
        positional: Some(("rate", "the fraction of values to drop, in [0, 1)")),
        options: &[],
        example: "Dropout(0.5)",
    },
    resolve,
};

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let name = args.name();
    let Some(v) = args.get("rate") else {
        args.missing(format!(
            "`{name}` needs the fraction of values to drop, in [0, 1), e.g. `{name}: Dropout(0.5)`"
        ));
        return None;
    };
    let rate = args.number(v, "rate", "Dropout(0.5)")?;
    if !(0.0..1.0).contains(&rate) {
        let why = if rate == 1.0 {
            " (a rate of 1 drops every value, so nothing reaches the next layer)"
        } else {
            ""
        };
        args.cx().error_spanned(
            v,
            format!(
                "the rate of `{name}` must be at least 0 and below 1, found {rate}{why}; e.g. `{name}: Dropout(0.5)`"
            ),
        );
        return None;
    }
    Some(Box::new(Dropout { rate }))
}

impl Layer for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        Some(at.input)
    }

    fn forward(
        &self,
        _s: &Site,
        _x: &TokenStream,
        x_val: &TokenStream,
        _linear: bool,
    ) -> TokenStream {
        x_val.clone()
    }

    fn forward_into(
        &self,
        _s: &Site,
        _x: &TokenStream,
        x_val: &TokenStream,
        out: &TokenStream,
        _linear: bool,
    ) -> Option<TokenStream> {
        Some(quote!(#out = #x_val;))
    }

    fn backward(&self, _s: &Site, io: &BackIo, _linear: bool) -> TokenStream {
        io.grad.clone()
    }

    fn stream(&self, _s: &Site, x: &TokenStream) -> Option<StreamStep> {
        Some(StreamStep {
            state: None,
            run: TokenStream::new(),
            output: quote!(*#x),
        })
    }
}
