use staticnet::model;

model! {
    struct Net {
        input: [a],
        fc1: Dense(10),
    }
}

fn main() {}
