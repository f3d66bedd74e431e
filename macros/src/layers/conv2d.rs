//! `Conv2d(filters, kernel = k | (kh, kw), stride = .., padding = ..,
//! dilation = .., groups = .., bias = .., activation = ..)` on an image
//! `[c, h, w]` → `[filters, h', w']`.
//!
//! Tensors: `weight` `[filters, c/groups, kh, kw]`, `bias` `[filters]`
//! unless `bias = false` (PyTorch's `Conv2d`). `padding = same` follows
//! TensorFlow: the odd extra row and column go after. Kernels:
//! `runtime/src/kernels/conv.rs` (`Conv2d` for the defaults, so every model
//! written before `dilation`, `groups` and `bias` existed expands as it did;
//! `Conv2dGrouped` when one of them differs).

use super::activation::{
    forward_train_keeping_input, pre_activation_field, pre_activation_tape, through_pre_activation,
};
use super::args::{Args, Padding, Signature};
use super::int8::{self, Int8Form, Int8Tensor};
use super::{lit, Act, BackIo, Kind, Layer, ShapeCx, Site, TapeField, TensorDecl};
use crate::shape::Shape;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use std::any::Any;

pub struct Conv2d {
    pub filters: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: Padding,
    pub dilation: (usize, usize),
    pub groups: usize,
    pub bias: bool,
    pub act: Act,
    /// Zero rows on top and columns on the left (found with the shape).
    pad_top_left: (usize, usize),
}

pub const KIND: Kind = Kind {
    name: "Conv2d",
    signature: Signature {
        positional: Some(("filters", "the number of filters")),
        options: &[
            "kernel",
            "stride",
            "padding",
            "activation",
            "dilation",
            "groups",
            "bias",
        ],
        example: "Conv2d(32, kernel = 3, activation = relu)",
    },
    resolve,
};

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let name = args.name();
    let filters = args.positional_size();
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
    let groups = args
        .get("groups")
        .map_or(Some(1), |v| args.size(v, "groups"));
    let bias = args.bool_or("bias", true);
    let act = args.activation_or(Act::Linear);
    Some(Box::new(Conv2d {
        filters: filters?,
        kernel: kernel?,
        stride: stride?,
        padding: padding?,
        dilation: dilation?,
        groups: groups?,
        bias: bias?,
        act: act?,
        pad_top_left: (0, 0),
    }))
}

/// The output size and top/left padding of a (dilated) convolution over
/// the image `at.input`, or the error for a kernel that does not fit:
/// shared by `Conv2d` and `DepthwiseConv2d`. A dilated kernel spans
/// `(k − 1)·d + 1` rows/columns, and `same` pads for that span (as
/// TensorFlow does).
pub fn geometry(
    at: &ShapeCx,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
    dilation: (usize, usize),
) -> Option<((usize, usize), (usize, usize))> {
    let Shape::Image(_, h, w) = at.input else {
        return None;
    };
    let name = &at.decl.name;
    let from = at.from();
    let ((kh, kw), (sh, sw), (dh, dw)) = (kernel, stride, dilation);
    // k, d <= MAX_SIZE = 2^20: the span fits in a u64 on any host; on a
    // 32-bit one it may not fit a usize, and then cannot fit any input.
    let span = |k: usize, d: usize| usize::try_from((k as u64 - 1) * d as u64 + 1).ok();
    let (Some(eh), Some(ew)) = (span(kh, dh), span(kw, dw)) else {
        at.cx.error_spanned(
            at.value_of("dilation"),
            format!("the dilation of `{name}` spreads its kernel far beyond its input: {from}; use a smaller `dilation`"),
        );
        return None;
    };
    let (pt, pb, pl, pr) = match padding {
        Padding::Valid => (0, 0, 0, 0),
        Padding::Explicit(ph, pw) => (ph, ph, pw, pw),
        Padding::Same => {
            let (t, b) = same_padding(h, eh, sh);
            let (l, r) = same_padding(w, ew, sw);
            (t, b, l, r)
        }
    };
    // h, w <= MAX_LEN and each pad <= MAX_SIZE: no overflow.
    let (ph, pw) = (h + pt + pb, w + pl + pr);
    if eh > ph || ew > pw {
        let msg = if dilation != (1, 1) {
            let padded = if padding == Padding::Valid {
                String::new()
            } else {
                format!(", padded to {ph}×{pw}")
            };
            format!(
                "with `dilation = {}` the {kh}×{kw} kernel of `{name}` spans {eh}×{ew}, larger than its input: {from}{padded}; use a smaller `dilation` or kernel, or pad the input with `padding = same`",
                super::arg_value(at.decl, "dilation").map_or_else(String::new, super::args::show)
            )
        } else if padding == Padding::Valid {
            format!(
                "the {kh}×{kw} kernel of `{name}` is larger than its input: {from}, so at most {h}×{w} fits; use a smaller kernel, or pad the input with `padding = same`"
            )
        } else {
            format!(
                "the {kh}×{kw} kernel of `{name}` is larger than its padded input: {from}, padded to {ph}×{pw} by `padding = {}`; use a kernel of at most {ph}×{pw}, more padding, or `padding = same`",
                super::arg_value(at.decl, "padding").map_or_else(String::new, super::args::show)
            )
        };
        let at_value = if dilation != (1, 1) {
            at.value_of("dilation")
        } else {
            at.value_of("kernel")
        };
        at.cx
            .error_spanned(at_value, msg + &at.channels_last_hint());
        return None;
    }
    Some((((ph - eh) / sh + 1, (pw - ew) / sw + 1), (pt, pl)))
}

