//! `BatchNorm(eps = 1e-5, momentum = 0.1)`: per channel of an image, per
//! feature of a vector or of every step of a sequence, in evaluation mode
//! (PyTorch's `eval()`): `y = γ (x − running_mean)/√(running_var + ε) + β`.
//!
//! In the layer-major training forward (`Train::forward_train_layers`)
//! with batch statistics it normalises with the batch's mean and biased
//! variance over the N·S values of each channel, records them in the tape
//! (`tape.__<name>`, a `k::BatchNormStats`), back-propagates through them,
//! and `Train::update_running_stats` moves the running statistics (PyTorch's
//! `train()`); frozen, it is the evaluation mode above.
//!
//! Tensors: `weight` `[C]` (γ) and `bias` `[C]` (β), trainable; buffers
//! `running_mean` `[C]`, `running_var` `[C]` and `num_batches_tracked` `[]`
//! (I64), as PyTorch's `BatchNorm1d`/`BatchNorm2d` `state_dict`.
//! Kernels: `runtime/src/kernels/batchnorm.rs`.

use super::args::{Args, Signature};
use super::int8::Int8Form;
use super::{
    lit, BackIo, Kind, Layer, LayersBackward, ShapeCx, Site, StreamStep, TapeField, TensorDecl,
};
use crate::shape::Shape;
use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};
use std::any::Any;

pub struct BatchNorm {
    pub eps: f64,
    /// PyTorch's meaning (`running = (1 − momentum)·running +
    /// momentum·batch`), applied by `update_running_stats`.
    pub momentum: f64,
}

pub const KIND: Kind = Kind {
    name: "BatchNorm",
    signature: Signature {
        positional: None,
        options: &["eps", "momentum"],
        example: "BatchNorm(eps = 1e-5, momentum = 0.1)",
    },
    resolve,
};

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let name = args.name();
    let eps = match args.get("eps") {
        None => Some(1e-5),
        Some(v) => match args.number(v, "eps", "eps = 1e-5") {
            Some(e) if e > 0.0 => Some(e),
            Some(e) => {
                args.cx().error_spanned(
                    v,
                    format!(
                        "`eps` of `{name}` must be positive (it keeps √(running_var + eps) away from zero; PyTorch's default is 1e-5), found {e}"
                    ),
                );
                None
            }
            None => None,
        },
    };
    let momentum = match args.get("momentum") {
        None => Some(0.1),
        Some(v) => match args.number(v, "momentum", "momentum = 0.1") {
            Some(m) if (0.0..=1.0).contains(&m) => Some(m),
            Some(m) => {
                args.cx().error_spanned(
                    v,
                    format!(
                        "`momentum` of `{name}` must be between 0 and 1, found {m}; it has PyTorch's meaning, running = (1 − momentum)·running + momentum·batch (Keras' momentum 0.99 is 0.01 here)"
                    ),
                );
                None
            }
            None => None,
        },
    };
    Some(Box::new(BatchNorm {
        eps: eps?,
        momentum: momentum?,
    }))
}

