// A misspelt option of the attribute.
use staticnet::model;

model! {
    #[weights("weights/dense_extra.safetensors", allow_extras)]
    pub struct Tiny {
        input: [3],
        fc: Dense(2),
    }
}

fn main() {}
