// A model past 1 MiB of parameters (512 → 600 dense: 307,800 f32, 1.2 MB)
// built by value: `init` and `zeros` are marked `#[deprecated]` by the
// macro so rustc warns at the call (a proc macro cannot warn on stable),
// naming the heap constructors. Denied here to make the warning an error.
#![deny(deprecated)]
use staticnet::model;

model! {
    pub struct Wide {
        input: [512],
        fc: Dense(600),
    }
}

fn main() {
    let _ = Wide::<f32>::init(1);
    let _ = Wide::<f32>::zeros();
}
