use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dense(8, trainable = 0),
        fc2: Dense(2, trainable = false, trainable = true),
    }
}

fn main() {}
