// A path that does not exist.
use staticnet::model;

model! {
    #[weights = "weights/no_such_file.safetensors"]
    pub struct Tiny {
        input: [3],
        fc: Dense(2),
    }
}

fn main() {
    let _ = Tiny::WEIGHTS;
}
