//! Activations: the `activation = ..` option of other layers, and the
//! activation layers (`Relu`, `Sigmoid`, `Tanh`, `Softmax`, `Relu6`,
//! `LeakyRelu(alpha = ..)`, `Elu(alpha = ..)`, `Gelu`, `Silu`,
//! `HardSigmoid`, `HardSwish`).
//!
//! `gelu`, `silu` and `hard_swish` have derivatives that are not functions
//! of their output ([`Act::needs_input`]): their layer's backward reads its
//! input from the tape, and a `Dense` or `Conv2d` with one fused in keeps
//! its pre-activation in the tape ([`pre_activation_field`]) and runs its
//! backward as the activation's from that, then its own linear one.
//!
//! Kernels: `runtime/src/kernels/elementwise.rs` (`activate`,
//! `activate_image` and their backward), the functions themselves in
//! `runtime/src/activation.rs`.

use super::args::{Args, Signature};
use super::int8::{Int8Form, Int8Tensor};
use super::{lit, BackIo, Kind, Layer, ShapeCx, Site, StreamStep, TapeField};
use crate::ast::Value;
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
    Relu6,
    /// The slope's `f64` bits.
    LeakyRelu(u64),
    /// `α`'s `f64` bits.
    Elu(u64),
    Gelu,
    Silu,
    HardSigmoid,
    HardSwish,
}

/// `leaky_relu`'s default slope (PyTorch's).
pub const LEAKY_RELU_ALPHA: f64 = 0.01;
/// `elu`'s default `α`.
pub const ELU_ALPHA: f64 = 1.0;

