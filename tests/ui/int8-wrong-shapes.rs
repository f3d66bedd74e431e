// `dense` has 5 units in the DSL, 4 in the quantized file: every tensor
// that depends on it is named, with both shapes, in one error.
use staticnet::model;

model! {
    #[int8 = "../fixtures/int8/tiny.safetensors"]
    pub struct Tiny {
        input: [8],
        dense: Dense(5, activation = relu),
        dense_1: Dense(3),
        softmax: Softmax,
    }
}

fn main() {
    let _ = TinyInt8::weights();
}
