//! One file per layer kind. Each kind implements [`Layer`]: its options
//! and their errors (its `resolve` function), its output shape, its
//! tensors and their initialisation, and its code for every mode —
//! inference, the training forward onto the tape, backward (with and
//! without dL/dinput), the batched forms and the streaming step.
//!
//! The drivers in `plan.rs` and `expand/` know nothing about any kind:
//! they ask the node's `Layer` and assemble the struct, the impls, the
//! tape and the gradient flow of the graph.

pub mod activation;
pub mod args;
mod batchnorm;
mod conv1d;
mod conv2d;
mod dense;
mod depthwise;
mod dropout;
mod flatten;
mod global_pool;
pub mod int8;
mod merge;
mod pool;
mod pool1d;
mod recurrent;
mod reshape;

pub use activation::Act;

use crate::ast::LayerDecl;
use crate::ctxt::Ctxt;
use crate::plan::Node;
use crate::shape::Shape;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use std::any::Any;

/// Resolves a layer's kind and arguments into its [`Layer`]; records
/// errors and returns `None` if the layer cannot be understood. Every
/// argument is checked even after an error, so one expansion reports all
/// of a layer's mistakes.
pub fn resolve(cx: &Ctxt, decl: &LayerDecl) -> Option<Box<dyn Layer>> {
    let kind = decl.kind.to_string();
    let Some(entry) = KINDS.iter().find(|k| k.name == kind) else {
        cx.error_spanned(
            &decl.kind,
            crate::symbol::unknown_kind(&kind, &decl.name.to_string()),
        );
        return None;
    };
    let args = args::Args::collect_after(cx, decl, &entry.signature, merge_inputs(decl).len());
    let layer = (entry.resolve)(&args);
    if args.ok() {
        layer
    } else {
        None
    }
}

/// A layer kind of the DSL: its name, what it accepts, and how its
/// arguments become a [`Layer`].
pub struct Kind {
    pub name: &'static str,
    pub signature: args::Signature,
    pub resolve: fn(&args::Args) -> Option<Box<dyn Layer>>,
}

/// Every layer kind, in the order the "did you mean" lists show them.
pub static KINDS: &[Kind] = &[
    dense::KIND,
    conv2d::KIND,
    pool::MAX_POOL2D,
    pool::AVG_POOL2D,
    flatten::KIND,
    recurrent::SIMPLE_RNN,
    recurrent::LSTM,
    recurrent::GRU,
    activation::RELU,
    activation::SIGMOID,
    activation::TANH,
    activation::SOFTMAX,
    merge::ADD,
    merge::MULTIPLY,
    merge::CONCATENATE,
    batchnorm::KIND,
    dropout::KIND,
    reshape::RESHAPE,
    reshape::PERMUTE,
    depthwise::KIND,
    global_pool::GLOBAL_AVG_POOL,
    global_pool::GLOBAL_MAX_POOL,
    activation::RELU6,
    activation::LEAKY_RELU,
    activation::ELU,
    activation::GELU,
    activation::SILU,
    activation::HARD_SIGMOID,
    activation::HARD_SWISH,
    conv1d::KIND,
    pool1d::MAX_POOL1D,
    pool1d::AVG_POOL1D,
];

/// Whether `kind` is a merge layer (its positional arguments name inputs).
pub fn is_merge_kind(kind: &str) -> bool {
    merge::KINDS.contains(&kind)
}

/// The names of the nodes a merge layer reads: its leading positional
/// arguments that are plain names; empty for other layers.
pub fn merge_inputs(decl: &LayerDecl) -> Vec<&Ident> {
    if !is_merge_kind(&decl.kind.to_string()) {
        return Vec::new();
    }
    decl.args
        .iter()
        .map_while(|a| match (&a.key, &a.value) {
            (None, crate::ast::Value::Ident(id)) => Some(id),
            _ => None,
        })
        .collect()
}

/// The value given for option `name` of `decl` (the positional argument
/// counts as its option), for errors found after resolution.
pub fn arg_value<'a>(decl: &'a LayerDecl, name: &str) -> Option<&'a crate::ast::Value> {
    let kind = decl.kind.to_string();
    let sig = KINDS.iter().find(|k| k.name == kind).map(|k| &k.signature);
    args::arg_value(decl, sig, name)
}

