// The file holds a tensor the model does not have: an error by default,
// with the way to skip it.
use staticnet::model;

model! {
    #[weights = "weights/dense_extra.safetensors"]
    pub struct Tiny {
        input: [3],
        fc: Dense(2),
    }
}

fn main() {
    let _ = Tiny::WEIGHTS;
}
