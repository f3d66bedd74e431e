// The file's layer is `fc`, the model's `hidden`: one error lists every
// missing and surplus tensor, and says which rename makes them fit.
use staticnet::model;

model! {
    #[weights = "weights/dense.safetensors"]
    pub struct Tiny {
        input: [3],
        hidden: Dense(2, activation = relu),
    }
}

fn main() {
    let _ = Tiny::WEIGHTS;
}
