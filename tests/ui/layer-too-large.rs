use staticnet::model;

model! {
    struct Net {
        input: [1000000],
        fc1: Dense(1000000),
    }
}

fn main() {}
