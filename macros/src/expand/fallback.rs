//! What is emitted beside the errors: the struct with the name the user
//! chose, so the rest of the crate sees one error, not a cascade of
//! "cannot find type" errors.

use crate::ast::ModelDef;
use proc_macro2::TokenStream;
use quote::quote;

pub fn expand(def: &ModelDef, err: syn::Error) -> TokenStream {
    let errors = err.to_compile_error();
    let vis = &def.vis;
    let name = &def.name;
    quote! {
        #errors
        #vis struct #name<T = f32>(::core::marker::PhantomData<T>);
    }
}
