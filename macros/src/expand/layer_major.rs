//! Layer-major training, layer-agnostic: `forward_train_layers` runs each
//! node over every sample of a batch before the next node, and
//! `backward_layers` runs the nodes in reverse, each over every sample.
//!
//! The batch has a run-time size `n` (slices of tapes), so `fit`'s
//! `batch_size` and its last partial batch need nothing special. A node
//! runs its layer's own layer-major code where the layer has some
//! ([`Layer::forward_layers`](crate::layers::Layer::forward_layers):
//! BatchNorm's batch statistics, Dropout's mask), else its batched form
//! (`forward_batch`/`backward_batch`: a `Dense` on a vector) on chunks of
//! `K = CHUNK` samples and the rest one by one, else its one-sample code
//! in a loop over the samples.
//!
//! Backward keeps every sample's gradient of every node's output in a
//! second slice of tapes, `scratch`: sample `k`'s `d_<node>` is
//! `scratch[k]`'s field of that node's output (its `input` field holds
//! dL/d(input)), so a node's gradients for the whole batch exist together
//! before the node runs (BatchNorm needs `Σ dy` and `Σ dy ⊙ x̂` over the
//! batch before any `dx`), and a node read by several others receives the
//! sum of what each sends back: the first reader to run stores its
//! contribution, the others add theirs. The live/rest split is the
//! one-sample backward's: without `DX` only the nodes a parameter gradient
//! depends on run, those at the boundary in their parameter-only form.

use super::backward::{
    each_tape, forward_batch_node, forward_train_lines, grad_name, logit_variants, pick, Grads,
};
use crate::layers::BackIo;
use crate::plan::{Plan, Src};
use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{format_ident, quote};
use std::collections::BTreeSet;