impl Act {
    /// The DSL's word for it (`activation = relu`).
    pub fn from_word(word: &str) -> Option<Act> {
        Some(match word {
            "linear" => Act::Linear,
            "relu" => Act::Relu,
            "sigmoid" => Act::Sigmoid,
            "tanh" => Act::Tanh,
            "softmax" => Act::Softmax,
            "relu6" => Act::Relu6,
            "leaky_relu" => Act::LeakyRelu(LEAKY_RELU_ALPHA.to_bits()),
            "elu" => Act::Elu(ELU_ALPHA.to_bits()),
            "gelu" => Act::Gelu,
            "silu" => Act::Silu,
            "hard_sigmoid" => Act::HardSigmoid,
            "hard_swish" => Act::HardSwish,
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
            Act::Relu6 => "Relu6",
            Act::LeakyRelu(_) => "LeakyRelu",
            Act::Elu(_) => "Elu",
            Act::Gelu => "Gelu",
            Act::Silu => "Silu",
            Act::HardSigmoid => "HardSigmoid",
            Act::HardSwish => "HardSwish",
        }
    }

    /// `a::Relu`, as generated code names it (`a` is the runtime's
    /// activation module); a slope travels as the bits of its `f64`,
    /// `a::LeakyRelu<{ ::core::primitive::f64::to_bits(0.01f64) }>`, a
    /// compile-time constant in the kernel (see the runtime's `LeakyRelu`).
    pub fn ty(self) -> TokenStream {
        let id = Ident::new(self.type_name(), Span::call_site());
        match self {
            Act::LeakyRelu(bits) | Act::Elu(bits) => {
                let v = proc_macro2::Literal::f64_suffixed(f64::from_bits(bits));
                quote!(a::#id<{ ::core::primitive::f64::to_bits(#v) }>)
            }
            _ => quote!(a::#id),
        }
    }

    /// Whether the derivative needs the activation's input, not only its
    /// output (the runtime's `Activation::NEEDS_INPUT`).
    pub fn needs_input(self) -> bool {
        matches!(self, Act::Gelu | Act::Silu | Act::HardSwish)
    }

    /// `act` unless `linear` asks for the logits.
    pub fn unless(self, linear: bool) -> Act {
        if linear {
            Act::Linear
        } else {
            self
        }
    }

    /// Whether it acts on each value alone (all but `softmax`, which needs
    /// the whole group): only those fuse after a per-channel affine
    /// ([`crate::plan::Plan::inference_fusions`]).
    pub fn is_elementwise(self) -> bool {
        self != Act::Softmax
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

/// The activation of the place `x` written into the place `out` (both of
/// shape `shape`): a statement.
pub fn apply_into(
    s: &Site,
    act: Act,
    shape: Shape,
    x: &TokenStream,
    out: &TokenStream,
) -> TokenStream {
    let a = act.ty();
    let call = match shape {
        Shape::Vector(n) => {
            let n = lit(n);
            s.call(
                quote!(k::activate_into::<T, #a, #n, 1>),
                quote!(&#x, &mut #out),
            )
        }
        Shape::Seq(t, f) => {
            let (t, f) = (lit(t), lit(f));
            s.call(
                quote!(k::activate_into::<T, #a, #f, #t>),
                quote!(&#x, &mut #out),
            )
        }
        Shape::Image(c, h, w) => {
            let [c, h, w] = [c, h, w].map(lit);
            s.call(
                quote!(k::activate_image_into::<T, #a, #c, #h, #w>),
                quote!(&#x, &mut #out),
            )
        }
    };
    quote!(#call;)
}

/// The activation applied to the place `x` in place: a statement.
pub fn apply_in_place(s: &Site, act: Act, shape: Shape, x: &TokenStream) -> TokenStream {
    let a = act.ty();
    let call = match shape {
        Shape::Vector(n) => {
            let n = lit(n);
            s.call(
                quote!(k::activate_in_place::<T, #a, #n, 1>),
                quote!(&mut #x),
            )
        }
        Shape::Seq(t, f) => {
            let (t, f) = (lit(t), lit(f));
            s.call(
                quote!(k::activate_in_place::<T, #a, #f, #t>),
                quote!(&mut #x),
            )
        }
        Shape::Image(c, h, w) => {
            let [c, h, w] = [c, h, w].map(lit);
            s.call(
                quote!(k::activate_image_in_place::<T, #a, #c, #h, #w>),
                quote!(&mut #x),
            )
        }
    };
    quote!(#call;)
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

/// dL/d(input) of an element-wise activation whose derivative needs its
/// input, from that input `x` and dL/d(output) `d`.
pub fn apply_backward_input(
    s: &Site,
    act: Act,
    shape: Shape,
    x: &TokenStream,
    d: &TokenStream,
) -> TokenStream {
    let a = act.ty();
    match shape {
        Shape::Vector(n) => {
            let n = lit(n);
            s.call(
                quote!(k::activate_backward_input::<T, #a, #n, 1>),
                quote!(&#x, &#d),
            )
        }
        Shape::Seq(t, f) => {
            let (t, f) = (lit(t), lit(f));
            s.call(
                quote!(k::activate_backward_input::<T, #a, #f, #t>),
                quote!(&#x, &#d),
            )
        }
        Shape::Image(c, h, w) => {
            let [c, h, w] = [c, h, w].map(lit);
            s.call(
                quote!(k::activate_image_backward_input::<T, #a, #c, #h, #w>),
                quote!(&#x, &#d),
            )
        }
    }
}

/// For a layer with `act` fused in: where its training forward keeps its
/// pre-activation, `tape.__<name>`, if `act` needs it for its derivative.
pub fn pre_activation_field(s: &Site, act: Act) -> Option<TokenStream> {
    act.needs_input().then(|| {
        let f = s.extra_field();
        quote!(tape.#f)
    })
}

/// The tape field of [`pre_activation_field`] (none if `act` needs none).
pub fn pre_activation_tape(s: &Site, act: Act) -> Vec<TapeField> {
    if !act.needs_input() {
        return Vec::new();
    }
    vec![TapeField {
        name: s.extra_field(),
        ty: crate::expand::tensor_type(s.output),
        doc: format!(
            "`{}`'s pre-activation {} (the derivative of `{}` needs it).",
            s.name,
            s.output,
            act.type_name()
        ),
    }]
}

/// The training forward of a layer whose fused `act` needs its
/// pre-activation: `write_linear(place)` (a statement storing the layer's
/// forward without its activation into `place`) into the tape, then the
/// activation of it into `tape.<name>`. `None` for other activations.
pub fn forward_train_keeping_input(
    s: &Site,
    act: Act,
    write_linear: impl FnOnce(&TokenStream) -> TokenStream,
) -> Option<TokenStream> {
    let pre = pre_activation_field(s, act)?;
    let name = &s.name;
    let linear = write_linear(&pre);
    let activate = apply_into(s, act, s.output, &pre, &quote!(tape.#name));
    Some(quote!(#linear #activate))
}

/// The gradient at the pre-activation of a layer whose fused `act` needs
/// it, from the gradient `grad` at its output: a block binding `__dz`
/// around `then` (the layer's linear backward reading `__dz`).
pub fn through_pre_activation(
    s: &Site,
    act: Act,
    grad: &TokenStream,
    then: TokenStream,
) -> TokenStream {
    let Some(pre) = pre_activation_field(s, act) else {
        return then;
    };
    let dz = apply_backward_input(s, act, s.output, &pre, grad);
    quote!({
        let __dz = #dz;
        #then
    })
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
pub const RELU6: Kind = kind("Relu6");
pub const LEAKY_RELU: Kind = Kind {
    name: "LeakyRelu",
    signature: Signature {
        positional: None,
        options: &["alpha"],
        example: "LeakyRelu(alpha = 0.01)",
    },
    resolve,
};
pub const ELU: Kind = Kind {
    name: "Elu",
    signature: Signature {
        positional: None,
        options: &["alpha"],
        example: "Elu(alpha = 1.0)",
    },
    resolve,
};
pub const GELU: Kind = kind("Gelu");
pub const SILU: Kind = kind("Silu");
pub const HARD_SIGMOID: Kind = kind("HardSigmoid");
pub const HARD_SWISH: Kind = kind("HardSwish");

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let act = match args.kind() {
        "Relu6" => Act::Relu6,
        "LeakyRelu" => Act::LeakyRelu(
            alpha(
                args,
                LEAKY_RELU_ALPHA,
                "a slope that flips the sign of negative inputs",
            )?
            .to_bits(),
        ),
        "Elu" => Act::Elu(alpha(args, ELU_ALPHA, "a negative `alpha`")?.to_bits()),
        "Gelu" => Act::Gelu,
        "Silu" => Act::Silu,
        "HardSigmoid" => Act::HardSigmoid,
        "HardSwish" => Act::HardSwish,
        other => Act::from_word(&other.to_lowercase())?,
    };
    Some(Box::new(Activation(act)))
}

/// `alpha = ..` of `LeakyRelu` or `Elu`, or `default`: a finite number
/// ≥ 0. (A negative one would make the sign of the output differ from the
/// input's, which the derivatives from the output rely on; Keras rejects
/// it too.) `what` says what a negative value would mean.
fn alpha(args: &Args, default: f64, what: &str) -> Option<f64> {
    let Some(v) = args.get("alpha") else {
        return Some(default);
    };
    let (name, kind) = (args.name(), args.kind());
    let example = format!("`{name}: {kind}(alpha = {default:?})`");
    let parsed = match v {
        Value::Float(f) => f.base10_parse::<f64>().ok(),
        Value::Int(i) => i.base10_parse::<f64>().ok(),
        Value::Other(ts) => {
            let text: String = ts.to_string().split_whitespace().collect();
            match text.strip_prefix('-').map(|t| t.parse::<f64>()) {
                Some(Ok(x)) if x != 0.0 => {
                    args.cx().error_spanned(
                        v,
                        format!(
                            "`alpha` of `{name}` must not be negative (found {text}; {what} is not supported); write a value ≥ 0, e.g. {example}"
                        ),
                    );
                    return None;
                }
                Some(Ok(_)) => Some(0.0),
                _ => None,
            }
        }
        _ => None,
    };
    match parsed {
        Some(x) if x < 0.0 => {
            args.cx().error_spanned(
                v,
                format!(
                    "`alpha` of `{name}` must not be negative (found {}; {what} is not supported); write a value ≥ 0, e.g. {example}",
                    super::args::show(v)
                ),
            );
            None
        }
        Some(x) if x.is_finite() => Some(x),
        Some(_) => {
            args.cx().error_spanned(
                v,
                format!(
                    "`alpha` of `{name}` must be a finite number, found {}; e.g. {example}",
                    super::args::show(v)
                ),
            );
            None
        }
        None => {
            args.cx().error_spanned(
                v,
                format!(
                    "`alpha` of `{name}` must be a number, found {}; write it without quotes or names, e.g. {example}",
                    super::args::show(v)
                ),
            );
            None
        }
    }
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

    fn forward_into(
        &self,
        s: &Site,
        _x: &TokenStream,
        x_val: &TokenStream,
        out: &TokenStream,
        linear: bool,
    ) -> Option<TokenStream> {
        if linear {
            return Some(quote!(#out = #x_val;));
        }
        Some(apply_into(s, self.0, s.output, x_val, out))
    }

    fn backward(&self, s: &Site, io: &BackIo, linear: bool) -> TokenStream {
        if linear {
            return io.grad.clone();
        }
        if self.0.needs_input() {
            // The input is in the tape already.
            return apply_backward_input(s, self.0, s.output, &io.input, &io.grad);
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

    fn int8_form(&self, s: &Site) -> Int8Form {
        match self.0 {
            // The clamp of the layer before it (checked against the file).
            Act::Relu | Act::Relu6 => Int8Form::Folded,
            Act::Softmax if matches!(s.input, Shape::Vector(_)) => Int8Form::Kernel,
            Act::Softmax => Int8Form::Unsupported(Some(format!(
                "an int8 Softmax takes a vector, not {} {}",
                s.input.what(),
                s.input
            ))),
            _ => Int8Form::Unsupported(None),
        }
    }

    fn int8_tensors(&self, _s: &Site) -> Vec<Int8Tensor> {
        if self.0 != Act::Softmax {
            return Vec::new();
        }
        ["input_multiplier", "input_left_shift", "diff_min"]
            .into_iter()
            .map(Int8Tensor::scalar)
            .collect()
    }

    fn int8_param_type(&self, _s: &Site) -> Option<TokenStream> {
        (self.0 == Act::Softmax).then(|| quote!(::staticnet::quant::QSoftmaxParams))
    }

    fn int8_param_value(&self, _s: &Site, t: &dyn Fn(&str) -> TokenStream) -> Option<TokenStream> {
        if self.0 != Act::Softmax {
            return None;
        }
        let [m, ls, d] = ["input_multiplier", "input_left_shift", "diff_min"].map(t);
        Some(quote!(q::QSoftmaxParams {
            input_multiplier: #m,
            input_left_shift: #ls,
            diff_min: #d,
        }))
    }

    fn int8_forward_into(
        &self,
        s: &Site,
        xs: &[TokenStream],
        out: &TokenStream,
        _t: &dyn Fn(&str) -> TokenStream,
    ) -> TokenStream {
        // Output fixed at scale 1/256, zero point -128 (TFLite's rule).
        let (p, x) = (s.params(), &xs[0]);
        let call = s.call(quote!(q::softmax_int8_into), quote!(&#p, #x, &mut #out));
        quote!(#call;)
    }
}