/// A parameter tensor of a layer in PyTorch's `state_dict` naming and
/// layout: `member` is the field of the layer's parameter block, `suffix`
/// the part of the PyTorch name after `layer.`.
pub struct TensorDecl {
    pub member: &'static str,
    pub suffix: &'static str,
    pub shape: Vec<usize>,
}

/// What a layer's shape rule sees: its declaration, its input, the layer
/// that produced the input (for hints), and the error sink.
pub struct ShapeCx<'a, 'p> {
    pub cx: &'a Ctxt,
    pub decl: &'a LayerDecl,
    pub input: Shape,
    /// The node whose output this layer reads; `None` for the model input.
    pub prev: Option<&'a Node<'p>>,
    /// The model's input shape (for hints).
    pub model_input: Shape,
}

impl ShapeCx<'_, '_> {
    /// "the input is [..]" or "`conv1` outputs [..]", for errors.
    pub fn from(&self) -> String {
        match self.prev {
            Some(p) => format!("`{}` outputs {}", p.decl.name, self.input),
            None => format!("the input is {}", self.input),
        }
    }

    /// The value the user wrote for an option, to underline it; the
    /// layer's kind if it was not written (a default).
    pub fn value_of(&self, option: &str) -> &dyn quote::ToTokens {
        match arg_value(self.decl, option) {
            Some(v) => v,
            None => &self.decl.kind,
        }
    }

    /// For errors about an image: if the model's input looks like Keras'
    /// channels-last `[height, width, channels]` (a last dimension of 1 or
    /// 3 after larger ones), the hint that staticnet writes channels first.
    pub fn channels_last_hint(&self) -> String {
        match self.model_input {
            Shape::Image(h, w, c) if (c == 1 || c == 3) && h > c && w > c => format!(
                "; the input {} looks like Keras' [height, width, channels]: staticnet writes [channels, height, width], i.e. `input: [{c}, {h}, {w}]`",
                self.model_input
            ),
            _ => String::new(),
        }
    }

    /// Whether the input comes from a layer of kind `L`.
    pub fn prev_is<L: 'static>(&self) -> Option<&L> {
        self.prev.and_then(|p| p.layer.as_any().downcast_ref::<L>())
    }
}

/// Where one node's code is generated: its name, span and shapes, and
/// where its input and output live in the tape (for the training modes).
pub struct Site {
    /// The layer's field and local name.
    pub name: Ident,
    /// The layer's location with the macro's own hygiene (see
    /// [`crate::expand::layer_span`]).
    pub span: Span,
    pub input: Shape,
    pub output: Shape,
    /// Every input's shape (one but for merge layers).
    pub inputs: Vec<Shape>,
}

