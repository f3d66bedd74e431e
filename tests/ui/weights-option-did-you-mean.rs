// `ignor` for `ignore`: the attribute's options get the same "did you
// mean" as a layer's.
use staticnet::model;

model! {
    #[weights("weights/dense_extra.safetensors", ignor = ["input"])]
    pub struct Tiny {
        input: [3],
        fc: Dense(2),
    }
}

fn main() {}
