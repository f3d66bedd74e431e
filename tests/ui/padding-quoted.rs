// Keras writes `padding="same"`; the DSL takes the bare word.
use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        conv1: Conv2d(4, kernel = 3, padding = "same"),
        c1d: Reshape([4, 64]),
        conv2: Conv1d(4, kernel = 3, padding = "causal", bias = "false"),
    }
}

fn main() {}
