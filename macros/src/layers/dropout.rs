//! `Dropout(rate)`: identity at inference and in the one-sample training
//! forward (PyTorch's `eval()`; backward the identity; streamable). In the
//! layer-major training forward (`Train::forward_train_layers`) it is
//! PyTorch's inverted dropout in `train()` (`Mode::dropout`): the mask, 0
//! or `1/(1 − rate)` per value, is drawn from the step's generator (or
//! replayed from the tape) and recorded in `tape.__<name>`; backward
//! multiplies by it.
//!
//! No tensors. Kernels: `runtime/src/kernels/dropout.rs`.

use super::args::{Args, Signature};
use super::int8::Int8Form;
use super::{BackIo, Kind, Layer, LayersBackward, ShapeCx, Site, StreamStep, TapeField};
use crate::shape::Shape;
use proc_macro2::{Literal, TokenStream};
use quote::quote;
use std::any::Any;

pub struct Dropout {
    /// The fraction of values dropped in training mode.
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

    fn tape_fields(&self, s: &Site) -> Vec<TapeField> {
        vec![TapeField {
            name: s.extra_field(),
            ty: crate::expand::tensor_type(s.output),
            doc: format!(
                "`{}`'s mask in the layer-major training forward: 0 or 1/(1 − rate) per value.",
                s.name
            ),
        }]
    }

    fn forward_layers(&self, s: &Site, input: &TokenStream) -> Option<TokenStream> {
        let (name, mask) = (&s.name, s.extra_field());
        let rate = Literal::f64_suffixed(self.rate);
        let call = s.call(
            quote!(k::dropout_train_into),
            quote!(&#input, #rate, mode.dropout, rng, &mut tape.#mask, &mut tape.#name),
        );
        Some(quote! {
            for tape in tapes.iter_mut() {
                #call;
            }
        })
    }

    fn backward_layers(&self, s: &Site, io: &BackIo, _linear: bool) -> Option<LayersBackward> {
        let (mask, grad) = (s.extra_field(), &io.grad);
        Some(LayersBackward {
            batch: TokenStream::new(),
            each: s.call(quote!(k::dropout_backward), quote!(&tape.#mask, &#grad)),
        })
    }

    fn int8_form(&self, _s: &Site) -> Int8Form {
        // The identity at inference.
        Int8Form::Folded
    }
}
