//! The plan: the model as a graph of nodes, one per layer, each with an
//! explicit list of the nodes (or the model input) it reads, its resolved
//! [`Layer`] and its shapes. Today's DSL fills the inputs as a chain (each
//! layer reads the line above); every driver in `expand/` walks the graph
//! through these lists, so residual graphs need only syntax on top.

use crate::ast::{Entry, InputDecl, LayerDecl, ModelDef};
use crate::ctxt::Ctxt;
use crate::layers::{self, Layer, ShapeCx, Site};
use crate::shape::{checked_len, input_shape, Shape, MAX_LEN};
use proc_macro2::{Ident, TokenStream};
use quote::quote;

/// What a node reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// The model's input.
    Input,
    /// The output of the node with this index.
    Node(usize),
}

/// One layer with its resolved arguments, inputs and shapes.
pub struct Node<'a> {
    pub decl: &'a LayerDecl,
    pub layer: Box<dyn Layer>,
    /// What it reads, in argument order.
    pub inputs: Vec<Src>,
    /// The shape of its (first) input.
    pub input: Shape,
    pub output: Shape,
}

pub struct Plan<'a> {
    pub input: Shape,
    /// In declaration order, which is a topological order: a node reads
    /// only earlier nodes.
    pub nodes: Vec<Node<'a>>,
}

impl<'a> Plan<'a> {
    /// The model's output shape: the last node's.
    pub fn output(&self) -> Shape {
        self.nodes.last().map_or(self.input, |n| n.output)
    }

    /// The index of the model's output node.
    pub fn last(&self) -> usize {
        self.nodes.len() - 1
    }

    /// Where node `i`'s code is generated.
    pub fn site(&self, i: usize) -> Site {
        let n = &self.nodes[i];
        Site {
            name: n.decl.name.clone(),
            span: crate::expand::layer_span(n.decl),
            input: n.input,
            output: n.output,
            inputs: n.inputs.iter().map(|&src| self.shape(src)).collect(),
        }
    }

    /// How many times `src` is read (a merge may read a node twice).
    pub fn uses(&self, src: Src) -> usize {
        self.nodes
            .iter()
            .map(|n| n.inputs.iter().filter(|&&s| s == src).count())
            .sum()
    }

    /// Where node `i`'s inputs live in the tape, in order.
    pub fn tape_inputs(&self, i: usize) -> Vec<TokenStream> {
        self.nodes[i]
            .inputs
            .iter()
            .map(|&src| self.tape_ref(src))
            .collect()
    }

    /// The shape of what `src` holds.
    pub fn shape(&self, src: Src) -> Shape {
        match src {
            Src::Input => self.input,
            Src::Node(i) => self.nodes[i].output,
        }
    }

    /// Whether the gradient of `src`'s output is needed for some
    /// parameter gradient: `src` or a node it reads (transitively) has
    /// parameters. The model input's gradient is only needed when asked
    /// for (dL/dinput).
    pub fn needs_grad(&self, src: Src) -> bool {
        match src {
            Src::Input => false,
            Src::Node(i) => {
                let n = &self.nodes[i];
                n.layer.has_params() || n.inputs.iter().any(|&s| self.needs_grad(s))
            }
        }
    }

    /// Where `src`'s output lives in the tape.
    pub fn tape_ref(&self, src: Src) -> TokenStream {
        match src {
            Src::Input => quote!(tape.input),
            Src::Node(i) => self.nodes[i].layer.tape_output(&self.site(i)),
        }
    }

    /// Where node `i`'s (first) input lives in the tape.
    pub fn tape_input(&self, i: usize) -> TokenStream {
        self.tape_ref(self.nodes[i].inputs[0])
    }

    /// The node that alone reads node `i`'s output, as its only input: a
    /// single-input layer, and no other node (nor the model's output) needs
    /// `i`'s output.
    pub fn sole_reader(&self, i: usize) -> Option<usize> {
        if i == self.last() || self.uses(Src::Node(i)) != 1 {
            return None;
        }
        let j = self
            .nodes
            .iter()
            .position(|n| n.inputs.contains(&Src::Node(i)))?;
        let n = &self.nodes[j];
        (!n.layer.is_merge() && n.inputs.len() == 1).then_some(j)
    }

