use staticnet::model;

model! {
    struct Net {
        input: [4096],
        fc1: Dense(8192),
        fc2: Dense(4096),
    }
}

fn main() {}
