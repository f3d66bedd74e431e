//! The summary constants: name, input shape, one row per layer, totals.

use super::lit;
use crate::ast::ModelDef;
use crate::plan::Plan;
use proc_macro2::TokenStream;
use quote::quote;

pub fn consts(def: &ModelDef, plan: &Plan) -> TokenStream {
    let name = def.name.to_string();
    let input = plan.input.dims().into_iter().map(lit);
    let mut total = 0usize;
    let rows: Vec<TokenStream> = plan
        .nodes
        .iter()
        .map(|p| {
            let n = p.decl.name.to_string();
            let kind = p.layer.kind();
            let out = p.output.dims().into_iter().map(lit);
            // Checked small at planning time.
            let params = p.layer.param_count(p.input) as usize;
            total += params;
            let params = lit(params);
            quote! {
                ::staticnet::LayerInfo { name: #n, kind: #kind, output: &[#(#out),*], params: #params },
            }
        })
        .collect();
    let total = lit(total);
    let live = plan
        .nodes
        .iter()
        .map(|p| p.input.len() + p.output.len())
        .max()
        .unwrap_or(0);
    let live = lit(live);
    // Emitted only for a model with buffers: the trait's default is 0.
    let buffers: usize = super::params::buffers(plan)
        .iter()
        .map(|b| b.3.iter().product::<usize>())
        .sum();
    let buffers = (buffers > 0).then(|| {
        let n = lit(buffers);
        quote!(const BUFFERS: usize = #n;)
    });
    quote! {
        const NAME: &'static str = #name;
        const INPUT_SHAPE: &'static [usize] = &[#(#input),*];
        const LAYERS: &'static [::staticnet::LayerInfo] = &[
            #(#rows)*
        ];
        const PARAMS: usize = #total;
        const ACTIVATION_VALUES: usize = #live;
        #buffers
    }
}