impl BatchNorm {
    /// `<T as Float>::of_f64(eps)`.
    fn eps(&self) -> TokenStream {
        let e = Literal::f64_suffixed(self.eps);
        quote!(<T as ::staticnet::Float>::of_f64(#e))
    }

    /// `<T as Float>::of_f64(momentum)`.
    fn momentum(&self) -> TokenStream {
        let m = Literal::f64_suffixed(self.momentum);
        quote!(<T as ::staticnet::Float>::of_f64(#m))
    }

    /// The kernel and its generics for this input: `batchnorm::<T, C, S>`
    /// on a vector (S = 1) or sequence, `batchnorm_image::<T, C, H, W>` on
    /// an image; `suffix` picks the backward forms.
    fn kernel(&self, input: Shape, suffix: &str) -> TokenStream {
        match input {
            Shape::Vector(n) => {
                let f = quote::format_ident!("batchnorm{}", suffix);
                let n = lit(n);
                quote!(k::#f::<T, #n, 1>)
            }
            Shape::Seq(t, f) => {
                let k = quote::format_ident!("batchnorm{}", suffix);
                let (t, f) = (lit(t), lit(f));
                quote!(k::#k::<T, #f, #t>)
            }
            Shape::Image(c, h, w) => {
                let k = quote::format_ident!("batchnorm_image{}", suffix);
                let [c, h, w] = [c, h, w].map(lit);
                quote!(k::#k::<T, #c, #h, #w>)
            }
        }
    }
}

impl Layer for BatchNorm {
    fn kind(&self) -> &'static str {
        "BatchNorm"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        Some(at.input)
    }

    fn param_count(&self, input: Shape) -> u128 {
        2 * input.width() as u128
    }

    fn param_type(&self, s: &Site) -> Option<TokenStream> {
        let c = lit(s.input.width());
        Some(quote_spanned!(s.span=> ::staticnet::BatchNormParams<T, #c>))
    }

    fn param_block(&self) -> Option<TokenStream> {
        Some(quote!(::staticnet::BatchNormParams))
    }

    fn tensors(&self, s: &Site) -> Vec<TensorDecl> {
        let c = s.input.width();
        vec![
            TensorDecl {
                member: "weight",
                suffix: "weight",
                shape: vec![c],
            },
            TensorDecl {
                member: "bias",
                suffix: "bias",
                shape: vec![c],
            },
        ]
    }

    fn buffers(&self, s: &Site) -> Vec<TensorDecl> {
        let c = s.input.width();
        vec![
            TensorDecl {
                member: "running_mean",
                suffix: "running_mean",
                shape: vec![c],
            },
            TensorDecl {
                member: "running_var",
                suffix: "running_var",
                shape: vec![c],
            },
        ]
    }

    fn counters(&self) -> Vec<&'static str> {
        vec!["num_batches_tracked"]
    }

    fn init(&self, s: &Site) -> Option<TokenStream> {
        let p = s.params();
        Some(quote!(#p.init_keras(&mut rng);))
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        _linear: bool,
    ) -> TokenStream {
        let (p, eps) = (s.params(), self.eps());
        s.call(self.kernel(s.input, ""), quote!(&#p, #x, #eps))
    }

    fn forward_into(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        out: &TokenStream,
        _linear: bool,
    ) -> Option<TokenStream> {
        let (p, eps) = (s.params(), self.eps());
        let call = s.call(
            self.kernel(s.input, "_into"),
            quote!(&#p, #x, #eps, &mut #out),
        );
        Some(quote!(#call;))
    }

    fn has_params(&self) -> bool {
        true
    }

    fn inference_affine(&self, s: &Site) -> Option<TokenStream> {
        let (p, eps) = (s.params(), self.eps());
        let c = lit(s.input.width());
        Some(s.call(quote!(k::batchnorm_affine::<T, #c>), quote!(&#p, #eps)))
    }

    fn backward(&self, s: &Site, io: &BackIo, _linear: bool) -> TokenStream {
        let (p, g, eps) = (s.params(), s.grads(), self.eps());
        let BackIo { input, grad, .. } = io;
        s.call(
            self.kernel(s.input, "_backward"),
            quote!(&#p, &#input, &#grad, &mut #g, #eps),
        )
    }

    fn backward_params(&self, s: &Site, io: &BackIo, _linear: bool) -> Option<TokenStream> {
        let (p, g, eps) = (s.params(), s.grads(), self.eps());
        let BackIo { input, grad, .. } = io;
        Some(s.call(
            self.kernel(s.input, "_backward_params"),
            quote!(&#p, &#input, &#grad, &mut #g, #eps),
        ))
    }

    fn stream(&self, s: &Site, x: &TokenStream) -> Option<StreamStep> {
        let (p, eps) = (s.params(), self.eps());
        let c = lit(s.input.width());
        Some(StreamStep {
            state: None,
            run: TokenStream::new(),
            output: s.call(quote!(k::batchnorm::<T, #c, 1>), quote!(&#p, #x, #eps)),
        })
    }

    fn tape_fields(&self, s: &Site) -> Vec<TapeField> {
        let c = lit(s.input.width());
        vec![TapeField {
            name: s.extra_field(),
            ty: quote!(::staticnet::__private::kernels::BatchNormStats<T, #c>),
            doc: format!(
                "The statistics `{}` normalised with in the layer-major training forward.",
                s.name
            ),
        }]
    }

    fn forward_layers(&self, s: &Site, input: &TokenStream) -> Option<TokenStream> {
        let (p, eps, stats) = (s.params(), self.eps(), s.extra_field());
        let (name, c) = (&s.name, lit(s.input.width()));
        let refused = format!(
            "`{name}` (BatchNorm) with batch statistics needs more than one value per channel \
             (PyTorch: \"Expected more than 1 value per channel when training\"): train on \
             batches of 2 or more samples, or freeze it (Mode::FINE_TUNE)"
        );
        let batch_stats = s.call(
            quote!(k::batchnorm_batch_stats::<T, _, #c>),
            quote!(tapes.iter().map(|tape| &#input)),
        );
        let normalise = s.call(
            quote!(k::batchnorm_train_into),
            quote!(&#p, &stats, &#input, #eps, &mut tape.#name),
        );
        Some(quote! {
            let stats = if mode.batch_statistics() {
                match #batch_stats {
                    Some(stats) => stats,
                    None => return Err(::staticnet::TrainError::Config(#refused)),
                }
            } else {
                k::batchnorm_running_stats(&#p)
            };
            for tape in tapes.iter_mut() {
                #normalise;
                tape.#stats = stats.clone();
            }
        })
    }

    fn backward_layers(&self, s: &Site, io: &BackIo, _linear: bool) -> Option<LayersBackward> {
        let (p, g, eps, stats) = (s.params(), s.grads(), self.eps(), s.extra_field());
        let c = lit(s.input.width());
        let BackIo { input, grad, .. } = io;
        let sums = s.call(
            quote!(k::batchnorm_grad_sums::<T, _, #c>),
            quote!(
                tapes.iter().zip(scratch.iter()).map(|(tape, d)| (&tape.#stats, &#input, &#grad)),
                #eps
            ),
        );
        Some(LayersBackward {
            batch: quote! {
                let sums = #sums;
                k::batchnorm_train_backward_params(&sums, &mut #g);
            },
            each: s.call(
                quote!(k::batchnorm_train_backward),
                quote!(&#p, &tape.#stats, &sums, &#input, &#grad, #eps),
            ),
        })
    }

    fn update_running_stats(&self, s: &Site) -> Option<TokenStream> {
        let (name, stats, m) = (&s.name, s.extra_field(), self.momentum());
        let call = s.call(
            quote!(k::batchnorm_update_running),
            quote!(&mut self.#name, &tape.#stats, #m),
        );
        Some(quote!(#call;))
    }

    fn batch_dependent(&self) -> bool {
        true
    }

    fn int8_form(&self, _s: &Site) -> Int8Form {
        // The TFLite converter folds a BatchNorm into the convolution or
        // Dense before it; the int8 file holds the folded layer.
        Int8Form::Folded
    }
}
