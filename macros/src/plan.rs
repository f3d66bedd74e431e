//! The plan: the model as a graph of nodes, one per layer, each with an
//! explicit list of the nodes (or the model input) it reads, its resolved
//! [`Layer`] and its shapes. Today's DSL fills the inputs as a chain (each
//! layer reads the line above); every driver in `expand/` walks the graph
//! through these lists, so residual graphs need only syntax on top.

use crate::ast::{Entry, InputDecl, LayerDecl, ModelDef};
use crate::ctxt::Ctxt;
use crate::layers::{self, Layer, ShapeCx, Site};
use crate::shape::{checked_len, input_shape, Shape, MAX_LEN};
use proc_macro2::TokenStream;
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
        }
    }

    /// The nodes that read `src`, in order.
    pub fn readers(&self, src: Src) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&j| self.nodes[j].inputs.contains(&src))
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
    for decl in layer_decls {
        let layer = layers::resolve(cx, decl);
        // Today's DSL: each layer reads the line above.
        let src = match nodes.len() {
            0 => Src::Input,
            n => Src::Node(n - 1),
        };
        let (Some(mut layer), Some(shape), false) = (layer, input, broken) else {
            ok = false;
            broken = true; // later layers' arguments are still checked, not their shapes
            continue;
        };
        let shape = match src {
            Src::Input => shape,
            Src::Node(i) => nodes[i].output,
        };
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
            prev: match src {
                Src::Input => None,
                Src::Node(i) => Some(&nodes[i]),
            },
        };
        match layer
            .output_shape(&at)
            .and_then(|s| checked_len(cx, decl, s))
        {
            Some(output) => nodes.push(Node {
                decl,
                layer,
                inputs: vec![src],
                input: shape,
                output,
            }),
            None => {
                ok = false;
                broken = true;
            }
        }
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
