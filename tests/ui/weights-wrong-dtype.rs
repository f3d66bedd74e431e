// `fc.bias` is stored as int64.
use staticnet::model;

model! {
    #[weights = "weights/dense_int.safetensors"]
    pub struct Tiny {
        input: [3],
        fc: Dense(2),
    }
}

fn main() {
    let _ = Tiny::WEIGHTS;
}