/// TensorFlow's `same`: output `ceil(n / s)`, the odd extra padding at the
/// end (bottom/right). Returns (before, after).
pub fn same_padding(n: usize, k: usize, s: usize) -> (usize, usize) {
    let out = n.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// A kernel or pooling layer that needs an image was given something else:
/// the error, with a hint of what to move.
pub fn needs_image(at: &ShapeCx, kind: &str) {
    let name = &at.decl.name;
    let hint = match at.prev {
        None => " declare the input as `[channels, height, width]`".to_string(),
        Some(p) if at.prev_is::<super::flatten::Flatten>().is_some() => {
            format!(" move `{name}` before `{}`", p.decl.name)
        }
        Some(_) => format!(
            " convolution and pooling layers go before `Flatten` and `Dense`; move `{name}` up"
        ),
    };
    at.cx.error_spanned(
        &at.decl.kind,
        format!(
            "`{kind}` needs an image [channels, height, width], but {} ({});{hint}",
            at.from(),
            at.input.what()
        ),
    );
}

impl Conv2d {
    /// `k::Conv2d::<act, k::In<..>, k::Out<..>, k::Kernel<..>, k::Stride<..>,
    /// k::Pad<..>>`: the layer's kernels, each size named (see
    /// `runtime/src/kernels/geometry.rs`).
    fn kernels(&self, s: &Site, linear: bool) -> TokenStream {
        self.kernels_act(s, self.act.unless(linear))
    }

    /// [`Conv2d::kernels`] with the activation `act` (a fused one).
    fn kernels_act(&self, s: &Site, act: Act) -> TokenStream {
        let (Shape::Image(c, h, w), Shape::Image(o, oh, ow)) = (s.input, s.output) else {
            return quote_spanned!(s.span=> ::core::compile_error!("staticnet: internal error: Conv2d off an image"));
        };
        let a = act.ty();
        let ((kh, kw), (sh, sw), (pt, pl)) = (self.kernel, self.stride, self.pad_top_left);
        let [c, h, w, o, oh, ow, kh, kw, sh, sw, pt, pl] =
            [c, h, w, o, oh, ow, kh, kw, sh, sw, pt, pl].map(lit);
        if self.is_default() {
            return quote! {
                k::Conv2d::<#a, k::In<#c, #h, #w>, k::Out<#o, #oh, #ow>, k::Kernel<#kh, #kw>, k::Stride<#sh, #sw>, k::Pad<#pt, #pl>>
            };
        }
        let [dh, dw, g] = [self.dilation.0, self.dilation.1, self.groups].map(lit);
        quote! {
            k::Conv2dGrouped::<#a, k::In<#c, #h, #w>, k::Out<#o, #oh, #ow>, k::Kernel<#kh, #kw>, k::Stride<#sh, #sw>, k::Pad<#pt, #pl>, k::Dilation<#dh, #dw>, k::Groups<#g>>
        }
    }

    /// No dilation, no groups and a bias: the layer as it was before those
    /// options, with its original kernels and parameter block.
    fn is_default(&self) -> bool {
        self.dilation == (1, 1) && self.groups == 1 && self.bias
    }

    /// Weights per filter: `c/groups · kh · kw`.
    fn per_filter(&self, c: usize) -> usize {
        c / self.groups * self.kernel.0 * self.kernel.1
    }
}

impl Layer for Conv2d {
    fn kind(&self) -> &'static str {
        "Conv2d"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        let Shape::Image(c, ..) = at.input else {
            needs_image(at, "Conv2d");
            return None;
        };
        let g = self.groups;
        let groups_ok = c.is_multiple_of(g) && self.filters.is_multiple_of(g);
        if !groups_ok {
            let name = &at.decl.name;
            let (f, common) = (self.filters, gcd(c, self.filters));
            let hint = if common > 1 {
                format!("use a divisor of both, at most {common}")
            } else {
                "they have no common divisor but 1: remove `groups`".to_string()
            };
            at.cx.error_spanned(
                at.value_of("groups"),
                format!(
                    "`groups = {g}` of `{name}` must divide both its {c} input channels ({}) and its {f} filters; {hint}",
                    at.from()
                ),
            );
        }
        let geometry = geometry(at, self.kernel, self.stride, self.padding, self.dilation);
        let ((oh, ow), pad) = geometry.filter(|_| groups_ok)?;
        self.pad_top_left = pad;
        Some(Shape::Image(self.filters, oh, ow))
    }

    fn param_count(&self, input: Shape) -> u128 {
        let Shape::Image(c, ..) = input else { return 0 };
        let (kh, kw) = self.kernel;
        let per_filter = (c / self.groups) as u128 * kh as u128 * kw as u128;
        (per_filter + u128::from(self.bias)) * self.filters as u128
    }

    fn param_type(&self, s: &Site) -> Option<TokenStream> {
        let Shape::Image(c, ..) = s.input else {
            return None;
        };
        let (o, k) = (lit(self.filters), lit(self.per_filter(c)));
        if !self.bias {
            return Some(quote_spanned!(s.span=> ::staticnet::Conv2dNoBiasParams<T, #o, #k>));
        }
        Some(quote_spanned!(s.span=> ::staticnet::Conv2dParams<T, #o, #k>))
    }

    fn param_block(&self) -> Option<TokenStream> {
        if !self.bias {
            return Some(quote!(::staticnet::Conv2dNoBiasParams));
        }
        Some(quote!(::staticnet::Conv2dParams))
    }

    fn tensors(&self, s: &Site) -> Vec<TensorDecl> {
        let Shape::Image(c, ..) = s.input else {
            return Vec::new();
        };
        let (kh, kw) = self.kernel;
        let mut tensors = vec![TensorDecl {
            member: "weight",
            suffix: "weight",
            shape: vec![self.filters, c / self.groups, kh, kw],
        }];
        if self.bias {
            tensors.push(TensorDecl {
                member: "bias",
                suffix: "bias",
                shape: vec![self.filters],
            });
        }
        tensors
    }

    fn init(&self, s: &Site) -> Option<TokenStream> {
        let p = s.params();
        let window = lit(self.kernel.0 * self.kernel.1);
        Some(quote!(#p.init_keras(&mut rng, #window);))
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
            // the linear convolution's from its gradient `__dz`.
            let dz = BackIo {
                input: io.input.clone(),
                output: io.output.clone(),
                grad: quote!(__dz),
            };
            let then = self.backward(s, &dz, true);
            return through_pre_activation(s, self.act, &io.grad, then);
        }
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
        if self.act.needs_input() && !linear {
            let dz = BackIo {
                input: io.input.clone(),
                output: io.output.clone(),
                grad: quote!(__dz),
            };
            let then = self.backward_params(s, &dz, true)?;
            return Some(through_pre_activation(s, self.act, &io.grad, then));
        }
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

    fn backward_params_layers(&self, s: &Site, io: &BackIo, linear: bool) -> Option<TokenStream> {
        // The grouped kernels and an activation kept before its
        // pre-activation run sample by sample.
        if !self.is_default() || (self.act.needs_input() && !linear) {
            return None;
        }
        let kernels = self.kernels(s, linear);
        let gr = s.grads();
        let BackIo {
            input,
            output,
            grad,
        } = io;
        let call = s.call(
            quote!(#kernels::backward_params_batch),
            quote!(
                tapes
                    .iter()
                    .zip(scratch.iter())
                    .map(|(tape, d)| (&#input, &#output, &#grad)),
                &mut #gr
            ),
        );
        Some(quote!(#call;))
    }

    fn int8_form(&self, _s: &Site) -> Int8Form {
        // `bias = false` is fine: the int8 layer always has one (a folded
        // BatchNorm's shift, or zeros).
        if self.dilation != (1, 1) || self.groups != 1 {
            return Int8Form::Unsupported(Some(
                "TFLite's int8 Conv2d has no dilation or groups: remove `dilation` and `groups`"
                    .into(),
            ));
        }
        match int8::unfusable("Conv2d", self.act) {
            Some(why) => Int8Form::Unsupported(Some(why)),
            None => Int8Form::Kernel,
        }
    }

    fn int8_tensors(&self, s: &Site) -> Vec<Int8Tensor> {
        let Shape::Image(c, ..) = s.input else {
            return Vec::new();
        };
        let (kh, kw) = self.kernel;
        let mut t = int8::weighted_tensors(vec![self.filters, c, kh, kw]);
        t.push(Int8Tensor::geometry("kernel", self.kernel));
        t.push(Int8Tensor::geometry("stride", self.stride));
        t.push(Int8Tensor::geometry("pad", self.pad_top_left));
        t
    }

    fn int8_param_type(&self, s: &Site) -> Option<TokenStream> {
        let Shape::Image(c, ..) = s.input else {
            return None;
        };
        let (o, k) = (lit(self.filters), lit(self.per_filter(c)));
        Some(quote_spanned!(s.span=> ::staticnet::quant::QConv2dParams<#o, #k>))
    }

    fn int8_param_value(&self, _s: &Site, t: &dyn Fn(&str) -> TokenStream) -> Option<TokenStream> {
        Some(int8::weighted_value(quote!(q::QConv2dParams), t))
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
            quote!(q::Conv2dInt8::<#g>::forward_into),
            quote!(&#p, #x, &mut #out),
        );
        quote!(#call;)
    }
}

/// The greatest common divisor (for the `groups` hint).
fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
