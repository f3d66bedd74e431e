use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dense(10),
        act: LeakyRelu(alpha = -0.1),
    }
}

fn main() {}
