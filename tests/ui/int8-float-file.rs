// A float weights file given to `#[int8]`: the dtypes and the missing
// quantization tensors are listed.
use staticnet::model;

model! {
    #[int8 = "weights/dense.safetensors"]
    pub struct Tiny {
        input: [3],
        fc: Dense(2),
    }
}

fn main() {
    let _ = TinyInt8::weights();
}
