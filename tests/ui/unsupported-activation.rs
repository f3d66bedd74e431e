use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dense(10, activation = selu),
    }
}

fn main() {}