/// `__forward_train_layers` (inherent) and `forward_train_layers`.
fn forward(model: &Ident, plan: &Plan) -> (TokenStream, TokenStream) {
    let lines = forward_train_lines(plan);
    let nodes = lines.into_iter().enumerate().map(|(i, line)| {
        let (n, site) = (&plan.nodes[i], plan.site(i));
        if let Some(own) = n.layer.forward_layers(&site, &plan.tape_input(i)) {
            return quote!({ #own });
        }
        if let Some(batched) = forward_batch_node(plan, i) {
            return quote! {
                let (chunks, rest) = ::staticnet::train::chunks_mut::<_, K>(tapes);
                for tapes in chunks {
                    #batched
                }
                for tape in rest {
                    #line
                }
            };
        }
        quote!(for tape in tapes.iter_mut() { #line })
    });
    let out = plan.tape_ref(Src::Node(plan.last()));
    let nodes: Vec<TokenStream> = nodes.collect();
    let body = |name: &Ident, kernels: &TokenStream| {
        quote! {
            #[doc(hidden)]
            #[inline(always)]
            #[allow(unused_variables)]
            pub fn #name<const K: usize>(
                &self,
                xs: &[&<Self as ::staticnet::Model<T>>::Input],
                tapes: &mut [<Self as ::staticnet::Train<T>>::Tape],
                outs: &mut [<Self as ::staticnet::Model<T>>::Output],
                mode: ::staticnet::Mode,
                rng: &mut ::staticnet::Rng,
            ) -> ::core::result::Result<(), ::staticnet::TrainError> {
                #[allow(unused_imports)]
                use ::staticnet::__private::{activation as a, #kernels as k};
                ::staticnet::model::check_batch(xs.len(), tapes.len(), outs.len())?;
                for (tape, x) in tapes.iter_mut().zip(xs) {
                    tape.input = **x;
                }
                #(#nodes)*
                for (out, tape) in outs.iter_mut().zip(tapes.iter()) {
                    *out = #out;
                }
                Ok(())
            }
        }
    };
    let (base, avx2) = (
        body(&format_ident!("__forward_train_layers"), &quote!(kernels)),
        body(
            &format_ident!("__forward_train_layers_avx2"),
            &quote!(kernels::avx2),
        ),
    );
    let inherent = quote! {
        /// The layer-major training forward behind `forward_train_layers`,
        /// batched layers running `K` samples at a time (`CHUNK` there).
        #base
        /// [`Self::__forward_train_layers`] with the kernels' AVX2
        /// instantiation (`kernels::avx2`), for the copy compiled for AVX2
        /// and FMA.
        #[cfg(target_arch = "x86_64")]
        #avx2
    };
    let params = [
        (
            format_ident!("xs"),
            quote!(&[&<#model<T> as ::staticnet::Model<T>>::Input]),
        ),
        (
            format_ident!("tapes"),
            quote!(&mut [<#model<T> as ::staticnet::Train<T>>::Tape]),
        ),
        (
            format_ident!("outs"),
            quote!(&mut [<#model<T> as ::staticnet::Model<T>>::Output]),
        ),
        (format_ident!("mode"), quote!(::staticnet::Mode)),
        (format_ident!("rng"), quote!(&mut ::staticnet::Rng)),
    ];
    let call = |f: &str| {
        let f = format_ident!("{}", f);
        quote!(model.#f::<{ ::staticnet::train::CHUNK }>(xs, tapes, outs, mode, rng))
    };
    let items = super::dispatched_per_batch(
        model,
        &TokenStream::new(),
        &params,
        &quote!(::core::result::Result<(), ::staticnet::TrainError>),
        &call("__forward_train_layers"),
        &call("__forward_train_layers_avx2"),
    );
    let names: Vec<Ident> = params.iter().map(|(n, _)| n.clone()).collect();
    let run = super::dispatch_call(&TokenStream::new(), &names);
    let body = quote!(#items #run);
    let method = quote! {
        fn forward_train_layers(
            &self,
            xs: &[&Self::Input],
            tapes: &mut [Self::Tape],
            outs: &mut [Self::Output],
            mode: ::staticnet::Mode,
            rng: &mut ::staticnet::Rng,
        ) -> ::core::result::Result<(), ::staticnet::TrainError> {
            #body
        }
    };
    (inherent, method)
}

/// `tape.…` (a place in a sample's tape) as the same place in its scratch
/// tape `d`.
fn in_scratch(place: TokenStream) -> TokenStream {
    let mut first = true;
    place
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Ident(id) if first && id == "tape" => {
                first = false;
                TokenTree::Ident(Ident::new("d", id.span()))
            }
            other => other,
        })
        .collect()
}

/// Where sample `k`'s gradient of `src` lives: `d.<src's tape field>`.
fn grad_place(plan: &Plan, src: Src) -> TokenStream {
    in_scratch(plan.tape_ref(src))
}

/// The gradients stored so far (the first contribution is stored, the
/// others added).
struct Stored<'p, 'a> {
    plan: &'p Plan<'a>,
    done: BTreeSet<usize>,
    /// Whether the code being generated runs only with `DX` anyway.
    under_dx: bool,
}

impl Stored<'_, '_> {
    /// Whether `src`'s next contribution is its first; records it.
    fn first(&mut self, src: Src) -> bool {
        self.done.insert(Grads::key(src))
    }

    /// The statement sending `contribution` to `src` (`first`: storing it).
    fn send(&self, first: bool, src: Src, contribution: &TokenStream) -> TokenStream {
        let place = grad_place(self.plan, src);
        let send = if first {
            quote!(#place = #contribution;)
        } else {
            quote!(k::accumulate(&mut #place, &#contribution);)
        };
        // A gradient that no parameter gradient needs is for dL/d(input)
        // only.
        if self.under_dx || self.plan.needs_grad(src) {
            send
        } else {
            quote!(if DX { #send })
        }
    }
}

/// Node `j`'s operands, one sample: its input and output in `tape`, its
/// gradient in `d`.
fn io(plan: &Plan, j: usize) -> BackIo {
    BackIo {
        input: plan.tape_input(j),
        output: plan.tape_ref(Src::Node(j)),
        grad: grad_place(plan, Src::Node(j)),
    }
}

/// The same over the `K` samples of a chunk: arrays of references into
/// `tapes` (a `&[Tape; K]`) and the gradient copied into a local array.
fn batch_io(plan: &Plan, j: usize) -> BackIo {
    let d = grad_name(plan, Src::Node(j));
    BackIo {
        input: each_tape(&plan.tape_input(j)),
        output: each_tape(&plan.tape_ref(Src::Node(j))),
        grad: quote!(#d),
    }
}

/// `let d_<node>: [_; K] = …;` from the chunk's scratch tapes `ds`.
fn chunk_grad(plan: &Plan, j: usize) -> TokenStream {
    let (d, place) = (
        grad_name(plan, Src::Node(j)),
        grad_place(plan, Src::Node(j)),
    );
    quote! {
        let #d: [_; K] = ::core::array::from_fn(|k| {
            let d = &ds[k];
            #place
        });
    }
}

/// Node `j`'s backward over the batch, sending its gradient to its inputs.
fn full(plan: &Plan, j: usize, stored: &mut Stored) -> TokenStream {
    let (n, site, io) = (&plan.nodes[j], plan.site(j), io(plan, j));
    let variants = logit_variants(plan, j);
    if n.layer.is_merge() {
        let inputs = plan.tape_inputs(j);
        let each = |l| {
            n.layer
                .backward_merge(&site, &inputs, &io.output, &io.grad, l)
        };
        let (with_logits, plain) = (each(true), each(false));
        let sends: Vec<TokenStream> = n
            .inputs
            .iter()
            .enumerate()
            .map(|(k, &src)| {
                let c = pick(variants, |l| {
                    let c = if l { &with_logits } else { &plain };
                    c.get(k).cloned().unwrap_or_default()
                });
                let first = stored.first(src);
                stored.send(first, src, &c)
            })
            .collect();
        return quote! {
            for (tape, d) in tapes.iter().zip(scratch.iter_mut()) {
                #(#sends)*
            }
        };
    }
    let src = n.inputs[0];
    if n.layer.backward_layers(&site, &io, false).is_some() {
        let part = |l, batch: bool| {
            let own = n.layer.backward_layers(&site, &io, l);
            own.map(|o| if batch { o.batch } else { o.each })
                .unwrap_or_default()
        };
        let batch = pick(variants, |l| part(l, true));
        let each = pick(variants, |l| part(l, false));
        let first = stored.first(src);
        let send = stored.send(first, src, &each);
        return quote! {{
            #batch
            for (tape, d) in tapes.iter().zip(scratch.iter_mut()) {
                #send
            }
        }};
    }
    let one = pick(variants, |l| n.layer.backward(&site, &io, l));
    let first = stored.first(src);
    let send_one = stored.send(first, src, &one);
    let bio = batch_io(plan, j);
    if n.layer.backward_batch(&site, &bio, false, false).is_some() {
        let call = pick(variants, |l| {
            n.layer
                .backward_batch(&site, &bio, l, false)
                .unwrap_or_default()
        });
        let grad = chunk_grad(plan, j);
        let send = stored.send(first, src, &quote!(dx));
        return quote! {{
            let (chunks, _) = ::staticnet::train::chunks::<_, K>(tapes);
            let (d_chunks, d_rest) = ::staticnet::train::chunks_mut::<_, K>(scratch);
            for (tapes, ds) in chunks.iter().zip(d_chunks) {
                #grad
                let dxs = #call;
                for (d, dx) in ds.iter_mut().zip(dxs) {
                    #send
                }
            }
            let done = tapes.len() - d_rest.len();
            for (tape, d) in tapes.iter().skip(done).zip(d_rest) {
                #send_one
            }
        }};
    }
    quote! {
        for (tape, d) in tapes.iter().zip(scratch.iter_mut()) {
            #send_one
        }
    }
}

/// Node `j`'s parameter gradients alone over the batch (a node whose
/// input needs no gradient, without `DX`).
fn params_only(plan: &Plan, j: usize) -> TokenStream {
    let (n, site, io) = (&plan.nodes[j], plan.site(j), io(plan, j));
    let variants = logit_variants(plan, j);
    if n.layer.backward_layers(&site, &io, false).is_some() {
        let batch = pick(variants, |l| {
            n.layer
                .backward_layers(&site, &io, l)
                .map(|o| o.batch)
                .unwrap_or_default()
        });
        return quote!({ #batch });
    }
    if n.layer.backward_params_layers(&site, &io, false).is_some() {
        let all = pick(variants, |l| {
            n.layer
                .backward_params_layers(&site, &io, l)
                .unwrap_or_default()
        });
        return quote!({ #all });
    }
    let one = pick(variants, |l| {
        let c = n
            .layer
            .backward_params(&site, &io, l)
            .unwrap_or_else(|| n.layer.backward(&site, &io, l));
        quote!(#c;)
    });
    let bio = batch_io(plan, j);
    if n.layer.backward_batch(&site, &bio, false, true).is_some() {
        let call = pick(variants, |l| {
            n.layer
                .backward_batch(&site, &bio, l, true)
                .unwrap_or_default()
        });
        let grad = chunk_grad(plan, j);
        return quote! {{
            let (chunks, _) = ::staticnet::train::chunks::<_, K>(tapes);
            let (d_chunks, d_rest) = ::staticnet::train::chunks::<_, K>(scratch);
            for (tapes, ds) in chunks.iter().zip(d_chunks) {
                #grad
                #call;
            }
            let done = tapes.len() - d_rest.len();
            for (tape, d) in tapes.iter().skip(done).zip(d_rest) {
                #one
            }
        }};
    }
    quote! {
        for (tape, d) in tapes.iter().zip(scratch.iter()) {
            #one
        }
    }
}

/// `__backward_layers`: the nodes in reverse order. A node no parameter
/// gradient needs runs only with `DX`; a node whose input needs no
/// gradient runs its parameter-only form without `DX`.
fn backward(plan: &Plan) -> TokenStream {
    let mut stored = Stored {
        plan,
        done: BTreeSet::new(),
        under_dx: false,
    };
    let last = Src::Node(plan.last());
    stored.first(last);
    let d_last = grad_place(plan, last);
    let nodes: Vec<TokenStream> = (0..plan.nodes.len())
        .rev()
        .map(|j| {
            let n = &plan.nodes[j];
            let live = plan.needs_grad(Src::Node(j));
            let boundary = live && !n.inputs.iter().any(|&s| plan.needs_grad(s));
            stored.under_dx = !live || boundary;
            let full = full(plan, j, &mut stored);
            if !live {
                quote!(if DX { #full })
            } else if boundary {
                let params = params_only(plan, j);
                quote!(if DX { #full } else { #params })
            } else {
                full
            }
        })
        .collect();
    let body = |name: &Ident, kernels: &TokenStream| {
        quote! {
            #[doc(hidden)]
            #[inline(always)]
            #[allow(unused_variables)]
            pub fn #name<const K: usize, const LOGITS: bool, const DX: bool>(
                &self,
                tapes: &[<Self as ::staticnet::Train<T>>::Tape],
                dys: &[<Self as ::staticnet::Model<T>>::Output],
                grads: &mut Self,
                scratch: &mut [<Self as ::staticnet::Train<T>>::Tape],
            ) {
                #[allow(unused_imports)]
                use ::staticnet::__private::{activation as a, #kernels as k};
                for (d, dy) in scratch.iter_mut().zip(dys) {
                    #d_last = *dy;
                }
                #(#nodes)*
            }
        }
    };
    let (base, avx2) = (
        body(&format_ident!("__backward_layers"), &quote!(kernels)),
        body(
            &format_ident!("__backward_layers_avx2"),
            &quote!(kernels::avx2),
        ),
    );
    quote! {
        /// The layer-major backward behind `backward_layers`: batched
        /// layers running `K` samples at a time (`CHUNK` there), with
        /// `LOGITS` from the last layer's pre-activation, with `DX` down to
        /// dL/d(input) (in `scratch[k].input`).
        #base
        /// [`Self::__backward_layers`] with the kernels' AVX2 instantiation
        /// (`kernels::avx2`), for the copy compiled for AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        #avx2
    }
}

/// `backward_layers`, dispatching (per batch) to `__backward_layers` or
/// its AVX2 copy.
fn backward_dispatch(model: &Ident) -> TokenStream {
    let params = [
        (
            format_ident!("tapes"),
            quote!(&[<#model<T> as ::staticnet::Train<T>>::Tape]),
        ),
        (
            format_ident!("dys"),
            quote!(&[<#model<T> as ::staticnet::Model<T>>::Output]),
        ),
        (format_ident!("grads"), quote!(&mut #model<T>)),
        (
            format_ident!("scratch"),
            quote!(&mut [<#model<T> as ::staticnet::Train<T>>::Tape]),
        ),
    ];
    let call = |f: &str| {
        let f = format_ident!("{}", f);
        quote!(model.#f::<{ ::staticnet::train::CHUNK }, LOGITS, DX>(tapes, dys, grads, scratch))
    };
    let items = super::dispatched_per_batch(
        model,
        &quote!(const LOGITS: bool, const DX: bool),
        &params,
        &quote!(()),
        &call("__backward_layers"),
        &call("__backward_layers_avx2"),
    );
    let names: Vec<Ident> = params.iter().map(|(n, _)| n.clone()).collect();
    let run = |l: bool, dx: bool| super::dispatch_call(&quote!(#l, #dx), &names);
    let (ff, tf, ft, tt) = (
        run(false, false),
        run(true, false),
        run(false, true),
        run(true, true),
    );
    quote! {
        fn backward_layers(
            &self,
            tapes: &[Self::Tape],
            dys: &[Self::Output],
            wrt_logits: bool,
            grads: &mut Self,
            scratch: &mut [Self::Tape],
            dxs: &mut [Self::Input],
        ) -> ::core::result::Result<(), ::staticnet::TrainError> {
            ::staticnet::model::check_batch(tapes.len(), dys.len(), scratch.len())?;
            if !dxs.is_empty() && dxs.len() != tapes.len() {
                return Err(::staticnet::TrainError::Config(
                    "backward_layers: dxs must be empty or hold one input per sample",
                ));
            }
            #items
            match (wrt_logits, dxs.is_empty()) {
                (false, true) => #ff,
                (true, true) => #tf,
                (false, false) => #ft,
                (true, false) => #tt,
            }
            for (dx, d) in dxs.iter_mut().zip(scratch.iter()) {
                *dx = d.input;
            }
            Ok(())
        }
    }
}

/// `update_running_stats`, `BATCH_DEPENDENT` and `BATCHED_EVAL`, for a
/// model with layers that have them.
fn running_stats(plan: &Plan) -> TokenStream {
    let updates: Vec<TokenStream> = (0..plan.nodes.len())
        .filter_map(|i| plan.nodes[i].layer.update_running_stats(&plan.site(i)))
        .collect();
    let update = if updates.is_empty() {
        TokenStream::new()
    } else {
        quote! {
            fn update_running_stats(&mut self, tape: &Self::Tape) {
                #[allow(unused_imports)]
                use ::staticnet::__private::kernels as k;
                #(#updates)*
            }
        }
    };
    let dependent = if plan.nodes.iter().any(|n| n.layer.batch_dependent()) {
        quote!(
            const BATCH_DEPENDENT: bool = true;
        )
    } else {
        TokenStream::new()
    };
    // predict/evaluate batch a model layer-major when its layers with a
    // matrix–matrix form over the batch (`forward_batch`: `Dense`) hold at
    // least half its parameters: such a forward reads each of their
    // weights once per chunk instead of once per sample, while every other
    // layer only pays for recording its tape (W2, an LSTM with a
    // `Dense(1)` head, measured 13% slower layer-major; W1, whose
    // `Dense(64)` holds 98% of the weights, 15% faster).
    let xs = quote!(xs);
    let count = |i: usize| plan.nodes[i].layer.param_count(plan.nodes[i].input);
    let total: u128 = (0..plan.nodes.len()).map(count).sum();
    let batched: u128 = (0..plan.nodes.len())
        .filter(|&i| {
            plan.nodes[i]
                .layer
                .forward_batch(&plan.site(i), &xs, false)
                .is_some()
        })
        .map(count)
        .sum();
    let dependent_any = plan.nodes.iter().any(|n| n.layer.batch_dependent());
    let eval = if batched > 0 && 2 * batched >= total && !dependent_any {
        quote!(
            const BATCHED_EVAL: bool = true;
        )
    } else {
        TokenStream::new()
    };
    quote!(#dependent #eval #update)
}

/// The inherent part (the hidden `__backward_layers`) and the `Train`
/// methods of layer-major training.
pub fn expand(model: &Ident, plan: &Plan) -> (TokenStream, TokenStream) {
    let backward = backward(plan);
    let (forward_inherent, forward) = forward(model, plan);
    let dispatch = backward_dispatch(model);
    let stats = running_stats(plan);
    (
        quote!(#forward_inherent #backward),
        quote!(#stats #forward #dispatch),
    )
}
