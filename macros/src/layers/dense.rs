//! `Dense(units, activation = ..)`: `y = act(W x + b)` on a vector, or on
//! every step of a sequence (`[t, f]` → `[t, units]`).
//!
//! Tensors: `weight` `[units, in]`, `bias` `[units]` (PyTorch's `Linear`);
//! `bias = false` has no `bias` (its block is `DenseNoBiasParams`, its
//! kernels the `dense_no_bias*` ones, and it has no batched form).
//! Kernels: `runtime/src/kernels/dense.rs` (one sample, per step of a
//! sequence) and `runtime/src/kernels/dense_batch.rs` (K samples at once,
//! the batched training path).

use super::activation::{
    forward_train_keeping_input, pre_activation_field, pre_activation_tape, through_pre_activation,
};
use super::args::{Args, Signature};
use super::int8::{self, Int8Form, Int8Tensor};
use super::{
    lit, Act, BackIo, BatchIo, Kind, Layer, ShapeCx, Site, StreamStep, TapeField, TensorDecl,
};
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use std::any::Any;

pub struct Dense {
    pub units: usize,
    pub act: Act,
    pub bias: bool,
}

pub const KIND: Kind = Kind {
    name: "Dense",
    signature: Signature {
        positional: Some(("units", "the number of units")),
        options: &["activation", "bias"],
        example: "Dense(64, activation = relu)",
    },
    resolve,
};

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let units = args.positional_size();
    let act = args.activation_or(Act::Linear);
    let bias = args.bool_or("bias", true);
    Some(Box::new(Dense {
        units: units?,
        act: act?,
        bias: bias?,
    }))
}

impl Dense {
    /// The sizes of the kernels' generics: `(in, out)`.
    fn sizes(&self, s: &Site) -> (proc_macro2::Literal, proc_macro2::Literal) {
        (lit(s.input.width()), lit(self.units))
    }

    /// The kernel `k::<name>` for a layer with a bias, `k::<no_bias>`
    /// without one.
    fn kernel(&self, name: &str, no_bias: &str) -> TokenStream {
        let f = proc_macro2::Ident::new(
            if self.bias { name } else { no_bias },
            proc_macro2::Span::call_site(),
        );
        quote!(k::#f)
    }
}

impl Layer for Dense {
    fn kind(&self) -> &'static str {
        "Dense"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        match at.input {
            Shape::Vector(_) => Some(Shape::Vector(self.units)),
            Shape::Seq(t, _) => Some(Shape::Seq(t, self.units)),
            Shape::Image(..) => {
                let name = &at.decl.name;
                at.cx.error_spanned(
                    &at.decl.kind,
                    format!(
                        "`Dense` needs a vector, but {}; add `flat: Flatten` before `{name}`",
                        at.from()
                    ),
                );
                None
            }
        }
    }

    fn param_count(&self, input: Shape) -> u128 {
        (input.width() as u128 + u128::from(self.bias)) * self.units as u128
    }

