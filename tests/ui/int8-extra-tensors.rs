// The file's model ends in a Softmax the DSL does not have: its tensors
// are named as ones the int8 model does not read.
use staticnet::model;

model! {
    #[int8 = "../fixtures/int8/tiny.safetensors"]
    pub struct Tiny {
        input: [8],
        dense: Dense(4, activation = relu),
        dense_1: Dense(3),
    }
}

fn main() {
    let _ = TinyInt8::weights();
}
