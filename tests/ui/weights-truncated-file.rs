// The file lost its last bytes.
use staticnet::model;

model! {
    #[weights = "weights/truncated.safetensors"]
    pub struct Tiny {
        input: [3],
        fc: Dense(2),
    }
}

fn main() {
    let _ = Tiny::WEIGHTS;
}