    /// The chains the inference forward (and streaming step) computes as
    /// one loop: a layer that [absorbs an affine](Layer::absorbs_affine)
    /// (a convolution or `Dense` without an activation of its own), read
    /// only by a per-channel affine at inference (BatchNorm with its
    /// stored statistics, [`Layer::inference_affine`]), itself read only by
    /// an element-wise activation layer, if it is. Nothing else reads the
    /// intermediate outputs, so they are never stored: the kernel applies
    /// the affine and the activation to its sums in registers. The training
    /// modes do not fuse (their tape keeps every output).
    pub fn inference_fusions(&self) -> Vec<Fusion> {
        (0..self.nodes.len())
            .filter_map(|producer| {
                if !self.nodes[producer].layer.absorbs_affine() {
                    return None;
                }
                let affine = self.sole_reader(producer)?;
                self.nodes[affine]
                    .layer
                    .inference_affine(&self.site(affine))?;
                let act = self.sole_reader(affine).filter(|&k| {
                    let layer = &self.nodes[k].layer;
                    layer.activation_only() && layer.activation().is_elementwise()
                });
                Some(Fusion {
                    producer,
                    affine,
                    act,
                })
            })
            .collect()
    }
}

/// A chain of the inference forward run as one loop (see
/// [`Plan::inference_fusions`]): node indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fusion {
    /// The convolution or `Dense` whose kernel runs the loop.
    pub producer: usize,
    /// The per-channel affine (BatchNorm) that alone reads it.
    pub affine: usize,
    /// The element-wise activation layer that alone reads the affine.
    pub act: Option<usize>,
}

impl Fusion {
    /// The node whose name the fused result takes.
    pub fn last(&self) -> usize {
        self.act.unwrap_or(self.affine)
    }

    /// Whether node `i` is computed inside this chain without a value of
    /// its own (the producer, and the affine when an activation follows).
    pub fn hides(&self, i: usize) -> bool {
        (i == self.producer || i == self.affine) && i != self.last()
    }

    /// The activation the kernel applies after the affine.
    pub fn act(&self, plan: &Plan) -> crate::layers::Act {
        self.act.map_or(crate::layers::Act::Linear, |k| {
            plan.nodes[k].layer.activation()
        })
    }

    /// The fused node's operands for the producer: its site and input
    /// source, and the affine's expression.
    pub fn parts(&self, plan: &Plan) -> (Site, Src, TokenStream) {
        let affine = plan.nodes[self.affine]
            .layer
            .inference_affine(&plan.site(self.affine))
            .unwrap_or_default();
        (
            plan.site(self.producer),
            plan.nodes[self.producer].inputs[0],
            affine,
        )
    }
}

