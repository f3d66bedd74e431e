// TFLite's int8 softmax is a layer with its own quantization: a softmax
// fused into `Dense` is an error saying to split it off.
use staticnet::model;

model! {
    #[int8 = "../fixtures/int8/tiny.safetensors"]
    pub struct Tiny {
        input: [8],
        dense: Dense(4, activation = relu),
        dense_1: Dense(3, activation = softmax),
    }
}

fn main() {}