impl Site {
    /// `self.<name>`: the layer's parameters.
    pub fn params(&self) -> TokenStream {
        let name = &self.name;
        quote!(self.#name)
    }

    /// `grads.<name>`: the layer's parameter gradients.
    pub fn grads(&self) -> TokenStream {
        let name = &self.name;
        quote!(grads.#name)
    }

    /// The tape field of a layer's extra record (a recurrent layer's gates
    /// and states): `__<name>`.
    pub fn extra_field(&self) -> Ident {
        format_ident!("__{}", self.name)
    }

    /// `callee(args)` with the callee located at the layer, so a type
    /// error in it points there.
    pub fn call(&self, callee: TokenStream, args: TokenStream) -> TokenStream {
        crate::expand::call(self.span, callee, args)
    }
}

/// The operands of a backward call: the layer's input and output as
/// recorded in the tape, and the gradient arriving at its output.
pub struct BackIo {
    pub input: TokenStream,
    pub output: TokenStream,
    pub grad: TokenStream,
}

/// The same for the batched backward: each is an array over the batch.
pub type BatchIo = BackIo;

/// A field of the tape besides the layer's output.
pub struct TapeField {
    pub name: Ident,
    pub ty: TokenStream,
    pub doc: String,
}

/// What a layer adds to the streaming `step`: its state (if any), the
/// statements of one step, and the expression of the step's output.
pub struct StreamStep {
    /// The type of `state.<name>`, if the layer keeps state.
    pub state: Option<TokenStream>,
    /// Statements run before the output is read (may be empty).
    pub run: TokenStream,
    pub output: TokenStream,
}

/// A layer's own layer-major backward (see [`Layer::backward_layers`]).
pub struct LayersBackward {
    /// Statements run once over the whole batch before any sample's
    /// `dL/d(input)`, with `tapes: &[Tape]`, `scratch: &mut [Tape]` (the
    /// per-sample gradients) and `grads` in scope: sums over the batch and
    /// the parameter gradients. They are all that runs for a layer below
    /// which no gradient is needed.
    pub batch: TokenStream,
    /// One sample's `dL/d(input)`, an expression with `tape` (its tape) and
    /// `d` (its scratch tape) bound; it may use locals of `batch`.
    pub each: TokenStream,
}

/// One layer kind's knowledge. Methods with a default are for what most
/// kinds do not have (parameters, extra tape records, batched forms).
pub trait Layer {
    /// The canonical kind name (for the summary).
    fn kind(&self) -> &'static str;

    /// For downcasts in other kinds' hints (`ShapeCx::prev_is`).
    fn as_any(&self) -> &dyn Any;

    /// The output shape for this input, recording errors; a layer may
    /// keep what it derived (padding) for code generation.
    fn output_shape(&mut self, at: &ShapeCx) -> Option<Shape>;

    /// Parameter count for this input (in `u128`, so the count of an
    /// absurd layer is reported rather than overflowing).
    fn param_count(&self, _input: Shape) -> u128 {
        0
    }

    /// The parameter block's type, if the layer has parameters.
    fn param_type(&self, _s: &Site) -> Option<TokenStream> {
        None
    }

    /// The parameter block's type without its generics (for struct
    /// literals of compiled-in weights).
    fn param_block(&self) -> Option<TokenStream> {
        None
    }

    /// The parameter tensors in `state_dict` order.
    fn tensors(&self, _s: &Site) -> Vec<TensorDecl> {
        Vec::new()
    }

    /// Keras' default initialisation of the block from `rng`.
    fn init(&self, _s: &Site) -> Option<TokenStream> {
        None
    }

    /// The activation applied at this layer's output (`Linear` if none):
    /// a loss "from logits" skips it on the model's last layer.
    fn activation(&self) -> Act {
        Act::Linear
    }

    /// Whether the layer is nothing but its activation (its logits are
    /// its input, so the tape needs no separate record of them).
    fn activation_only(&self) -> bool {
        false
    }

    /// The inference forward of one sample: an expression of the output.
    /// `x` is the input by reference, `x_val` by value. With `linear`
    /// the layer's activation is skipped (the logits).
    fn forward(&self, s: &Site, x: &TokenStream, x_val: &TokenStream, linear: bool) -> TokenStream;

    /// Tape fields besides the output (a recurrent layer's gates).
    fn tape_fields(&self, _s: &Site) -> Vec<TapeField> {
        Vec::new()
    }

    /// Whether the output has its own tape field `tape.<name>` (else it
    /// lives in an extra record, see [`Layer::tape_output`]).
    fn output_in_tape(&self) -> bool {
        true
    }

    /// Where the output lives in `tape` (default `tape.<name>`).
    fn tape_output(&self, s: &Site) -> TokenStream {
        let name = &s.name;
        quote!(tape.#name)
    }

    /// The forward written into a caller-owned output: a statement
    /// storing the output for input `x` (by reference) into the place
    /// `out` through the kernel's `_into` form, so a training forward
    /// records straight into its tape and never relies on copy elision
    /// for a large output. `None` (the default) for kinds whose output is
    /// small (a per-channel vector): [`Layer::write_forward`] then assigns
    /// [`Layer::forward`]'s value.
    fn forward_into(
        &self,
        _s: &Site,
        _x: &TokenStream,
        _x_val: &TokenStream,
        _out: &TokenStream,
        _linear: bool,
    ) -> Option<TokenStream> {
        None
    }

    /// A statement storing the forward of `x` into the place `out`: the
    /// `_into` form where the kind has one, else `out = forward;`.
    fn write_forward(
        &self,
        s: &Site,
        x: &TokenStream,
        x_val: &TokenStream,
        out: &TokenStream,
        linear: bool,
    ) -> TokenStream {
        self.forward_into(s, x, x_val, out, linear)
            .unwrap_or_else(|| {
                let call = self.forward(s, x, x_val, linear);
                quote!(#out = #call;)
            })
    }

    /// The training forward of one sample onto the tape: statements.
    /// `input` is where the input lives in the tape.
    fn forward_train(&self, s: &Site, input: &TokenStream) -> TokenStream {
        let name = &s.name;
        self.write_forward(s, &quote!(&#input), input, &quote!(tape.#name), false)
    }

    /// Whether the layer has trainable parameters (its backward must run).
    fn has_params(&self) -> bool {
        false
    }

    /// The backward of one sample: an expression of dL/d(input). With
    /// `linear` the activation is skipped (the gradient is the logits').
    fn backward(&self, s: &Site, io: &BackIo, linear: bool) -> TokenStream;

    /// The backward without dL/d(input) (the kernels' `*_params` forms)
    /// for a layer below which no gradient is needed; `None` for a layer
    /// without parameters.
    fn backward_params(&self, _s: &Site, _io: &BackIo, _linear: bool) -> Option<TokenStream> {
        None
    }

    /// The batched training forward over `K` samples, if the kind has one
    /// (an expression of `[output; K]`); `xs` is `[&input; K]`.
    fn forward_batch(&self, _s: &Site, _xs: &TokenStream, _linear: bool) -> Option<TokenStream> {
        None
    }

    /// The batched backward: an expression of `[dL/d(input); K]`, or with
    /// `params_only` a statement accumulating only the parameter
    /// gradients. `None` if the kind has no batched form.
    fn backward_batch(
        &self,
        _s: &Site,
        _io: &BatchIo,
        _linear: bool,
        _params_only: bool,
    ) -> Option<TokenStream> {
        None
    }

    /// The streaming step (one time step of a sequence), if the layer
    /// can run step by step; `x` is the step's input vector by reference.
    fn stream(&self, _s: &Site, _x: &TokenStream) -> Option<StreamStep> {
        None
    }

    // Merge layers (`Add`, `Multiply`, `Concatenate`) read several nodes,
    // named by their positional arguments; the drivers call these instead
    // of the single-input forms above for them.

    /// Whether the layer reads the nodes its positional arguments name.
    fn is_merge(&self) -> bool {
        false
    }

    /// A merge's output shape from its inputs' (name, shape), recording
    /// errors (shapes that do not fit, naming both).
    fn merge_shape(&mut self, _at: &ShapeCx, _inputs: &[(String, Shape)]) -> Option<Shape> {
        None
    }

    /// A merge's forward: `xs` are its inputs by reference.
    fn forward_merge(&self, _s: &Site, _xs: &[TokenStream], _linear: bool) -> TokenStream {
        quote!(::core::compile_error!(
            "staticnet: internal error: not a merge layer"
        ))
    }

    /// A merge's forward written into the place `out` (see
    /// [`Layer::forward_into`]); `None` to assign [`Layer::forward_merge`].
    fn forward_merge_into(
        &self,
        _s: &Site,
        _xs: &[TokenStream],
        _out: &TokenStream,
        _linear: bool,
    ) -> Option<TokenStream> {
        None
    }

    /// A statement storing a merge's forward into the place `out`.
    fn write_merge(
        &self,
        s: &Site,
        xs: &[TokenStream],
        out: &TokenStream,
        linear: bool,
    ) -> TokenStream {
        self.forward_merge_into(s, xs, out, linear)
            .unwrap_or_else(|| {
                let call = self.forward_merge(s, xs, linear);
                quote!(#out = #call;)
            })
    }

    /// A merge's backward: one expression of dL/d(input) per input, from
    /// the inputs and output as recorded in the tape and `grad`.
    fn backward_merge(
        &self,
        _s: &Site,
        _inputs: &[TokenStream],
        _output: &TokenStream,
        _grad: &TokenStream,
        _linear: bool,
    ) -> Vec<TokenStream> {
        Vec::new()
    }

    /// A merge's streaming step: `xs` are its inputs' step vectors by
    /// reference.
    fn stream_merge(&self, _s: &Site, _xs: &[TokenStream]) -> Option<StreamStep> {
        None
    }

    /// The float buffers in `state_dict` order (BatchNorm's running
    /// statistics): members of the parameter block that are loaded and
    /// saved with the model (`visit_buffers`) but are not trainable.
    fn buffers(&self, _s: &Site) -> Vec<TensorDecl> {
        Vec::new()
    }

    /// The I64 scalar buffers (`num_batches_tracked`), by suffix, which is
    /// also the member's name: optional on load, written on save.
    fn counters(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Where the training forward keeps the layer's pre-activation of its
    /// own, if it does (a `Dense` or `Conv2d` with `gelu`, `silu` or
    /// `hard_swish` fused in, whose derivative needs it): on the last layer
    /// the drivers then read the logits there instead of adding
    /// `__logits` and splitting the activation off themselves.
    fn pre_activation(&self, _s: &Site) -> Option<TokenStream> {
        None
    }

    // Inference fusion (`plan::Plan::inference_fusions`): a layer that is a
    // per-channel affine at inference (BatchNorm with its stored
    // statistics), the element-wise activation layer after it, and the
    // convolution or `Dense` before it run as one loop, the affine and the
    // activation applied by the kernel to its sums before it stores them.

    /// The layer as a per-channel affine at inference, if it is one: an
    /// expression of its `k::ChannelAffine<T, C>` (one scale and shift per
    /// channel, computed once per call).
    fn inference_affine(&self, _s: &Site) -> Option<TokenStream> {
        None
    }

    /// Whether the inference forward (and the streaming step, if the layer
    /// streams) can apply a per-channel affine and an element-wise
    /// activation to its output sums in its own loop: true for a layer with
    /// a kernel epilogue and no activation of its own.
    fn absorbs_affine(&self) -> bool {
        false
    }

    /// The inference forward followed by the per-channel affine `affine`
    /// (an expression of a `k::ChannelAffine` over the output channels) and
    /// then `act`, in the layer's output loop; only called where
    /// [`Layer::absorbs_affine`].
    fn forward_affine(
        &self,
        _s: &Site,
        _x: &TokenStream,
        _affine: &TokenStream,
        _act: Act,
    ) -> TokenStream {
        quote!(::core::compile_error!(
            "staticnet: internal error: the layer absorbs no affine"
        ))
    }

    /// The streaming step with the affine and `act` fused in, as
    /// [`Layer::forward_affine`]; `None` where the layer does not stream
    /// (or not fused: the drivers then run the three separately).
    fn stream_affine(
        &self,
        _s: &Site,
        _x: &TokenStream,
        _affine: &TokenStream,
        _act: Act,
    ) -> Option<StreamStep> {
        None
    }

    // Layer-major training (`Train::forward_train_layers` and
    // `backward_layers`): a batch of `n` samples, each layer over all of
    // them before the next. A layer whose training forward is the same
    // for every mode and sample needs none of these (the drivers loop its
    // one-sample code, or its `forward_batch`/`backward_batch` on chunks
    // of `CHUNK` samples).

    /// The layer-major training forward of the whole batch, if the kind
    /// has one of its own (BatchNorm's batch statistics, Dropout's mask):
    /// statements with `tapes: &mut [Tape]`, `mode: ::staticnet::Mode` and
    /// `rng: &mut ::staticnet::Rng` in scope, which record every sample's
    /// output (and whatever [`Layer::tape_fields`] the backward reads) and
    /// may `return Err(::staticnet::TrainError::..)`. `input` is the place
    /// of the layer's input in a `tape`. For example BatchNorm's:
    ///
    /// ```text
    /// let stats = if mode.batch_statistics() {
    ///     match k::batchnorm_batch_stats::<T, _, 8>(tapes.iter().map(|tape| &tape.conv1)) { .. }
    /// } else {
    ///     k::batchnorm_running_stats(&self.bn1)
    /// };
    /// for tape in tapes.iter_mut() {
    ///     k::batchnorm_train_into(&self.bn1, &stats, &tape.conv1, eps, &mut tape.bn1);
    ///     tape.__bn1 = stats.clone();
    /// }
    /// ```
    fn forward_layers(&self, _s: &Site, _input: &TokenStream) -> Option<TokenStream> {
        None
    }

    /// The layer-major backward, if the kind has one of its own (a
    /// BatchNorm's `dx` depends on the whole batch's `Σ dy` and
    /// `Σ dy ⊙ x̂`; a Dropout's on its recorded mask): `io.input` and
    /// `io.output` are places in `tape`, `io.grad` the gradient's place in
    /// `d`, the sample's scratch tape. With `linear` the activation is
    /// skipped, as [`Layer::backward`].
    fn backward_layers(&self, _s: &Site, _io: &BackIo, _linear: bool) -> Option<LayersBackward> {
        None
    }

    /// The parameter gradients of the whole batch, for a layer below which
    /// no gradient is needed (a network's first layer), if the kind has a
    /// kernel that is faster over the batch than sample by sample (a
    /// `Conv2d` sums its filters' partial sums over the samples before
    /// reducing them): a statement with `tapes: &[Tape]` and `scratch:
    /// &[Tape]` in scope, `io`'s places in `tape` and `d` as
    /// [`Layer::backward_layers`]'.
    fn backward_params_layers(
        &self,
        _s: &Site,
        _io: &BackIo,
        _linear: bool,
    ) -> Option<TokenStream> {
        None
    }

    /// A statement applying to the layer's buffers what the layer-major
    /// forward recorded in `tape` (BatchNorm's running statistics), run by
    /// `Train::update_running_stats` after a step; `None` for a layer
    /// without buffers.
    fn update_running_stats(&self, _s: &Site) -> Option<TokenStream> {
        None
    }

    /// Whether one sample's training forward depends on the other samples
    /// of the batch (BatchNorm with batch statistics): such a batch is never
    /// split across threads.
    fn batch_dependent(&self) -> bool {
        false
    }

    // The int8 form (`#[int8 = "file.safetensors"]`, `expand/int8.rs`):
    // the same graph on TensorFlow Lite's int8 kernels (`staticnet::quant`),
    // its parameters read from the converted file. A kind that does not
    // override these has no int8 form (a compile error on the layer).

    /// What the int8 form makes of the layer: a kernel call, nothing
    /// (folded into the layer before it), or a compile error.
    fn int8_form(&self, _s: &Site) -> int8::Int8Form {
        int8::Int8Form::Unsupported(None)
    }

    /// The tensors `<name>.<suffix>` the int8 file holds for the layer
    /// (the driver adds the scales and zero points every layer may carry).
    fn int8_tensors(&self, _s: &Site) -> Vec<int8::Int8Tensor> {
        Vec::new()
    }

    /// The type of the layer's field in the int8 struct, if it has
    /// parameters (`::staticnet::quant::Q*Params`, spelled in full).
    fn int8_param_type(&self, _s: &Site) -> Option<TokenStream> {
        None
    }

    /// The value of that field: `t(suffix)` is the expression of a tensor
    /// of [`Layer::int8_tensors`] (a literal for a scalar, a constant
    /// decoded from the file for an array).
    fn int8_param_value(&self, _s: &Site, _t: &dyn Fn(&str) -> TokenStream) -> Option<TokenStream> {
        None
    }

    /// The int8 forward: a statement writing the output for the inputs
    /// `xs` (references) into the place `out`, every value overwritten,
    /// with `q` (`staticnet::quant`), `k` (the geometry types) and
    /// `interpreter` (a `q::Interpreter`) in scope; `t` as in
    /// [`Layer::int8_param_value`] (a pool's clamp range is written into the
    /// call).
    fn int8_forward_into(
        &self,
        _s: &Site,
        _xs: &[TokenStream],
        _out: &TokenStream,
        _t: &dyn Fn(&str) -> TokenStream,
    ) -> TokenStream {
        quote!(::core::compile_error!(
            "staticnet: internal error: the layer has no int8 form"
        );)
    }

    /// Whether the inference output is the input's memory seen flat (a
    /// `Flatten` of an image): the forward may then let the layer before
    /// it write straight into this layer's vector instead of copying.
    fn is_flat_view(&self, input: Shape) -> bool {
        let _ = input;
        false
    }
}

/// An unsuffixed integer literal.
pub fn lit(n: usize) -> proc_macro2::Literal {
    proc_macro2::Literal::usize_unsuffixed(n)
}