    fn param_type(&self, s: &Site) -> Option<TokenStream> {
        let (i, o) = self.sizes(s);
        if !self.bias {
            return Some(quote_spanned!(s.span=> ::staticnet::DenseNoBiasParams<T, #i, #o>));
        }
        Some(quote_spanned!(s.span=> ::staticnet::DenseParams<T, #i, #o>))
    }

    fn param_block(&self) -> Option<TokenStream> {
        if !self.bias {
            return Some(quote!(::staticnet::DenseNoBiasParams));
        }
        Some(quote!(::staticnet::DenseParams))
    }

    fn tensors(&self, s: &Site) -> Vec<TensorDecl> {
        let mut tensors = vec![TensorDecl {
            member: "weight",
            suffix: "weight",
            shape: vec![self.units, s.input.width()],
        }];
        if self.bias {
            tensors.push(TensorDecl {
                member: "bias",
                suffix: "bias",
                shape: vec![self.units],
            });
        }
        tensors
    }

    fn init(&self, s: &Site) -> Option<TokenStream> {
        let p = s.params();
        Some(quote!(#p.init_keras(&mut rng);))
    }

    fn activation(&self) -> Act {
        self.act
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        linear: bool,
    ) -> TokenStream {
        let a = self.act.unless(linear).ty();
        let (i, o) = self.sizes(s);
        let p = s.params();
        match s.input {
            Shape::Seq(t, _) => {
                let t = lit(t);
                s.call(
                    {
                        let f = self.kernel("dense_seq", "dense_no_bias_seq");
                        quote!(#f::<T, #a, #i, #o, #t>)
                    },
                    quote!(&#p, #x),
                )
            }
            _ => s.call(
                {
                    let f = self.kernel("dense", "dense_no_bias");
                    quote!(#f::<T, #a, #i, #o>)
                },
                quote!(&#p, #x),
            ),
        }
    }

    fn forward_into(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        out: &TokenStream,
        linear: bool,
    ) -> Option<TokenStream> {
        let a = self.act.unless(linear).ty();
        let (i, o) = self.sizes(s);
        let p = s.params();
        let call = match s.input {
            Shape::Seq(t, _) => {
                let t = lit(t);
                let f = self.kernel("dense_seq_into", "dense_no_bias_seq_into");
                s.call(quote!(#f::<T, #a, #i, #o, #t>), quote!(&#p, #x, &mut #out))
            }
            _ => {
                let f = self.kernel("dense_into", "dense_no_bias_into");
                s.call(quote!(#f::<T, #a, #i, #o>), quote!(&#p, #x, &mut #out))
            }
        };
        Some(quote!(#call;))
    }

    fn has_params(&self) -> bool {
        true
    }

    fn absorbs_affine(&self) -> bool {
        self.act == Act::Linear
    }

    fn forward_affine(
        &self,
        s: &Site,
        x: &TokenStream,
        affine: &TokenStream,
        act: Act,
    ) -> TokenStream {
        let a = act.ty();
        let (i, o) = self.sizes(s);
        let p = s.params();
        let callee = match s.input {
            Shape::Seq(t, _) => {
                let (f, t) = (
                    self.kernel("dense_seq_affine", "dense_no_bias_seq_affine"),
                    lit(t),
                );
                quote!(#f::<T, #a, #i, #o, #t>)
            }
            _ => {
                let f = self.kernel("dense_affine", "dense_no_bias_affine");
                quote!(#f::<T, #a, #i, #o>)
            }
        };
        s.call(callee, quote!(&#p, #x, &#affine))
    }

    fn stream_affine(
        &self,
        s: &Site,
        x: &TokenStream,
        affine: &TokenStream,
        act: Act,
    ) -> Option<StreamStep> {
        let a = act.ty();
        let (i, o) = self.sizes(s);
        let p = s.params();
        let f = self.kernel("dense_affine", "dense_no_bias_affine");
        Some(StreamStep {
            state: None,
            run: TokenStream::new(),
            output: s.call(quote!(#f::<T, #a, #i, #o>), quote!(&#p, #x, &#affine)),
        })
    }

    fn tape_fields(&self, s: &Site) -> Vec<TapeField> {
        pre_activation_tape(s, self.act)
    }

    fn pre_activation(&self, s: &Site) -> Option<TokenStream> {
        pre_activation_field(s, self.act)
    }

    fn forward_train(&self, s: &Site, input: &TokenStream) -> TokenStream {
        let x = quote!(&#input);
        forward_train_keeping_input(s, self.act, |pre| {
            self.write_forward(s, &x, input, pre, true)
        })
        .unwrap_or_else(|| {
            let name = &s.name;
            self.write_forward(s, &x, input, &quote!(tape.#name), false)
        })
    }

    fn backward(&self, s: &Site, io: &BackIo, linear: bool) -> TokenStream {
        if self.act.needs_input() && !linear {
            // The activation's backward from the kept pre-activation, then
            // the linear layer's from its gradient `__dz`.
            let dz = BackIo {
                input: io.input.clone(),
                output: io.output.clone(),
                grad: quote!(__dz),
            };
            let then = self.backward(s, &dz, true);
            return through_pre_activation(s, self.act, &io.grad, then);
        }
        let a = self.act.unless(linear).ty();
        let (i, o) = self.sizes(s);
        let (p, g) = (s.params(), s.grads());
        let BackIo {
            input,
            output,
            grad,
        } = io;
        match s.input {
            Shape::Seq(t, _) => {
                let t = lit(t);
                s.call(
                    {
                        let f = self.kernel("dense_seq_backward", "dense_no_bias_seq_backward");
                        quote!(#f::<T, #a, #i, #o, #t>)
                    },
                    quote!(&#p, &#input, &#output, &#grad, &mut #g),
                )
            }
            _ => s.call(
                {
                    let f = self.kernel("dense_backward", "dense_no_bias_backward");
                    quote!(#f::<T, #a, #i, #o>)
                },
                quote!(&#p, &#input, &#output, &#grad, &mut #g),
            ),
        }
    }

    fn backward_params(&self, s: &Site, io: &BackIo, linear: bool) -> Option<TokenStream> {
        if self.act.needs_input() && !linear {
            let dz = BackIo {
                input: io.input.clone(),
                output: io.output.clone(),
                grad: quote!(__dz),
            };
            let then = self.backward_params(s, &dz, true)?;
            return Some(through_pre_activation(s, self.act, &io.grad, then));
        }
        let a = self.act.unless(linear).ty();
        let (i, o) = self.sizes(s);
        let g = s.grads();
        let BackIo {
            input,
            output,
            grad,
        } = io;
        Some(match s.input {
            Shape::Seq(t, _) => {
                let t = lit(t);
                s.call(
                    {
                        let f = self.kernel(
                            "dense_seq_backward_params",
                            "dense_no_bias_seq_backward_params",
                        );
                        quote!(#f::<T, #a, #i, #o, #t>)
                    },
                    quote!(&#input, &#output, &#grad, &mut #g),
                )
            }
            _ => s.call(
                {
                    let f = self.kernel("dense_backward_params", "dense_no_bias_backward_params");
                    quote!(#f::<T, #a, #i, #o>)
                },
                quote!(&#input, &#output, &#grad, &mut #g),
            ),
        })
    }

    fn forward_batch(&self, s: &Site, xs: &TokenStream, linear: bool) -> Option<TokenStream> {
        // An activation that keeps its pre-activation runs sample by
        // sample (the batched forms record only the output); so does a
        // bias-free Dense (the batched kernels add a bias).
        if !matches!(s.input, Shape::Vector(_)) || !self.bias || self.act.needs_input() {
            return None;
        }
        let a = self.act.unless(linear).ty();
        let (i, o) = self.sizes(s);
        let p = s.params();
        Some(s.call(quote!(k::dense_batch::<T, #a, #i, #o, K>), quote!(&#p, #xs)))
    }

    fn backward_batch(
        &self,
        s: &Site,
        io: &BatchIo,
        linear: bool,
        params_only: bool,
    ) -> Option<TokenStream> {
        if !matches!(s.input, Shape::Vector(_)) || !self.bias || self.act.needs_input() {
            return None;
        }
        let a = self.act.unless(linear).ty();
        let (i, o) = self.sizes(s);
        let (p, g) = (s.params(), s.grads());
        let BackIo {
            input,
            output,
            grad,
        } = io;
        Some(if params_only {
            s.call(
                quote!(k::dense_backward_batch_params::<T, #a, #i, #o, K>),
                quote!(#input, #output, &#grad, &mut #g),
            )
        } else {
            s.call(
                quote!(k::dense_backward_batch::<T, #a, #i, #o, K>),
                quote!(&#p, #input, #output, &#grad, &mut #g),
            )
        })
    }

    fn stream(&self, s: &Site, x: &TokenStream) -> Option<StreamStep> {
        let a = self.act.ty();
        let (i, o) = self.sizes(s);
        let p = s.params();
        Some(StreamStep {
            state: None,
            run: TokenStream::new(),
            output: s.call(
                {
                    let f = self.kernel("dense", "dense_no_bias");
                    quote!(#f::<T, #a, #i, #o>)
                },
                quote!(&#p, #x),
            ),
        })
    }

    fn int8_form(&self, s: &Site) -> Int8Form {
        if !matches!(s.input, Shape::Vector(_)) {
            return Int8Form::Unsupported(Some(format!(
                "an int8 Dense takes a vector, not {} {}",
                s.input.what(),
                s.input
            )));
        }
        // `bias = false` is fine: the int8 layer always has one.
        match int8::unfusable("Dense", self.act) {
            Some(why) => Int8Form::Unsupported(Some(why)),
            None => Int8Form::Kernel,
        }
    }

    fn int8_tensors(&self, s: &Site) -> Vec<Int8Tensor> {
        int8::weighted_tensors(vec![self.units, s.input.width()])
    }

    fn int8_param_type(&self, s: &Site) -> Option<TokenStream> {
        let (i, o) = self.sizes(s);
        Some(quote_spanned!(s.span=> ::staticnet::quant::QDenseParams<#o, #i>))
    }

    fn int8_param_value(&self, _s: &Site, t: &dyn Fn(&str) -> TokenStream) -> Option<TokenStream> {
        Some(int8::weighted_value(quote!(q::QDenseParams), t))
    }

    fn int8_forward_into(
        &self,
        s: &Site,
        xs: &[TokenStream],
        out: &TokenStream,
        _t: &dyn Fn(&str) -> TokenStream,
    ) -> TokenStream {
        // TFLite Micro and desktop TFLite requantize `FULLY_CONNECTED`
        // differently (see `q::Interpreter`).
        let (p, x) = (s.params(), &xs[0]);
        let call = s.call(
            quote!(q::dense_int8_as_into),
            quote!(&#p, #x, &mut #out, interpreter),
        );
        quote!(#call;)
    }
}