/// Reads the input shape and infers every node's output. Records every
/// error it finds; returns `None` if any layer could not be planned.
pub fn infer<'a>(cx: &Ctxt, def: &'a ModelDef) -> Option<Plan<'a>> {
    let mut input_decl: Option<&InputDecl> = None;
    let mut input_misdeclared = false;
    let mut layer_decls: Vec<&LayerDecl> = Vec::new();
    if def.entries.is_empty() {
        cx.error_at(
            def.brace_span,
            format!(
                "`{}` is empty; write its input shape and then its layers, e.g. `input: [16], out: Dense(1)`",
                def.name
            ),
        );
        return None;
    }
    for (i, entry) in def.entries.iter().enumerate() {
        match entry {
            Entry::Input(inp) if inp.key == "input" => {
                if input_decl.is_some() {
                    cx.error_spanned(&inp.key, "`input` is given twice; remove this one");
                } else if i != 0 {
                    let first = match def.entries.first() {
                        Some(Entry::Layer(l)) => format!("; move it above `{}`", l.name),
                        _ => String::new(),
                    };
                    cx.error_spanned(
                        &inp.key,
                        format!("`input` must be the first entry, before the layers{first}"),
                    );
                }
                input_decl.get_or_insert(inp);
            }
            Entry::Input(inp) => {
                cx.error_spanned(
                    &inp.key,
                    format!(
                        "only `input` takes a shape `[..]`; `{}` needs a layer kind, e.g. `{}: Dense(64)`",
                        inp.key, inp.key
                    ),
                );
            }
            Entry::Layer(l) if l.name == "input" => {
                input_misdeclared = true;
                cx.error_spanned(
                    &l.kind,
                    "`input` takes a shape, not a layer: `input: [n]` (vector), `[steps, features]` (sequence) or `[channels, height, width]` (image)",
                );
            }
            Entry::Layer(l) => layer_decls.push(l),
        }
    }
    let input = match input_decl {
        Some(inp) => input_shape(cx, inp),
        None if input_misdeclared => None,
        None => {
            cx.error_spanned(
                &def.name,
                format!(
                    "`{}` has no `input`; start the layer list with its shape, e.g. `input: [1, 28, 28]` (image [channels, height, width]), `input: [32, 8]` (sequence [steps, features]) or `input: [16]` (vector)",
                    def.name
                ),
            );
            None
        }
    };
    if layer_decls.is_empty() && input_decl.is_some() {
        cx.error_spanned(
            &def.name,
            format!(
                "`{}` has no layers; add at least one after `input`, e.g. `out: Dense(1)`",
                def.name
            ),
        );
    }

    let mut ok = input.is_some();
    let mut nodes: Vec<Node> = Vec::new();
    let mut total_params: u128 = 0;
    let mut broken = input.is_none();
    for (index, decl) in layer_decls.iter().copied().enumerate() {
        let layer = layers::resolve(cx, decl);
        let srcs = sources(cx, decl, &layer_decls, index);
        // Once a layer fails, later layers' arguments and reads are still
        // checked, not their shapes; until then node `i` is layer `i`.
        let (Some(mut layer), Some(srcs), Some(_), false) = (layer, srcs, input, broken) else {
            ok = false;
            broken = true;
            continue;
        };
        let shapes: Vec<Shape> = srcs
            .iter()
            .map(|&src| match src {
                Src::Input => input.unwrap_or(Shape::Vector(0)),
                Src::Node(i) => nodes[i].output,
            })
            .collect();
        let shape = shapes[0];
        let count = layer.param_count(shape);
        total_params += count;
        if count > MAX_LEN as u128 {
            cx.error_spanned(
                &decl.kind,
                format!("`{}` would have {count} parameters, more than staticnet accepts (at most {MAX_LEN}); use fewer units or filters, or shrink its input (e.g. with pooling)", decl.name),
            );
            ok = false;
            broken = true;
            continue;
        }
        if total_params > MAX_LEN as u128 {
            cx.error_spanned(
                &decl.kind,
                format!("with `{}` the model has {total_params} parameters, more than staticnet accepts (at most {MAX_LEN}); make the layers smaller", decl.name),
            );
            ok = false;
            broken = true;
            continue;
        }
        let at = ShapeCx {
            cx,
            decl,
            input: shape,
            prev: match srcs[0] {
                Src::Input => None,
                Src::Node(i) => Some(&nodes[i]),
            },
            model_input: input.unwrap_or(shape),
        };
        let output = if layer.is_merge() {
            let named: Vec<(String, Shape)> = srcs
                .iter()
                .zip(&shapes)
                .map(|(&src, &shape)| {
                    let name = match src {
                        Src::Input => "input".to_string(),
                        Src::Node(i) => nodes[i].decl.name.to_string(),
                    };
                    (name, shape)
                })
                .collect();
            layer.merge_shape(&at, &named)
        } else {
            layer.output_shape(&at)
        };
        match output.and_then(|s| checked_len(cx, decl, s)) {
            Some(output) => nodes.push(Node {
                decl,
                layer,
                inputs: srcs,
                input: shape,
                output,
            }),
            None => {
                ok = false;
                broken = true;
            }
        }
    }
    if ok {
        unused_branches(cx, &nodes);
    }
    if ok && !cx.has_errors() {
        Some(Plan {
            input: input?,
            nodes,
        })
    } else {
        None
    }
}

