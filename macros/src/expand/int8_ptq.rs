//! Post-training quantization of a model's int8 form (`#[int8]` or
//! `#[int8 = "file"]`): `impl staticnet::quant::Int8Model for <Name>Int8`,
//! generated from the same int8 graph as the forward (`expand/int8.rs`):
//!
//! - `CALIBRATED`: the model input and every layer whose output range sets
//!   a scale (a kernel with weights, or an `Add`), each observed where its
//!   int8 tensor is: after the BatchNorm, ReLU and Dropout folded into it
//!   (the last folded node a kernel or the model's output reads);
//! - `calibrate_sample`: the float model's training forward (BatchNorm on
//!   its running statistics, Dropout the identity) and those tensors of its
//!   tape;
//! - `from_params`: each kernel's int8 block from the float parameters and
//!   the calibrated scales (`staticnet::quant::ptq`), a BatchNorm after a
//!   weighted layer folded into it (`Layer::inference_affine`), pools and
//!   reshapes keeping their input's parameters, softmax fixed;
//! - `visit_file`: every tensor of the int8 file `#[int8 = "file"]` reads.
//!
//! Which computation a kernel needs is read off the tensors its kind
//! declares for the int8 file (`weight`, `input1_multiplier`, `diff_min`),
//! so the driver stays layer-agnostic.

use super::int8::Graph;
use crate::ast::ModelDef;
use crate::layers::{lit, Act};
use crate::plan::Src;
use crate::shape::Shape;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Conv2d, DepthwiseConv2d, Dense (`dense`: per-channel only if the
    /// config says so).
    Weighted {
        dense: bool,
    },
    Add,
    Softmax,
    /// Pools, Flatten, Reshape: the input's parameters.
    Pass,
}

