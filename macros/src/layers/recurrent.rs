//! `SimpleRnn(units, activation = tanh)`, `Lstm(units)`, `Gru(units)`,
//! each with `return_sequences` (false: the last hidden state `[units]`;
//! true: every step's `[t, units]`). Unrolled over the static sequence
//! length for training (BPTT); step by step for streaming.
//!
//! Tensors (PyTorch's `nn.RNN`/`nn.LSTM`/`nn.GRU`): `weight_ih_l0`
//! `[G·H, F]`, `weight_hh_l0` `[G·H, H]`, `bias_ih_l0`, `bias_hh_l0`
//! `[G·H]`, with G = 1, 4 (gates i, f, g, o), 3 (gates r, z, n).
//! Kernels: `runtime/src/kernels/recurrent/{simple_rnn,lstm,gru}.rs`.

use super::args::{Args, Signature};
use super::{
    lit, Act, BackIo, Kind, Layer, LayersBackward, ShapeCx, Site, StreamStep, TapeField, TensorDecl,
};
use crate::shape::Shape;
use crate::symbol;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use std::any::Any;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Simple(Act),
    Lstm,
    Gru,
}

impl Cell {
    /// Gate blocks per unit in PyTorch's weight layout.
    pub fn gates(self) -> usize {
        match self {
            Cell::Simple(_) => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

pub struct Recurrent {
    pub cell: Cell,
    pub units: usize,
    pub return_sequences: bool,
}

const fn kind(name: &'static str, options: &'static [&'static str], example: &'static str) -> Kind {
    Kind {
        name,
        signature: Signature {
            positional: Some(("units", "the number of units")),
            options,
            example,
        },
        resolve,
    }
}

pub const SIMPLE_RNN: Kind = kind(
    "SimpleRnn",
    &["activation", "return_sequences"],
    "SimpleRnn(32, return_sequences = true)",
);
pub const LSTM: Kind = kind(
    "Lstm",
    &["return_sequences"],
    "Lstm(32, return_sequences = true)",
);
pub const GRU: Kind = kind(
    "Gru",
    &["return_sequences"],
    "Gru(32, return_sequences = true)",
);

fn resolve(args: &Args) -> Option<Box<dyn Layer>> {
    let units = args.positional_size();
    let act = args.activation_or(Act::Tanh);
    let rs = args.bool_or("return_sequences", false);
    let cell = match args.kind() {
        "Lstm" => Cell::Lstm,
        "Gru" => Cell::Gru,
        _ => match act {
            Some(Act::Softmax) => {
                if let Some(v) = args.get("activation") {
                    let name = args.name();
                    args.cx().error_spanned(v, format!("`{name}`: `SimpleRnn` takes an element-wise activation ({}), not `softmax`; add a `Softmax` layer after `{name}` instead", symbol::one_of(&["tanh", "relu", "sigmoid", "linear"])));
                }
                return None;
            }
            Some(a) if a.needs_input() => {
                if let Some(v) = args.get("activation") {
                    let name = args.name();
                    args.cx().error_spanned(v, format!("`{name}`: `SimpleRnn`'s backward takes the derivative of its activation from the output, and the derivative of `{}` needs the input; use one of {}", crate::symbol::ACTIVATIONS.iter().find(|w| Act::from_word(w) == Some(a)).copied().unwrap_or("it"), symbol::one_of(&["tanh", "relu", "sigmoid", "linear", "relu6", "leaky_relu", "elu", "hard_sigmoid"])));
                }
                return None;
            }
            act => Cell::Simple(act?),
        },
    };
    Some(Box::new(Recurrent {
        cell,
        units: units?,
        return_sequences: rs?,
    }))
}

impl Recurrent {
    /// `(steps, features, units, gate rows)` as literals.
    fn sizes(&self, s: &Site) -> [proc_macro2::Literal; 4] {
        let (t, f) = match s.input {
            Shape::Seq(t, f) => (t, f),
            other => (1, other.width()),
        };
        [t, f, self.units, self.cell.gates() * self.units].map(lit)
    }

    /// The kernel for `mode`, with its generics: SimpleRnn's carry its
    /// activation, Lstm's and Gru's their gate rows.
    fn kernel(&self, s: &Site, mode: Mode) -> TokenStream {
        let [t, f, h, gh] = self.sizes(s);
        let name = match (self.cell, mode) {
            (Cell::Simple(_), Mode::Last) => "simple_rnn",
            (Cell::Simple(_), Mode::Seq) => "simple_rnn_seq",
            (Cell::Simple(_), Mode::Train) => "simple_rnn_train",
            (Cell::Simple(_), Mode::Backward) => "simple_rnn_backward",
            (Cell::Simple(_), Mode::BackwardParams) => "simple_rnn_backward_params",
            (Cell::Simple(_), Mode::Step) => "simple_rnn_step",
            (Cell::Lstm, Mode::Last) => "lstm",
            (Cell::Lstm, Mode::Seq) => "lstm_seq",
            (Cell::Lstm, Mode::Train) => "lstm_train",
            (Cell::Lstm, Mode::Backward) => "lstm_backward",
            (Cell::Lstm, Mode::BackwardParams) => "lstm_backward_params",
            (Cell::Lstm, Mode::Step) => "lstm_step",
            (Cell::Gru, Mode::Last) => "gru",
            (Cell::Gru, Mode::Seq) => "gru_seq",
            (Cell::Gru, Mode::Train) => "gru_train",
            (Cell::Gru, Mode::Backward) => "gru_backward",
            (Cell::Gru, Mode::BackwardParams) => "gru_backward_params",
            (Cell::Gru, Mode::Step) => "gru_step",
        };
        let f_ = Ident::new(name, s.span);
        match (self.cell, mode) {
            (Cell::Simple(a), Mode::Step) => {
                let a = a.ty();
                quote!(k::#f_::<T, #a, #f, #h>)
            }
            (Cell::Simple(a), _) => {
                let a = a.ty();
                quote!(k::#f_::<T, #a, #f, #h, #t>)
            }
            (_, Mode::Step) => quote!(k::#f_::<T, #f, #h, #gh>),
            _ => quote!(k::#f_::<T, #f, #h, #gh, #t>),
        }
    }

    /// The type of the gates-and-states record kept for backward.
    fn tape_type(&self, s: &Site) -> TokenStream {
        let [t, _, h, gh] = self.sizes(s);
        match self.cell {
            Cell::Simple(_) => {
                quote_spanned!(s.span=> ::staticnet::kernels::SimpleRnnTape<T, #h, #t>)
            }
            Cell::Lstm => quote_spanned!(s.span=> ::staticnet::kernels::LstmTape<T, #h, #gh, #t>),
            Cell::Gru => quote_spanned!(s.span=> ::staticnet::kernels::GruTape<T, #h, #gh, #t>),
        }
    }
}

#[derive(Clone, Copy)]
enum Mode {
    /// Inference, the last hidden state.
    Last,
    /// Inference, every step's hidden state.
    Seq,
    Train,
    Backward,
    BackwardParams,
    Step,
}

impl Layer for Recurrent {
    fn kind(&self) -> &'static str {
        match self.cell {
            Cell::Simple(_) => "SimpleRnn",
            Cell::Lstm => "Lstm",
            Cell::Gru => "Gru",
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape> {
        if let Shape::Seq(t, _) = at.input {
            return Some(if self.return_sequences {
                Shape::Seq(t, self.units)
            } else {
                Shape::Vector(self.units)
            });
        }
        let name = &at.decl.name;
        let hint = match (at.prev, at.input) {
            (Some(p), _)
                if at
                    .prev_is::<Recurrent>()
                    .is_some_and(|r| !r.return_sequences) =>
            {
                format!(
                    " (its last hidden state only); set `return_sequences = true` on `{}`",
                    p.decl.name
                )
            }
            (None, _) => "; declare the input as `[steps, features]`".to_string(),
            (Some(p), _) if at.prev_is::<super::flatten::Flatten>().is_some() => format!(
                "; `{}` flattened the sequence: remove it, or move `{name}` before it",
                p.decl.name
            ),
            (Some(_), Shape::Image(..)) => format!(
                "; recurrent layers take a sequence, so `{name}` cannot follow convolution or pooling layers"
            ),
            (Some(_), _) => format!(
                "; recurrent layers go before the layers that make a vector, so move `{name}` up"
            ),
        };
        at.cx.error_spanned(
            &at.decl.kind,
            format!(
                "`{}` needs a sequence [steps, features], but {}{hint}",
                self.kind(),
                at.from()
            ),
        );
        None
    }

    fn param_count(&self, input: Shape) -> u128 {
        let Shape::Seq(_, f) = input else { return 0 };
        let gh = self.cell.gates() as u128 * self.units as u128;
        gh * (f as u128 + self.units as u128 + 2)
    }

    fn param_type(&self, s: &Site) -> Option<TokenStream> {
        let [_, f, h, gh] = self.sizes(s);
        Some(quote_spanned!(s.span=> ::staticnet::RecurrentParams<T, #f, #h, #gh>))
    }

    fn param_block(&self) -> Option<TokenStream> {
        Some(quote!(::staticnet::RecurrentParams))
    }

    fn tensors(&self, s: &Site) -> Vec<TensorDecl> {
        let Shape::Seq(_, f) = s.input else {
            return Vec::new();
        };
        let (h, gh) = (self.units, self.cell.gates() * self.units);
        let t = |member, suffix, shape| TensorDecl {
            member,
            suffix,
            shape,
        };
        vec![
            t("weight_ih", "weight_ih_l0", vec![gh, f]),
            t("weight_hh", "weight_hh_l0", vec![gh, h]),
            t("bias_ih", "bias_ih_l0", vec![gh]),
            t("bias_hh", "bias_hh_l0", vec![gh]),
        ]
    }

    fn init(&self, s: &Site) -> Option<TokenStream> {
        let p = s.params();
        let forget_one = self.cell == Cell::Lstm;
        Some(quote!(#p.init_keras(&mut rng, #forget_one);))
    }

    fn forward(
        &self,
        s: &Site,
        x: &TokenStream,
        _x_val: &TokenStream,
        _linear: bool,
    ) -> TokenStream {
        let mode = if self.return_sequences {
            Mode::Seq
        } else {
            Mode::Last
        };
        let p = s.params();
        s.call(self.kernel(s, mode), quote!(&#p, #x))
    }

    fn tape_fields(&self, s: &Site) -> Vec<TapeField> {
        vec![TapeField {
            name: s.extra_field(),
            ty: self.tape_type(s),
            doc: format!("`{}`'s gates and states, every step.", s.name),
        }]
    }

    fn output_in_tape(&self) -> bool {
        !self.return_sequences
    }

    fn tape_output(&self, s: &Site) -> TokenStream {
        let (name, extra) = (&s.name, s.extra_field());
        if self.return_sequences {
            quote!(tape.#extra.h)
        } else {
            quote!(tape.#name)
        }
    }

    fn forward_train(&self, s: &Site, input: &TokenStream) -> TokenStream {
        let (name, extra, p) = (&s.name, s.extra_field(), s.params());
        let call = s.call(
            self.kernel(s, Mode::Train),
            quote!(&#p, &#input, &mut tape.#extra),
        );
        if self.return_sequences {
            quote!(#call;)
        } else {
            let [t, _, h, _] = self.sizes(s);
            quote!(#call; tape.#name = k::last_step::<T, #h, #t>(&tape.#extra.h);)
        }
    }

    fn has_params(&self) -> bool {
        true
    }

    fn backward(&self, s: &Site, io: &BackIo, _linear: bool) -> TokenStream {
        self.backward_call(s, io, Mode::Backward)
    }

    fn backward_params(&self, s: &Site, io: &BackIo, _linear: bool) -> Option<TokenStream> {
        Some(self.backward_call(s, io, Mode::BackwardParams))
    }

    /// An `Lstm`'s or `Gru`'s batched forward (`k::lstm_train_batch`,
    /// `k::gru_train_batch`): per step one matrix–matrix product over
    /// `k::LSTM_BATCH` samples' gates, the rest of the batch one sample at a
    /// time through the same kernel. `SimpleRnn` has none (the driver loops
    /// its one-sample forward).
    fn forward_layers(&self, s: &Site, input: &TokenStream) -> Option<TokenStream> {
        let kernel = match self.cell {
            Cell::Lstm => "lstm_train_batch",
            Cell::Gru => "gru_train_batch",
            Cell::Simple(_) => return None,
        };
        let kernel = Ident::new(kernel, s.span);
        let [t, f, h, gh] = self.sizes(s);
        let (name, extra, p) = (&s.name, s.extra_field(), s.params());
        let call = |nb: TokenStream, items: TokenStream| {
            s.call(
                quote!(k::#kernel::<T, #f, #h, #gh, #t, #nb>),
                quote!(&#p, #items),
            )
        };
        let block = call(
            nb(),
            quote!(chunk.each_mut().map(|tape| (&#input, &mut tape.#extra))),
        );
        let one = call(quote!(1), quote!([(&#input, &mut tape.#extra)]));
        let nb = nb();
        let last = if self.return_sequences {
            TokenStream::new()
        } else {
            quote! {
                for tape in tapes.iter_mut() {
                    tape.#name = k::last_step::<T, #h, #t>(&tape.#extra.h);
                }
            }
        };
        Some(quote! {
            let (chunks, rest) = ::staticnet::train::chunks_mut::<_, #nb>(tapes);
            for chunk in chunks {
                #block;
            }
            for tape in rest {
                #one;
            }
            #last
        })
    }

    /// An `Lstm`'s or `Gru`'s batched backward through time: `dL/dz` of
    /// `k::LSTM_BATCH` samples at a time (`k::lstm_backward_batch`,
    /// `k::gru_backward_batch`: per step one matrix–matrix product for
    /// `dL/dh`), stored in each sample's scratch tape (in its record's
    /// `gates` place, and a GRU's hidden-side `n` rows in its `hn` place:
    /// unused there otherwise), then the weight gradients over the whole
    /// batch (`k::*_backward_batch_params`) and each sample's `dL/dx` from
    /// its `dz`.
    fn backward_layers(&self, s: &Site, io: &BackIo, _linear: bool) -> Option<LayersBackward> {
        let cell = match self.cell {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
            Cell::Simple(_) => return None,
        };
        let kernel = |what: &str| Ident::new(&format!("{cell}_backward_batch{what}"), s.span);
        let (batch, params_k, dx_k) = (kernel(""), kernel("_params"), kernel("_dx"));
        let [t, f, h, gh] = self.sizes(s);
        let (extra, p, g) = (s.extra_field(), s.params(), s.grads());
        let BackIo { input, grad, .. } = io;
        // Where the sample's dL/dz go in its scratch tape `d`.
        let (dz, dz_ref) = match self.cell {
            Cell::Gru => (
                quote!(&mut d.#extra.gates, &mut d.#extra.hn),
                quote!(&d.#extra.gates, &d.#extra.hn),
            ),
            _ => (quote!(&mut d.#extra.gates), quote!(&d.#extra.gates)),
        };
        let call = |nb: TokenStream, tapes: TokenStream, items: TokenStream| {
            s.call(
                quote!(k::#batch::<T, _, #f, #h, #gh, #t, #nb>),
                quote!(&#p, #tapes, #items),
            )
        };
        let block = call(
            nb(),
            quote!(tc.each_ref().map(|tape| &tape.#extra)),
            quote!(dc.each_mut().map(|d| (&#grad, #dz))),
        );
        let one = call(quote!(1), quote!([&tape.#extra]), quote!([(&#grad, #dz)]));
        let params = s.call(
            quote!(k::#params_k::<T, #f, #h, #gh, #t>),
            quote!(
                tapes.iter().zip(scratch.iter()).map(|(tape, d)| (&#input, &tape.#extra, #dz_ref)),
                &mut #g
            ),
        );
        let nb = nb();
        Some(LayersBackward {
            batch: quote! {
                {
                    let (t_chunks, t_rest) = ::staticnet::train::chunks::<_, #nb>(tapes);
                    let (d_chunks, d_rest) = ::staticnet::train::chunks_mut::<_, #nb>(scratch);
                    for (tc, dc) in t_chunks.iter().zip(d_chunks) {
                        #block;
                    }
                    for (tape, d) in t_rest.iter().zip(d_rest) {
                        #one;
                    }
                }
                #params;
            },
            each: s.call(
                quote!(k::#dx_k::<T, #f, #h, #gh, #t>),
                quote!(&#p, &d.#extra.gates),
            ),
        })
    }

    fn stream(&self, s: &Site, x: &TokenStream) -> Option<StreamStep> {
        let (name, p) = (&s.name, s.params());
        let h = lit(self.units);
        let state = match self.cell {
            Cell::Simple(_) => quote_spanned!(s.span=> ::staticnet::kernels::SimpleRnnState<T, #h>),
            Cell::Lstm => quote_spanned!(s.span=> ::staticnet::kernels::LstmState<T, #h>),
            Cell::Gru => quote_spanned!(s.span=> ::staticnet::kernels::GruState<T, #h>),
        };
        let step = s.call(
            self.kernel(s, Mode::Step),
            quote!(&#p, #x, &mut state.#name),
        );
        let out = match self.cell {
            Cell::Lstm => quote!(state.#name.h),
            _ => quote!(state.#name),
        };
        Some(StreamStep {
            state: Some(state),
            run: quote!(#step;),
            output: out,
        })
    }
}

/// The samples per call of the batched `Lstm` kernels, as the kernels
/// choose it.
fn nb() -> TokenStream {
    quote!({ k::LSTM_BATCH })
}

impl Recurrent {
    /// `kernel(&self.l, &input, &tape.__l, &dys, &mut grads.l)`, where
    /// `dys` is every step's gradient (only the last step's is non-zero
    /// without `return_sequences`).
    fn backward_call(&self, s: &Site, io: &BackIo, mode: Mode) -> TokenStream {
        let [t, _, h, _] = self.sizes(s);
        let (p, g, extra) = (s.params(), s.grads(), s.extra_field());
        let BackIo { input, grad, .. } = io;
        let dys = if self.return_sequences {
            grad.clone()
        } else {
            s.call(quote!(k::last_step_grad::<T, #h, #t>), quote!(&#grad))
        };
        s.call(
            self.kernel(s, mode),
            quote!(&#p, &#input, &tape.#extra, &#dys, &mut #g),
        )
    }
}