/// What layer `index` reads: the names of a merge's positional arguments,
/// its read list `(..)`, or else the line above (the model's input for the
/// first layer). Records an error for a name that is not an earlier layer
/// or `input`.
fn sources(cx: &Ctxt, decl: &LayerDecl, decls: &[&LayerDecl], index: usize) -> Option<Vec<Src>> {
    let name = &decl.name;
    let kind = &decl.kind;
    let merge = layers::merge_inputs(decl);
    let is_merge = crate::layers::is_merge_kind(&kind.to_string());
    let names: Vec<&Ident> = match (&decl.reads, is_merge) {
        (Some(reads), true) => {
            cx.error_at(
                reads.span,
                format!("`{kind}` names its inputs as its arguments, not in a read list: `{name}: {kind}(a, b)`"),
            );
            return None;
        }
        (None, true) if merge.len() < 2 => {
            cx.error_spanned(
                kind,
                format!("`{name}` needs at least two inputs, named as its first arguments: `{name}: {kind}(a, b)`"),
            );
            return None;
        }
        (None, true) => merge,
        (Some(reads), false) => reads.names.iter().collect(),
        (None, false) => {
            return Some(vec![match index {
                0 => Src::Input,
                i => Src::Node(i - 1),
            }]);
        }
    };
    let mut ok = true;
    let mut srcs = Vec::with_capacity(names.len());
    for read in names {
        if read == "input" {
            srcs.push(Src::Input);
            continue;
        }
        if let Some(j) = decls[..index].iter().position(|d| &d.name == read) {
            srcs.push(Src::Node(j));
            continue;
        }
        ok = false;
        let msg = if read == name {
            format!("`{name}` reads itself; a layer reads layers above it, or `input`")
        } else if decls[index..].iter().any(|d| &d.name == read) {
            format!("`{name}` reads `{read}`, which is defined below it; a layer reads only layers above it (or `input`), so move `{read}` up")
        } else {
            let earlier = decls[..index]
                .iter()
                .map(|d| d.name.to_string())
                .chain(std::iter::once("input".to_string()))
                .collect::<Vec<_>>();
            let hint =
                crate::symbol::did_you_mean(&read.to_string(), earlier.iter().map(String::as_str))
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
            format!("`{name}` reads `{read}`, which is not a layer of this model{hint}")
        };
        cx.error_spanned(read, msg);
    }
    ok.then_some(srcs)
}

/// Every layer's output must be read by a later layer, or be the model's
/// output (the last line): an unused branch is almost always a forgotten
/// merge, and would be dead code in every mode.
fn unused_branches(cx: &Ctxt, nodes: &[Node]) {
    let last = nodes.len().saturating_sub(1);
    for (i, n) in nodes.iter().enumerate().take(last) {
        if !nodes.iter().any(|m| m.inputs.contains(&Src::Node(i))) {
            let name = &n.decl.name;
            let last_name = &nodes[last].decl.name;
            cx.error_spanned(
                name,
                format!("the output of `{name}` is never used: no later layer reads it, and the model's output is its last line (`{last_name}`); read it from a later layer (e.g. `Add(.., {name})`) or remove it"),
            );
        }
    }
}

/// The model's input and output shapes as far as they can be known, for
/// the stub emitted beside errors: `None` where they cannot.
pub fn best_effort(def: &ModelDef) -> (Option<Shape>, Option<Shape>) {
    let scratch = Ctxt::new();
    let input = def.entries.iter().find_map(|e| match e {
        Entry::Input(inp) if inp.key == "input" => input_shape(&scratch, inp),
        _ => None,
    });
    let output = infer(&Ctxt::new(), def).map(|p| p.output());
    (input, output)
}
