//! Training code, layer-agnostic: the tape struct, the recording forward,
//! the backward through the graph and their batched forms.
//!
//! The tape keeps the model's input and every node's output (where its
//! readers' backward finds it), plus what a layer records besides
//! (a recurrent layer's gates and states). Backward walks the nodes in
//! reverse order (the plan's order is topological), so each node's
//! gradient `d_<name>` is complete — the sum of what every reader sent
//! back — before the node itself runs.
//!
//! Only the gradients that a parameter gradient depends on are needed in a
//! training step: nodes are split into those ("live": a node with
//! parameters or one reading such a node) and the rest, which only
//! dL/d(input) needs. The live part runs first; without `DX` the backward
//! returns there, and a layer with parameters whose input needs no
//! gradient runs its `*_params` form.

use super::tensor_type;
use crate::ast::ModelDef;
use crate::layers::{activation, Act, BackIo};
use crate::plan::{Plan, Src};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeSet;

pub fn tape_name(def: &ModelDef) -> Ident {
    format_ident!("{}Tape", def.name)
}

/// The local holding the gradient of `src`'s output: `d_<name>`, or
/// `d_input` for the model's input (no layer is named `input`).
pub(super) fn grad_name(plan: &Plan, src: Src) -> Ident {
    match src {
        Src::Input => format_ident!("d_input"),
        Src::Node(i) => format_ident!("d_{}", plan.nodes[i].decl.name),
    }
}

