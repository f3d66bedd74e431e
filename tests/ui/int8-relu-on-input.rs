// A Relu is the clamp of the layer before it in int8; on the model's
// input there is none.
use staticnet::model;

model! {
    #[int8 = "../fixtures/int8/tiny.safetensors"]
    pub struct Tiny {
        input: [8],
        relu: Relu,
        dense: Dense(4, activation = relu),
        dense_1: Dense(3),
        softmax: Softmax,
    }
}

fn main() {}
