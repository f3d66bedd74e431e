use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dense(activation = relu),
    }
}

fn main() {}
