//! `DepthwiseConv2d(kernel = k | (kh, kw), stride = .., padding = ..,
//! dilation = .., depth_multiplier = m, bias = .., activation = ..)` on an
//! image `[c, h, w]` → `[c·m, h', w']`: PyTorch's
//! `Conv2d(c, c·m, kernel, groups = c)`, Keras' `DepthwiseConv2D`.
//!
//! Tensors: `weight` `[c·m, 1, kh, kw]`, `bias` `[c·m]` unless
//! `bias = false`; output channel `o` is multiplier `o % m` of input
//! channel `o / m`. The parameter blocks are `Conv2d`'s (one input channel
//! per group). Kernels: `runtime/src/kernels/depthwise.rs`.

use super::args::{Args, Padding, Signature};
use super::int8::{self, Int8Form, Int8Tensor};
use super::{lit, Act, BackIo, Kind, Layer, ShapeCx, Site, TensorDecl};
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use std::any::Any;

pub struct DepthwiseConv2d {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: Padding,
    pub dilation: (usize, usize),
    pub multiplier: usize,
    pub bias: bool,
    pub act: Act,
    /// Zero rows on top and columns on the left (found with the shape).
    pad_top_left: (usize, usize),
}

pub const KIND: Kind = Kind {
    name: "DepthwiseConv2d",
    signature: Signature {
        positional: None,
        options: &[
            "kernel",
            "stride",
            "padding",
            "dilation",
            "depth_multiplier",
            "bias",
            "activation",
        ],
        example: "DepthwiseConv2d(kernel = 3, padding = same, activation = relu)",
    },
    resolve,
};

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let name = args.name();
    let kernel = args.required_pair(
        "kernel",
        format!(
            "`{name}` needs a kernel size: add `kernel = 3` (or `kernel = (3, 5)`), e.g. `{name}: {}`",
            KIND.signature.example
        ),
    );
    let stride = args
        .get("stride")
        .map_or(Some((1, 1)), |v| args.pair(v, "stride"));
    let padding = args
        .get("padding")
        .map_or(Some(Padding::Valid), |v| args.padding(v));
    let dilation = args
        .get("dilation")
        .map_or(Some((1, 1)), |v| args.pair(v, "dilation"));
    let multiplier = args
        .get("depth_multiplier")
        .map_or(Some(1), |v| args.size(v, "depth_multiplier"));
    let bias = args.bool_or("bias", true);
    let act = args.activation_or(Act::Linear);
    Some(Box::new(DepthwiseConv2d {
        kernel: kernel?,
        stride: stride?,
        padding: padding?,
        dilation: dilation?,
        multiplier: multiplier?,
        bias: bias?,
        act: act?,
        pad_top_left: (0, 0),
    }))
}

impl DepthwiseConv2d {
    /// `k::DepthwiseConv2d::<act, k::In<..>, k::Out<..>, k::Kernel<..>,
    /// k::Stride<..>, k::Pad<..>, k::Dilation<..>>`.
    fn kernels(&self, s: &Site, linear: bool) -> TokenStream {
        self.kernels_act(s, self.act.unless(linear))
    }

    /// [`DepthwiseConv2d::kernels`] with the activation `act` (a fused
    /// one).
    fn kernels_act(&self, s: &Site, act: Act) -> TokenStream {
        let (Shape::Image(c, h, w), Shape::Image(o, oh, ow)) = (s.input, s.output) else {
            return quote_spanned!(s.span=> ::core::compile_error!("staticnet: internal error: DepthwiseConv2d off an image"));
        };
        let a = act.ty();
        let ((kh, kw), (sh, sw), (pt, pl), (dh, dw)) =
            (self.kernel, self.stride, self.pad_top_left, self.dilation);
        let [c, h, w, o, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw] =
            [c, h, w, o, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw].map(lit);
        quote! {
            k::DepthwiseConv2d::<#a, k::In<#c, #h, #w>, k::Out<#o, #oh, #ow>, k::Kernel<#kh, #kw>, k::Stride<#sh, #sw>, k::Pad<#pt, #pl>, k::Dilation<#dh, #dw>>
        }
    }
}

