use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dense(100000000000),
    }
}

fn main() {}
