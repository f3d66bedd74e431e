// The file has `fc` but not `out`: each missing tensor is named with the
// shape the model needs.
use staticnet::model;

model! {
    #[weights = "weights/dense.safetensors"]
    pub struct Tiny {
        input: [3],
        fc: Dense(2, activation = relu),
        out: Dense(1),
    }
}

fn main() {
    let _ = Tiny::WEIGHTS;
}
