// The DSL gives `dense_1` a ReLU, but the file's layer is linear: at its
// output zero point 5 a ReLU would clamp at 5, the file clamps at -128.
use staticnet::model;

model! {
    #[int8 = "../fixtures/int8/tiny.safetensors"]
    pub struct Tiny {
        input: [8],
        dense: Dense(4, activation = relu),
        dense_1: Dense(3, activation = relu),
        softmax: Softmax,
    }
}

fn main() {
    let _ = TinyInt8::weights();
}
