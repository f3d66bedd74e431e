//! Activations: the `activation = ..` option of other layers, and the
//! activation layers (`Relu`, `Sigmoid`, `Tanh`, `Softmax`).
//!
//! Kernels: `runtime/src/kernels/elementwise.rs` (`activate`,
//! `activate_image` and their backward), the functions themselves in
//! `runtime/src/activation.rs`.

use super::args::{Args, Signature};
use super::{lit, BackIo, Kind, Layer, ShapeCx, Site, StreamStep};
use crate::shape::Shape;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use std::any::Any;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

impl Act {
    /// The DSL's word for it (`activation = relu`).
    pub fn from_word(word: &str) -> Option<Act> {
        Some(match word {
            "linear" => Act::Linear,
            "relu" => Act::Relu,
            "sigmoid" => Act::Sigmoid,
            "tanh" => Act::Tanh,
            "softmax" => Act::Softmax,
            _ => return None,
        })
    }

    /// The runtime's type for it (`::staticnet::activation::Relu`), also
    /// the name of `OutputActivation`'s variant.
    pub fn type_name(self) -> &'static str {
        match self {
            Act::Linear => "Linear",
            Act::Relu => "Relu",
            Act::Sigmoid => "Sigmoid",
            Act::Tanh => "Tanh",
            Act::Softmax => "Softmax",
        }
    }

    /// `a::Relu`, as generated code names it (`a` is the runtime's
    /// activation module).
    pub fn ty(self) -> TokenStream {
        let id = Ident::new(self.type_name(), Span::call_site());
        quote!(a::#id)
    }

    /// `act` unless `linear` asks for the logits.
    pub fn unless(self, linear: bool) -> Act {
        if linear {
            Act::Linear
        } else {
            self
        }
    }
}

/// The activation applied to `x` (by value) of shape `shape`: softmax over
/// a vector, the features of each step of a sequence, the channels of each
/// pixel of an image.
pub fn apply(s: &Site, act: Act, shape: Shape, x: &TokenStream) -> TokenStream {
    let a = act.ty();
    match shape {
        Shape::Vector(n) => {
            let n = lit(n);
            s.call(quote!(k::activate::<T, #a, #n, 1>), quote!(#x))
        }
        Shape::Seq(t, f) => {
            let (t, f) = (lit(t), lit(f));
            s.call(quote!(k::activate::<T, #a, #f, #t>), quote!(#x))
        }
        Shape::Image(c, h, w) => {
            let [c, h, w] = [c, h, w].map(lit);
            s.call(quote!(k::activate_image::<T, #a, #c, #h, #w>), quote!(#x))
        }
    }
}

/// dL/d(input) of the activation from its output `y` and dL/d(output) `d`.
pub fn apply_backward(
    s: &Site,
    act: Act,
    shape: Shape,
    y: &TokenStream,
    d: &TokenStream,
) -> TokenStream {
    let a = act.ty();
    match shape {
        Shape::Vector(n) => {
            let n = lit(n);
            s.call(
                quote!(k::activate_backward::<T, #a, #n, 1>),
                quote!(&#y, &#d),
            )
        }
        Shape::Seq(t, f) => {
            let (t, f) = (lit(t), lit(f));
            s.call(
                quote!(k::activate_backward::<T, #a, #f, #t>),
                quote!(&#y, &#d),
            )
        }
        Shape::Image(c, h, w) => {
            let [c, h, w] = [c, h, w].map(lit);
            s.call(
                quote!(k::activate_image_backward::<T, #a, #c, #h, #w>),
                quote!(&#y, &#d),
            )
        }
    }
}

/// An activation layer: `relu: Relu`.
pub struct Activation(pub Act);

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

pub const RELU: Kind = kind("Relu");
pub const SIGMOID: Kind = kind("Sigmoid");
pub const TANH: Kind = kind("Tanh");
pub const SOFTMAX: Kind = kind("Softmax");

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let act = Act::from_word(&args.kind().to_lowercase())?;
    Some(Box::new(Activation(act)))
}

impl Layer for Activation {
    fn kind(&self) -> &'static str {
        self.0.type_name()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        Some(at.input)
    }

    fn activation(&self) -> Act {
        self.0
    }

    fn activation_only(&self) -> bool {
        true
    }

    fn forward(
        &self,
        s: &Site,
        _x: &TokenStream,
        x_val: &TokenStream,
        linear: bool,
    ) -> TokenStream {
        if linear {
            return x_val.clone();
        }
        apply(s, self.0, s.output, x_val)
    }

    fn backward(&self, s: &Site, io: &BackIo, linear: bool) -> TokenStream {
        if linear {
            return io.grad.clone();
        }
        apply_backward(s, self.0, s.output, &io.output, &io.grad)
    }

    fn stream(&self, s: &Site, x: &TokenStream) -> Option<StreamStep> {
        let a = self.0.ty();
        let n = lit(s.input.width());
        Some(StreamStep {
            state: None,
            run: TokenStream::new(),
            output: s.call(quote!(k::activate::<T, #a, #n, 1>), quote!(*#x)),
        })
    }
}