/// `x` (a reference to a float tensor of shape `s`) as `&[f32]`.
fn flat_f32(x: TokenStream, s: Shape) -> TokenStream {
    match s {
        Shape::Image(..) => quote!(#x.as_flattened().as_flattened()),
        Shape::Seq(..) => quote!(#x.as_slice()),
        Shape::Vector(_) => quote!(#x.as_slice()),
    }
}

pub fn expand(def: &ModelDef, g: &Graph, name: &Ident) -> TokenStream {
    let plan = g.plan;
    let float = &def.name;
    let kernels: Vec<usize> = g.kernels().collect();
    let q = quote!(::staticnet::quant);
    // Why the model cannot be quantized (a run-time `Err`), if it cannot.
    let mut refused: Option<(String, String)> = None;
    let mut refuse = |layer: &Ident, why: &str| {
        if refused.is_none() {
            refused = Some((layer.to_string(), why.to_string()));
        }
    };
    let mut calibrated: Vec<String> = vec!["input".into()];
    let mut observe = Vec::new();
    let mut build = Vec::new();
    let mut fields = Vec::new();
    let mut layer_quants = Vec::new();
    let mut visits = Vec::new();
    let qp = |src: Src| -> TokenStream {
        match g.resolve(src) {
            Src::Input => quote!(__qp_input),
            Src::Node(j) => {
                let id = format_ident!("__qp_{}", j);
                quote!(#id)
            }
        }
    };
    for (ki, &i) in kernels.iter().enumerate() {
        let n = &plan.nodes[i];
        let site = plan.site(i);
        let lname = n.decl.name.to_string();
        let own = n.layer.int8_tensors(&site);
        let has = |s: &str| own.iter().any(|t| t.suffix == s);
        let role = if has("weight") {
            Role::Weighted {
                dense: matches!(n.input, Shape::Vector(_)),
            }
        } else if has("input1_multiplier") {
            Role::Add
        } else if has("diff_min") {
            Role::Softmax
        } else {
            Role::Pass
        };
        // The activation clamped into the layer: its own or a folded one.
        let seen = g.seen_acts(i);
        if seen.iter().any(|(a, _)| *a != seen[0].0) {
            refuse(
                &n.decl.name,
                "some layers read it before its ReLU and some after; an int8 tensor has one clamp",
            );
        }
        let folded = seen
            .iter()
            .map(|(a, _)| *a)
            .find(|a| *a != Act::Linear)
            .unwrap_or(Act::Linear);
        let act = match (role, n.layer.activation()) {
            (Role::Softmax, _) => Act::Linear,
            (_, Act::Linear) => folded,
            (_, a) => a,
        };
        let fused = match act {
            Act::Relu => quote!(#q::ptq::Fused::Relu),
            Act::Relu6 => quote!(#q::ptq::Fused::Relu6),
            _ => quote!(#q::ptq::Fused::None),
        };
        // Where the int8 tensor is in the float model: the last folded node
        // after this one that a kernel (or the output) reads.
        let rep = (i..plan.nodes.len())
            .filter(|&j| {
                j == i
                    || (g.folded[j]
                        && g.resolve(Src::Node(j)) == Src::Node(i)
                        && (j == plan.last()
                            || kernels
                                .iter()
                                .any(|&k| plan.nodes[k].inputs.contains(&Src::Node(j)))))
            })
            .max()
            .unwrap_or(i);
        // The per-channel affines (BatchNorm) between the layer and there.
        let mut affines = Vec::new();
        let mut src = Src::Node(rep);
        while let Src::Node(j) = src {
            if j == i {
                break;
            }
            if let Some(a) = plan.nodes[j].layer.inference_affine(&plan.site(j)) {
                affines.push(a);
            }
            src = plan.nodes[j].inputs.first().copied().unwrap_or(Src::Input);
        }
        if affines.len() > 1 {
            refuse(&n.decl.name, "two BatchNorms follow it; fold one by hand");
        }
        if !affines.is_empty() && !matches!(role, Role::Weighted { .. }) {
            refuse(
                &n.decl.name,
                "a BatchNorm after it has no Conv2d, DepthwiseConv2d or Dense to fold into",
            );
        }
        if role == Role::Pass && act != Act::Linear {
            refuse(
                &n.decl.name,
                "a ReLU after a pool or reshape cannot be its clamp here: put it before",
            );
        }
        let in0 = qp(n.inputs.first().copied().unwrap_or(Src::Input));
        let out_id = format_ident!("__qp_{}", i);
        let p_id = format_ident!("__p_{}", i);
        let t = |s: &str| {
            let f = format_ident!("{}", s);
            quote!(#p_id.#f)
        };
        // The calibrated output, for the roles with a range of their own.
        let calibrate = |calibrated: &mut Vec<String>, observe: &mut Vec<TokenStream>| {
            let c = lit(calibrated.len());
            calibrated.push(lname.clone());
            let rs = plan.site(rep);
            let place = plan.nodes[rep].layer.tape_output(&rs);
            let values = flat_f32(quote!(#place), plan.nodes[rep].output);
            observe.push(quote!(obs.observe(#c, sample, #values)?;));
            quote!(params(#c))
        };
        let (stmt, min_max) = match role {
            Role::Weighted { dense } => {
                let p = site.params();
                let shape = own
                    .iter()
                    .find(|t| t.suffix == "weight")
                    .map(|t| t.shape.clone())
                    .unwrap_or_default();
                let o = lit(shape.first().copied().unwrap_or(0));
                let k = lit(shape.iter().skip(1).product::<usize>());
                let has_bias = n.layer.tensors(&site).iter().any(|t| t.member == "bias");
                let bias = if has_bias {
                    quote!(|__o| #p.bias[__o])
                } else {
                    quote!(|_| 0.0)
                };
                let per_channel = if dense {
                    quote!(config.dense_per_channel)
                } else {
                    quote!(true)
                };
                let (affine_let, affine) = match affines.first() {
                    Some(a) => (
                        quote!(let __a = #a;),
                        quote!(Some((&__a.scale, &__a.shift))),
                    ),
                    None => (quote!(), quote!(None)),
                };
                let out = calibrate(&mut calibrated, &mut observe);
                (
                    quote! {
                        let #out_id: #q::calibrate::QuantParams = #out;
                        let #p_id = {
                            #affine_let
                            #q::ptq::quantize_weighted::<#o, #k>(
                                |__o, __k| #p.weight[(__o, __k)],
                                #bias,
                                #affine,
                                #in0,
                                #out_id,
                                #fused,
                                #per_channel,
                            )
                        };
                    },
                    (t("activation_min"), t("activation_max")),
                )
            }
            Role::Add => {
                let in1 = qp(n.inputs.get(1).copied().unwrap_or(Src::Input));
                let out = calibrate(&mut calibrated, &mut observe);
                (
                    quote! {
                        let #out_id: #q::calibrate::QuantParams = #out;
                        let #p_id = #q::ptq::quantize_add(#in0, #in1, #out_id, #fused);
                    },
                    (t("activation_min"), t("activation_max")),
                )
            }
            Role::Softmax => (
                quote! {
                    let #out_id = #q::calibrate::SOFTMAX_OUTPUT;
                    let #p_id = #q::ptq::quantize_softmax(#in0);
                },
                (quote!(-128), quote!(127)),
            ),
            Role::Pass => (quote!(let #out_id = #in0;), (quote!(-128), quote!(127))),
        };
        build.push(stmt);
        let (lo, hi) = min_max;
        layer_quants.push(quote!(#q::ptq::LayerQuant {
            input: #in0.into(),
            output: #out_id.into(),
            min: #lo,
            max: #hi,
        }));
        let block = n.layer.int8_param_type(&site).is_some();
        if block {
            let field = &site.name;
            let v = n
                .layer
                .int8_param_value(&site, &t)
                .unwrap_or_else(|| quote!(::core::compile_error!("staticnet: internal error")));
            fields.push(quote!(#field: #v,));
        }
        // The file: the block's tensors (with the kind's shapes), the
        // geometry, the clamp of a layer without a block, and the scales.
        let at = lit(ki);
        let mut v = Vec::new();
        if block {
            let field = &site.name;
            let arms = own.iter().filter(|t| !t.shape.is_empty()).map(|t| {
                let (s, dims) = (t.suffix, t.shape.iter().map(|&d| lit(d)));
                quote!(#s => &[#(#dims),*],)
            });
            v.push(quote!(
                #q::ptq::Int8Tensors::visit_int8(&self.#field, &mut |suffix, values| {
                    let shape: &[usize] = match suffix {
                        #(#arms)*
                        _ => &[],
                    };
                    f(#lname, suffix, shape, values);
                });
            ));
        }
        for t in &own {
            if let Some(e) = &t.expect {
                let vals = e
                    .iter()
                    .map(|&x| proc_macro2::Literal::i32_unsuffixed(x as i32));
                let (s, len) = (t.suffix, lit(e.len()));
                v.push(quote!(f(#lname, #s, &[#len], V::I32(&[#(#vals),*]));));
            }
        }
        for (s, value) in [
            ("input_scale", quote!(V::F32(lq.input.scale))),
            ("output_scale", quote!(V::F32(lq.output.scale))),
            ("input_zero_point", quote!(V::Scalar(lq.input.zero_point))),
            ("output_zero_point", quote!(V::Scalar(lq.output.zero_point))),
            ("activation_min", quote!(V::Scalar(lq.min as i32))),
            ("activation_max", quote!(V::Scalar(lq.max as i32))),
        ] {
            // A kind's own tensor of that name is written by its block; a
            // pool's clamp (no block) from the layer's record.
            if !(block && has(s)) {
                v.push(quote!(f(#lname, #s, &[], #value);));
            }
        }
        visits.push(quote!({
            let lq = &self.__layers[#at];
            #(#v)*
        }));
    }
    let calibrated_lits = calibrated.iter().map(|s| quote!(#s));
    let layer_names: Vec<String> = kernels
        .iter()
        .map(|&i| plan.nodes[i].decl.name.to_string())
        .collect();
    let file_layers = layer_names.join(",");
    let in_flat = flat_f32(quote!(x), plan.input);
    let body = match refused {
        Some((layer, why)) => quote! {
            let _ = (params, config);
            Err(#q::PtqError::Unsupported { layer: #layer, why: #why })
        },
        None => quote! {
            #[allow(unused_imports)]
            use ::staticnet::__private::kernels as k;
            #[allow(unused_imports)]
            use ::staticnet::quant as q;
            #[allow(dead_code)]
            type T = f32;
            let _ = config;
            let __qp_input: #q::calibrate::QuantParams = params(0);
            #(#build)*
            Ok(#name {
                #(#fields)*
                __input: __qp_input.into(),
                __layers: [#(#layer_quants),*],
            })
        },
    };
    let doc = format!(
        "The int8 parameters of [`{name}`] from this model and the calibrated scales \
         (what [`Int8Model::from_params`](::staticnet::quant::Int8Model::from_params) calls)."
    );
    quote! {
        impl #float<f32> {
            #[doc = #doc]
            #[doc(hidden)]
            pub fn __int8_from_params(
                &self,
                params: &dyn Fn(usize) -> #q::calibrate::QuantParams,
                config: &#q::PtqConfig,
            ) -> ::core::result::Result<#name, #q::PtqError> {
                #body
            }
        }

        impl #q::Int8Model for #name {
            type Float = #float<f32>;
            const CALIBRATED: &'static [&'static str] = &[#(#calibrated_lits),*];
            const FILE_LAYERS: &'static str = #file_layers;

            fn calibrate_sample(
                model: &#float<f32>,
                x: &<#float<f32> as ::staticnet::Model<f32>>::Input,
                sample: usize,
                tape: &mut <#float<f32> as ::staticnet::Train<f32>>::Tape,
                obs: &mut dyn #q::ptq::Observe,
            ) -> ::core::result::Result<(), #q::PtqError> {
                obs.observe(0, sample, #in_flat)?;
                let _ = <#float<f32> as ::staticnet::Train<f32>>::forward_train(model, x, tape);
                #(#observe)*
                Ok(())
            }

            fn from_params(
                model: &#float<f32>,
                params: &dyn Fn(usize) -> #q::calibrate::QuantParams,
                config: &#q::PtqConfig,
            ) -> ::core::result::Result<Self, #q::PtqError> {
                model.__int8_from_params(params, config)
            }

            fn visit_file(&self, f: &mut #q::ptq::FileVisitor<'_>) {
                use #q::ptq::Values as V;
                f("input", "scale", &[], V::F32(self.__input.scale));
                f("input", "zero_point", &[], V::Scalar(self.__input.zero_point));
                #(#visits)*
            }
        }
    }
}