impl Layer for DepthwiseConv2d {
    fn kind(&self) -> &'static str {
        "DepthwiseConv2d"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        let Shape::Image(c, ..) = at.input else {
            super::conv2d::needs_image(at, "DepthwiseConv2d");
            return None;
        };
        let ((oh, ow), pad) =
            super::conv2d::geometry(at, self.kernel, self.stride, self.padding, self.dilation)?;
        self.pad_top_left = pad;
        // c <= MAX_LEN, m <= MAX_SIZE: no overflow in u64; the plan checks
        // the output's size.
        let o = usize::try_from(c as u64 * self.multiplier as u64).unwrap_or(usize::MAX);
        Some(Shape::Image(o, oh, ow))
    }

    fn param_count(&self, input: Shape) -> u128 {
        let Shape::Image(c, ..) = input else { return 0 };
        let (kh, kw) = self.kernel;
        (kh as u128 * kw as u128 + u128::from(self.bias)) * c as u128 * self.multiplier as u128
    }

    fn param_type(&self, s: &Site) -> Option<TokenStream> {
        let Shape::Image(o, ..) = s.output else {
            return None;
        };
        let (o, k) = (lit(o), lit(self.kernel.0 * self.kernel.1));
        Some(if self.bias {
            quote_spanned!(s.span=> ::staticnet::Conv2dParams<T, #o, #k>)
        } else {
            quote_spanned!(s.span=> ::staticnet::Conv2dNoBiasParams<T, #o, #k>)
        })
    }

    fn param_block(&self) -> Option<TokenStream> {
        Some(if self.bias {
            quote!(::staticnet::Conv2dParams)
        } else {
            quote!(::staticnet::Conv2dNoBiasParams)
        })
    }

    fn tensors(&self, s: &Site) -> Vec<TensorDecl> {
        let Shape::Image(o, ..) = s.output else {
            return Vec::new();
        };
        let (kh, kw) = self.kernel;
        let mut tensors = vec![TensorDecl {
            member: "weight",
            suffix: "weight",
            shape: vec![o, 1, kh, kw],
        }];
        if self.bias {
            tensors.push(TensorDecl {
                member: "bias",
                suffix: "bias",
                shape: vec![o],
            });
        }
        tensors
    }

    /// Keras' `DepthwiseConv2D`: glorot-uniform over its kernel
    /// `[kh, kw, c, m]`, fan-in `kh·kw·c`, fan-out `kh·kw·m`; zero bias.
    fn init(&self, s: &Site) -> Option<TokenStream> {
        let Shape::Image(c, ..) = s.input else {
            return None;
        };
        let p = s.params();
        let window = self.kernel.0 * self.kernel.1;
        let (fan_in, fan_out) = (lit(window * c), lit(window * self.multiplier));
        Some(quote!(#p.init_glorot(&mut rng, #fan_in, #fan_out);))
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
        let kernels = self.kernels(s, linear);
        let p = s.params();
        s.call(quote!(#kernels::forward), quote!(&#p, #x))
    }

    fn forward_into(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        out: &TokenStream,
        linear: bool,
    ) -> Option<TokenStream> {
        let kernels = self.kernels(s, linear);
        let p = s.params();
        let call = s.call(quote!(#kernels::forward_into), quote!(&#p, #x, &mut #out));
        Some(quote!(#call;))
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
        let kernels = self.kernels_act(s, act);
        let p = s.params();
        s.call(quote!(#kernels::forward_affine), quote!(&#p, #x, &#affine))
    }

    fn has_params(&self) -> bool {
        true
    }

    fn backward(&self, s: &Site, io: &BackIo, linear: bool) -> TokenStream {
        let kernels = self.kernels(s, linear);
        let (p, gr) = (s.params(), s.grads());
        let BackIo {
            input,
            output,
            grad,
        } = io;
        s.call(
            quote!(#kernels::backward),
            quote!(&#p, &#input, &#output, &#grad, &mut #gr),
        )
    }

    fn backward_params(&self, s: &Site, io: &BackIo, linear: bool) -> Option<TokenStream> {
        let kernels = self.kernels(s, linear);
        let gr = s.grads();
        let BackIo {
            input,
            output,
            grad,
        } = io;
        Some(s.call(
            quote!(#kernels::backward_params),
            quote!(&#input, &#output, &#grad, &mut #gr),
        ))
    }

    fn int8_form(&self, _s: &Site) -> Int8Form {
        // `bias = false` is fine: the int8 layer always has one.
        if self.dilation != (1, 1) {
            return Int8Form::Unsupported(Some(
                "TFLite's int8 DepthwiseConv2d has no dilation: remove `dilation`".into(),
            ));
        }
        match int8::unfusable("DepthwiseConv2d", self.act) {
            Some(why) => Int8Form::Unsupported(Some(why)),
            None => Int8Form::Kernel,
        }
    }

    fn int8_tensors(&self, s: &Site) -> Vec<Int8Tensor> {
        let Shape::Image(o, ..) = s.output else {
            return Vec::new();
        };
        let (kh, kw) = self.kernel;
        let mut t = int8::weighted_tensors(vec![o, 1, kh, kw]);
        t.push(Int8Tensor::geometry("kernel", self.kernel));
        t.push(Int8Tensor::geometry("stride", self.stride));
        t.push(Int8Tensor::geometry("pad", self.pad_top_left));
        t
    }

    fn int8_param_type(&self, s: &Site) -> Option<TokenStream> {
        let Shape::Image(o, ..) = s.output else {
            return None;
        };
        let (o, k) = (lit(o), lit(self.kernel.0 * self.kernel.1));
        Some(quote_spanned!(s.span=> ::staticnet::quant::QDepthwiseParams<#o, #k>))
    }

    fn int8_param_value(&self, _s: &Site, t: &dyn Fn(&str) -> TokenStream) -> Option<TokenStream> {
        Some(int8::weighted_value(quote!(q::QDepthwiseParams), t))
    }

    fn int8_forward_into(
        &self,
        s: &Site,
        xs: &[TokenStream],
        out: &TokenStream,
        _t: &dyn Fn(&str) -> TokenStream,
    ) -> TokenStream {
        let g = int8::geometry_types(self.kernel, self.stride, self.pad_top_left);
        let (p, x) = (s.params(), &xs[0]);
        let call = s.call(
            quote!(q::DepthwiseConv2dInt8::<#g>::forward_into),
            quote!(&#p, #x, &mut #out),
        );
        quote!(#call;)
    }
}
