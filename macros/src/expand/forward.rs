//! The forward pass: one kernel call per layer, each on the stack, each
//! spanned at the layer it comes from.

use super::{call, lit};
use crate::layers::{Act, Cell, Spec};
use crate::shape::{Plan, Planned, Shape};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};

fn act_type(a: Act) -> TokenStream {
    let id = Ident::new(a.type_name(), Span::call_site());
    quote!(a::#id)
}

pub fn forward(plan: &Plan) -> TokenStream {
    let mut lines = Vec::new();
    for (i, p) in plan.layers.iter().enumerate() {
        let (by_ref, by_val) = if i == 0 {
            (quote!(input), quote!(*input))
        } else {
            (quote!(&x), quote!(x))
        };
        let call = layer_call(p, by_ref, by_val);
        lines.push(quote! {
            let x = #call;
        });
    }
    quote! {
        #[inline]
        fn forward(&self, input: &Self::Input) -> Self::Output {
            #[allow(unused_imports)]
            use ::staticnet::__private::{activation as a, kernels as k};
            #(#lines)*
            x
        }
    }
}

/// The kernel call of one layer, `x_in` being its input by reference.
pub(super) fn layer_call(p: &Planned, by_ref: TokenStream, by_val: TokenStream) -> TokenStream {
    let span = super::layer_span(p);
    let field = &p.decl.name;
    match (p.spec, p.input, p.output) {
        (Spec::Dense { units, act }, Shape::Vector(i), _) => {
            let (a, i, o) = (act_type(act), lit(i), lit(units));
            call(
                span,
                quote!(k::dense::<T, #a, #i, #o>),
                quote!(&self.#field, #by_ref),
            )
        }
        (Spec::Dense { units, act }, Shape::Seq(s, i), _) => {
            let (a, i, o, s) = (act_type(act), lit(i), lit(units), lit(s));
            call(
                span,
                quote!(k::dense_seq::<T, #a, #i, #o, #s>),
                quote!(&self.#field, #by_ref),
            )
        }
        (
            Spec::Conv2d {
                kernel: (kh, kw),
                stride: (sh, sw),
                act,
                ..
            },
            Shape::Image(c, h, w),
            Shape::Image(o, oh, ow),
        ) => {
            let (pt, pl) = p.pad_top_left;
            let a = act_type(act);
            let k = lit(c * kh * kw);
            let [c, h, w, o, kh, kw, sh, sw, pt, pl, oh, ow] =
                [c, h, w, o, kh, kw, sh, sw, pt, pl, oh, ow].map(lit);
            call(
                span,
                quote!(k::conv2d::<T, #a, #c, #h, #w, #o, #kh, #kw, #sh, #sw, #pt, #pl, #oh, #ow, #k>),
                quote!(&self.#field, #by_ref),
            )
        }
        (
            Spec::Pool {
                max,
                size: (kh, kw),
                stride: (sh, sw),
            },
            Shape::Image(c, h, w),
            Shape::Image(_, oh, ow),
        ) => {
            let f = Ident::new(if max { "max_pool2d" } else { "avg_pool2d" }, span);
            let [c, h, w, kh, kw, sh, sw, oh, ow] = [c, h, w, kh, kw, sh, sw, oh, ow].map(lit);
            call(
                span,
                quote!(k::#f::<T, #c, #h, #w, #kh, #kw, #sh, #sw, #oh, #ow>),
                quote!(#by_ref),
            )
        }
        (Spec::Flatten, Shape::Image(c, h, w), Shape::Vector(n)) => {
            let [c, h, w, n] = [c, h, w, n].map(lit);
            call(
                span,
                quote!(k::flatten_image::<T, #c, #h, #w, #n>),
                quote!(#by_ref),
            )
        }
        (Spec::Flatten, Shape::Seq(s, f), Shape::Vector(n)) => {
            let [s, f, n] = [s, f, n].map(lit);
            call(
                span,
                quote!(k::flatten_seq::<T, #f, #s, #n>),
                quote!(#by_ref),
            )
        }
        (Spec::Flatten, Shape::Vector(_), _) => by_val,
        (
            Spec::Recurrent {
                cell,
                units,
                return_sequences,
            },
            Shape::Seq(s, f),
            _,
        ) => {
            let suffix = if return_sequences { "_seq" } else { "" };
            let [s, f, h] = [s, f, units].map(lit);
            match cell {
                Cell::Simple(act) => {
                    let func = Ident::new(&format!("simple_rnn{suffix}"), span);
                    let a = act_type(act);
                    call(
                        span,
                        quote!(k::#func::<T, #a, #f, #h, #s>),
                        quote!(&self.#field, #by_ref),
                    )
                }
                Cell::Lstm | Cell::Gru => {
                    let base = if cell == Cell::Lstm { "lstm" } else { "gru" };
                    let func = Ident::new(&format!("{base}{suffix}"), span);
                    let gh = lit(cell.gates() * units);
                    call(
                        span,
                        quote!(k::#func::<T, #f, #h, #gh, #s>),
                        quote!(&self.#field, #by_ref),
                    )
                }
            }
        }
        (Spec::Activation(act), Shape::Vector(n), _) => {
            let (a, n) = (act_type(act), lit(n));
            call(span, quote!(k::activate::<T, #a, #n, 1>), quote!(#by_val))
        }
        (Spec::Activation(act), Shape::Seq(s, f), _) => {
            let (a, s, f) = (act_type(act), lit(s), lit(f));
            call(span, quote!(k::activate::<T, #a, #f, #s>), quote!(#by_val))
        }
        (Spec::Activation(act), Shape::Image(c, h, w), _) => {
            let a = act_type(act);
            let [c, h, w] = [c, h, w].map(lit);
            call(
                span,
                quote!(k::activate_image::<T, #a, #c, #h, #w>),
                quote!(#by_val),
            )
        }
        // Shape inference admits no other combination.
        _ => {
            quote_spanned!(span=> ::core::compile_error!("staticnet: internal error: unplanned layer"))
        }
    }
}
