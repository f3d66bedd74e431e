use staticnet::model;

model! {
    struct Net {
        input: [4],
        norm: LayerNormalization,
        fc1: Dense(2),
    }
}

fn main() {}