/// A zero tensor of `src`'s shape.
fn zeros_of(plan: &Plan, src: Src) -> TokenStream {
    let ty = tensor_type(plan.shape(src));
    quote!(<#ty as ::staticnet::Tensor<T>>::zeros())
}

/// The last layer's activation, when its training forward must keep the
/// logits in the tape's `__logits` (a Dense or Conv2d with a non-linear
/// activation fused in; an activation layer's logits are its input).
pub(super) fn split_last_activation(plan: &Plan) -> Option<Act> {
    let layer = &plan.nodes[plan.last()].layer;
    let act = layer.activation();
    let own = layer.pre_activation(&plan.site(plan.last())).is_some();
    (act != Act::Linear && !layer.activation_only() && !own).then_some(act)
}

/// Whether node `i`'s backward differs with `LOGITS` (from the logits, its
/// activation skipped): the last node, if it has a non-linear activation.
pub(super) fn logit_variants(plan: &Plan, i: usize) -> bool {
    i == plan.last() && plan.nodes[i].layer.activation() != Act::Linear
}

/// `if LOGITS { f(true) } else { f(false) }` where the two differ, else
/// `f(false)`.
pub(super) fn pick(variants: bool, f: impl Fn(bool) -> TokenStream) -> TokenStream {
    if variants {
        let (with_logits, plain) = (f(true), f(false));
        quote!(if LOGITS { #with_logits } else { #plain })
    } else {
        f(false)
    }
}

/// Nodes whose output gradient a parameter gradient needs, in reverse
/// order, and the rest (needed for dL/d(input) only), in reverse order.
pub(super) fn live_and_rest(plan: &Plan) -> (Vec<usize>, Vec<usize>) {
    (0..plan.nodes.len())
        .rev()
        .partition(|&i| plan.needs_grad(Src::Node(i)))
}

/// The gradients declared so far, and how a new contribution joins them.
pub(super) struct Grads<'p, 'a> {
    pub(super) plan: &'p Plan<'a>,
    pub(super) declared: BTreeSet<usize>,
}

impl Grads<'_, '_> {
    pub(super) fn key(src: Src) -> usize {
        match src {
            Src::Input => usize::MAX,
            Src::Node(i) => i,
        }
    }

    /// `let d_x = contribution;` for the first reader of `x` to send its
    /// gradient back, `k::accumulate(&mut d_x, &contribution);` for the
    /// others (`batch`: over arrays of `K` samples).
    fn add(&mut self, src: Src, contribution: TokenStream, batch: bool) -> TokenStream {
        let d = grad_name(self.plan, src);
        if self.declared.insert(Self::key(src)) {
            if self.plan.uses(src) > 1 {
                quote!(let mut #d = #contribution;)
            } else {
                quote!(let #d = #contribution;)
            }
        } else if batch {
            quote! {
                for (acc, g) in #d.iter_mut().zip(#contribution) {
                    k::accumulate(acc, &g);
                }
            }
        } else {
            quote!(k::accumulate(&mut #d, &#contribution);)
        }
    }
}

pub fn tape_struct(def: &ModelDef, plan: &Plan) -> TokenStream {
    let vis = &def.vis;
    let tape = tape_name(def);
    let input_ty = tensor_type(plan.input);
    let mut fields = Vec::new();
    let mut field_tys = Vec::new();
    let mut inits = Vec::new();
    for (i, n) in plan.nodes.iter().enumerate() {
        let site = plan.site(i);
        for f in n.layer.tape_fields(&site) {
            let (name, ty, doc) = (f.name, f.ty, f.doc);
            field_tys.push(ty.clone());
            fields.push(quote!(#[doc = #doc] pub #name: #ty,));
            inits.push(
                quote!(#name: <#ty as ::staticnet::__private::kernels::TapeRecord<T>>::zeroed(),),
            );
        }
        if n.layer.output_in_tape() {
            let name = &site.name;
            let ty = tensor_type(n.output);
            let doc = format!("`{name}`'s output {}.", n.output);
            field_tys.push(ty.clone());
            fields.push(quote!(#[doc = #doc] pub #name: #ty,));
            inits.push(quote!(#name: <#ty as ::staticnet::Tensor<T>>::zeros(),));
        }
    }
    if split_last_activation(plan).is_some() {
        let ty = tensor_type(plan.output());
        field_tys.push(ty.clone());
        fields.push(quote!(
            /// The last layer's pre-activation (its logits).
            pub __logits: #ty,
        ));
        inits.push(quote!(__logits: <#ty as ::staticnet::Tensor<T>>::zeros(),));
    }
    let doc = format!(
        "What [`{}`]'s training forward keeps for backward: the input and every layer's output (a recurrent layer's outputs live in its gate-and-state tape).",
        def.name
    );
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        #[allow(non_snake_case)]
        #vis struct #tape<T: ::staticnet::Float = f32> {
            /// The input.
            pub input: #input_ty,
            #(#fields)*
        }

        // SAFETY: the impl holds only where every field's type is
        // `Zeroable` (the where clause), so all-zero bytes are a valid
        // value of each field and thus of the struct.
        unsafe impl<T: ::staticnet::Float + ::staticnet::Zeroable> ::staticnet::Zeroable for #tape<T>
        where
            #input_ty: ::staticnet::Zeroable,
            #(#field_tys: ::staticnet::Zeroable,)*
        {
        }

        impl<T: ::staticnet::Float> #tape<T> {
            /// A zeroed tape.
            pub fn zeros() -> Self {
                Self {
                    input: <#input_ty as ::staticnet::Tensor<T>>::zeros(),
                    #(#inits)*
                }
            }
        }
    }
}

/// One statement per node: run it on `tape`'s record of its input and
/// record its output (and what else it keeps) in `tape`.
pub(super) fn forward_train_lines(plan: &Plan) -> Vec<TokenStream> {
    let split = split_last_activation(plan);
    (0..plan.nodes.len())
        .map(|i| {
            let (n, site) = (&plan.nodes[i], plan.site(i));
            let input = plan.tape_input(i);
            if n.layer.is_merge() {
                let name = &site.name;
                let xs: Vec<TokenStream> =
                    plan.tape_inputs(i).iter().map(|x| quote!(&#x)).collect();
                let logits = quote!(tape.__logits);
                return match split.filter(|_| i == plan.last()) {
                    Some(act) => {
                        let linear = n.layer.write_merge(&site, &xs, &logits, true);
                        let activate = activation::apply_into(
                            &site,
                            act,
                            n.output,
                            &logits,
                            &quote!(tape.#name),
                        );
                        quote!(#linear #activate)
                    }
                    None => n.layer.write_merge(&site, &xs, &quote!(tape.#name), false),
                };
            }
            match split {
                Some(act) if i == plan.last() => {
                    // The last layer keeps its logits: computed linear,
                    // then activated (losses from logits need them).
                    let (name, logits) = (&site.name, quote!(tape.__logits));
                    let linear =
                        n.layer
                            .write_forward(&site, &quote!(&#input), &input, &logits, true);
                    let activate =
                        activation::apply_into(&site, act, n.output, &logits, &quote!(tape.#name));
                    quote!(#linear #activate)
                }
                _ => n.layer.forward_train(&site, &input),
            }
        })
        .collect()
}

/// The recording forward.
fn forward_train(plan: &Plan) -> TokenStream {
    let lines = forward_train_lines(plan);
    let out = plan.tape_ref(Src::Node(plan.last()));
    quote! {
        fn forward_train(&self, input: &Self::Input, tape: &mut Self::Tape) -> Self::Output {
            #[allow(unused_imports)]
            use ::staticnet::__private::{activation as a, kernels as k};
            tape.input = *input;
            #(#lines)*
            #out
        }
    }
}

/// The operands of node `j`'s backward, one sample.
fn io(plan: &Plan, j: usize) -> BackIo {
    let d = grad_name(plan, Src::Node(j));
    BackIo {
        input: plan.tape_input(j),
        output: plan.tape_ref(Src::Node(j)),
        grad: quote!(#d),
    }
}

/// Node `j`'s backward as statements sending its gradient to its inputs.
fn node_backward(plan: &Plan, j: usize, grads: &mut Grads) -> TokenStream {
    let (n, site, io) = (&plan.nodes[j], plan.site(j), io(plan, j));
    let variants = logit_variants(plan, j);
    if n.layer.is_merge() {
        let inputs = plan.tape_inputs(j);
        let each = |l| {
            n.layer
                .backward_merge(&site, &inputs, &io.output, &io.grad, l)
        };
        let (with_logits, plain) = (each(true), each(false));
        return n
            .inputs
            .iter()
            .enumerate()
            .map(|(k, &src)| {
                let contribution = pick(variants, |l| {
                    let c = if l { &with_logits } else { &plain };
                    c.get(k).cloned().unwrap_or_default()
                });
                grads.add(src, contribution, false)
            })
            .collect();
    }
    let full = pick(variants, |l| n.layer.backward(&site, &io, l));
    grads.add(n.inputs[0], full, false)
}

/// Node `j`'s parameter gradients alone (its `*_params` form), as a
/// statement; `None` for a layer without parameters.
fn node_backward_params(plan: &Plan, j: usize) -> Option<TokenStream> {
    let (n, site, io) = (&plan.nodes[j], plan.site(j), io(plan, j));
    if !n.layer.has_params() {
        return None;
    }
    Some(pick(logit_variants(plan, j), |l| {
        let call = n
            .layer
            .backward_params(&site, &io, l)
            .unwrap_or_else(|| n.layer.backward(&site, &io, l));
        quote!(#call;)
    }))
}

/// `[&x_0, …, &x_{K−1}]`: `field` (a `tape.…` path) of every tape.
pub(super) fn each_tape(field: &TokenStream) -> TokenStream {
    quote!(::core::array::from_fn::<_, K, _>(|k| {
        let tape = &tapes[k];
        &#field
    }))
}

/// Whether some layer has a batched form (a `Dense` on a vector): then the
/// model gets `forward_train_batch` and `backward_params_batch` of its
/// own; otherwise the trait's sample-by-sample defaults are as fast.
pub(super) fn has_batch(plan: &Plan) -> bool {
    (0..plan.nodes.len()).any(|i| {
        plan.nodes[i]
            .layer
            .forward_batch(&plan.site(i), &TokenStream::new(), false)
            .is_some()
    })
}

/// Node `i`'s batched training forward over the `K` tapes of `tapes` (a
/// `&mut [Tape; K]`), if its layer has a batched form.
pub(super) fn forward_batch_node(plan: &Plan, i: usize) -> Option<TokenStream> {
    let split = split_last_activation(plan);
    let (n, site) = (&plan.nodes[i], plan.site(i));
    let xs = each_tape(&plan.tape_input(i));
    let name = &site.name;
    match split.filter(|_| i == plan.last()) {
        Some(act) => {
            let call = n.layer.forward_batch(&site, &xs, true)?;
            let activate = activation::apply(&site, act, n.output, &quote!(tape.__logits));
            Some(quote! {
                let zs = #call;
                for (tape, z) in tapes.iter_mut().zip(zs) {
                    tape.__logits = z;
                    tape.#name = #activate;
                }
            })
        }
        None => {
            let call = n.layer.forward_batch(&site, &xs, false)?;
            Some(quote! {
                let ys = #call;
                for (tape, y) in tapes.iter_mut().zip(ys) {
                    tape.#name = y;
                }
            })
        }
    }
}

/// `forward_train_batch`: batched layers over all `K` samples at once,
/// the others sample by sample.
fn forward_batch(plan: &Plan) -> TokenStream {
    let lines = forward_train_lines(plan);
    let forward = lines.into_iter().enumerate().map(|(i, line)| {
        forward_batch_node(plan, i)
            .unwrap_or_else(|| quote!(for tape in tapes.iter_mut() { #line }))
    });
    let out = plan.tape_ref(Src::Node(plan.last()));
    quote! {
        fn forward_train_batch<const K: usize>(
            &self,
            xs: [&Self::Input; K],
            tapes: &mut [Self::Tape; K],
        ) -> [Self::Output; K] {
            #[allow(unused_imports)]
            use ::staticnet::__private::{activation as a, kernels as k};
            for (tape, x) in tapes.iter_mut().zip(xs) {
                tape.input = *x;
            }
            #(#forward)*
            ::core::array::from_fn(|k| {
                let tape = &tapes[k];
                #out
            })
        }
    }
}

/// The hidden `__backward_batch` behind `backward_params_batch`: the live
/// part of the backward over `K` samples (no dL/d(input)), batched layers
/// at once, the others sample by sample.
fn backward_batch(plan: &Plan) -> TokenStream {
    let (live, _) = live_and_rest(plan);
    let mut grads = Grads {
        plan,
        declared: BTreeSet::new(),
    };
    let d_last = grad_name(plan, Src::Node(plan.last()));
    grads.declared.insert(plan.last());
    let lines: Vec<TokenStream> = live
        .iter()
        .map(|&j| {
            let (n, site) = (&plan.nodes[j], plan.site(j));
            let src = n.inputs[0];
            let stops = !n.inputs.iter().any(|&s| plan.needs_grad(s));
            let dj = grad_name(plan, Src::Node(j));
            let variants = logit_variants(plan, j);
            if n.layer.is_merge() {
                // Sample by sample, one array of contributions per input
                // (a merge has no parameters: nothing to do if none of its
                // inputs needs a gradient).
                let inputs = plan.tape_inputs(j);
                let output = plan.tape_ref(Src::Node(j));
                let each = |l| {
                    n.layer
                        .backward_merge(&site, &inputs, &output, &quote!(#dj), l)
                };
                let (with_logits, plain) = (each(true), each(false));
                return n
                    .inputs
                    .iter()
                    .enumerate()
                    .filter(|(_, &s)| plan.needs_grad(s))
                    .map(|(k, &s)| {
                        let c = pick(variants, |l| {
                            let c = if l { &with_logits } else { &plain };
                            c.get(k).cloned().unwrap_or_default()
                        });
                        let each = quote! {
                            ::core::array::from_fn::<_, K, _>(|k| {
                                let tape = &tapes[k];
                                let #dj = #dj[k];
                                #c
                            })
                        };
                        grads.add(s, each, true)
                    })
                    .collect();
            }
            let batch_io = BackIo {
                input: each_tape(&plan.tape_input(j)),
                output: each_tape(&plan.tape_ref(Src::Node(j))),
                grad: quote!(#dj),
            };
            if n.layer
                .backward_batch(&site, &batch_io, false, stops)
                .is_some()
            {
                let call = pick(variants, |l| {
                    n.layer
                        .backward_batch(&site, &batch_io, l, stops)
                        .unwrap_or_default()
                });
                return if stops {
                    quote!(#call;)
                } else {
                    grads.add(src, call, true)
                };
            }
            let io = BackIo {
                input: plan.tape_input(j),
                output: plan.tape_ref(Src::Node(j)),
                grad: quote!(#dj),
            };
            let full = pick(variants, |l| n.layer.backward(&site, &io, l));
            if stops {
                let params = match n.layer.backward_params(&site, &io, false) {
                    Some(_) => pick(variants, |l| {
                        let c = n.layer.backward_params(&site, &io, l).unwrap_or_default();
                        quote!({ #c; })
                    }),
                    None => quote!({ #full; }),
                };
                quote! {
                    for k in 0..K {
                        let tape = &tapes[k];
                        let #dj = #dj[k];
                        #params
                    }
                }
            } else {
                let each = quote! {
                    ::core::array::from_fn::<_, K, _>(|k| {
                        let tape = &tapes[k];
                        let #dj = #dj[k];
                        #full
                    })
                };
                grads.add(src, each, true)
            }
        })
        .collect();
    quote! {
        /// The batched backward behind `backward_params_batch`: with
        /// `LOGITS` from the last layer's pre-activation.
        #[doc(hidden)]
        #[allow(unused_variables, unreachable_code, clippy::needless_range_loop)]
        fn __backward_batch<const K: usize, const LOGITS: bool>(
            &self,
            tapes: &[<Self as ::staticnet::Train<T>>::Tape; K],
            dys: &[<Self as ::staticnet::Model<T>>::Output; K],
            grads: &mut Self,
        ) {
            #[allow(unused_imports)]
            use ::staticnet::__private::{activation as a, kernels as k};
            let #d_last = *dys;
            #(#lines)*
        }
    }
}

/// The body of `__backward`. Three parts: the live nodes whose input
/// needs a gradient too, in reverse order; without `DX`, the parameter
/// gradients of the live nodes at the boundary (whose input needs none,
/// so their `*_params` form) and the return; with `DX`, the boundary and
/// the rest in reverse order, down to dL/d(input).
fn backward_body(plan: &Plan) -> TokenStream {
    let (live, rest) = live_and_rest(plan);
    let at_boundary = |&j: &usize| !plan.nodes[j].inputs.iter().any(|&s| plan.needs_grad(s));
    let (boundary, inner): (Vec<usize>, Vec<usize>) = live.into_iter().partition(at_boundary);
    let mut grads = Grads {
        plan,
        declared: BTreeSet::new(),
    };
    let d_last = grad_name(plan, Src::Node(plan.last()));
    grads.declared.insert(plan.last());
    let inner: Vec<TokenStream> = inner
        .iter()
        .map(|&j| node_backward(plan, j, &mut grads))
        .collect();
    let params: Vec<TokenStream> = boundary
        .iter()
        .filter_map(|&j| node_backward_params(plan, j))
        .collect();
    let mut below: Vec<usize> = boundary.into_iter().chain(rest).collect();
    below.sort_unstable_by(|a, b| b.cmp(a));
    let below: Vec<TokenStream> = below
        .iter()
        .map(|&j| node_backward(plan, j, &mut grads))
        .collect();
    let zeros = zeros_of(plan, Src::Input);
    let d_input = grad_name(plan, Src::Input);
    quote! {
        let #d_last = *dy;
        #(#inner)*
        if !DX {
            #(#params)*
            return #zeros;
        }
        #(#below)*
        #d_input
    }
}

pub fn train_impl(def: &ModelDef, plan: &Plan) -> TokenStream {
    let name = &def.name;
    let tape = tape_name(def);
    let forward_train = forward_train(plan);
    let body = backward_body(plan);
    let last = &plan.nodes[plan.last()];
    let out_act = Ident::new(
        last.layer.activation().type_name(),
        proc_macro2::Span::call_site(),
    );
    let own_logits = last.layer.pre_activation(&plan.site(plan.last()));
    let logits = if split_last_activation(plan).is_some() {
        quote!(tape.__logits)
    } else if let Some(pre) = own_logits {
        pre
    } else if last.layer.activation_only() {
        plan.tape_input(plan.last())
    } else {
        plan.tape_ref(Src::Node(plan.last()))
    };
    let (layers_inherent, layers_train) = super::layer_major::expand(name, plan);
    let (batch_forward, batch_backward, batch_dispatch) = if has_batch(plan) {
        (
            forward_batch(plan),
            backward_batch(plan),
            quote! {
                fn backward_params_batch<const K: usize>(
                    &self,
                    tapes: &[Self::Tape; K],
                    dys: &[Self::Output; K],
                    wrt_logits: bool,
                    grads: &mut Self,
                ) {
                    if wrt_logits {
                        self.__backward_batch::<K, true>(tapes, dys, grads);
                    } else {
                        self.__backward_batch::<K, false>(tapes, dys, grads);
                    }
                }
            },
        )
    } else {
        Default::default()
    };
    quote! {
        impl<T: ::staticnet::Float> #name<T> {
            /// Backward through the forward recorded in `tape`: with
            /// `LOGITS` from the last layer's pre-activation, with `DX`
            /// returning `dL/d(input)` (else zeros, and only the parameter
            /// gradients are computed).
            ///
            /// Not inlined: `backward_params` calls it twice (with and
            /// without `LOGITS`), and inlined into one frame (LTO) the two
            /// copies' buffers added up: 27.4 KiB of stack for the firmware
            /// CNN's train step against 19.8 KiB as a call.
            #[doc(hidden)]
            #[inline(never)]
            #[allow(unused_variables, clippy::let_and_return)]
            fn __backward<const LOGITS: bool, const DX: bool>(
                &self,
                tape: &<Self as ::staticnet::Train<T>>::Tape,
                dy: &<Self as ::staticnet::Model<T>>::Output,
                grads: &mut Self,
            ) -> <Self as ::staticnet::Model<T>>::Input {
                #[allow(unused_imports)]
                use ::staticnet::__private::{activation as a, kernels as k};
                #body
            }

            #batch_backward

            #layers_inherent
        }

        impl<T: ::staticnet::Float> ::staticnet::Train<T> for #name<T> {
            type Tape = #tape<T>;
            const OUTPUT_ACTIVATION: ::staticnet::OutputActivation = ::staticnet::OutputActivation::#out_act;
            fn new_tape() -> Self::Tape {
                #tape::zeros()
            }
            #forward_train
            fn logits(tape: &Self::Tape) -> Self::Output {
                #logits
            }
            fn backward(&self, tape: &Self::Tape, dy: &Self::Output, grads: &mut Self) -> Self::Input {
                self.__backward::<false, true>(tape, dy, grads)
            }
            fn backward_logits(&self, tape: &Self::Tape, dy: &Self::Output, grads: &mut Self) -> Self::Input {
                self.__backward::<true, true>(tape, dy, grads)
            }
            fn backward_params(&self, tape: &Self::Tape, dy: &Self::Output, wrt_logits: bool, grads: &mut Self) {
                if wrt_logits {
                    self.__backward::<true, false>(tape, dy, grads);
                } else {
                    self.__backward::<false, false>(tape, dy, grads);
                }
            }
            #batch_forward
            #batch_dispatch
            #layers_train
        }
    }
}
