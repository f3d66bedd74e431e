// The model's input is 4 wide, the file's `fc.weight` was trained on 3
// inputs: both shapes are named.
use staticnet::model;

model! {
    #[weights = "weights/dense.safetensors"]
    pub struct Tiny {
        input: [4],
        fc: Dense(2),
    }
}

fn main() {
    let _ = Tiny::weights();
}
