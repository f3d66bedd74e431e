use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dense(activation = relu, 10),
    }
}

fn main() {}
