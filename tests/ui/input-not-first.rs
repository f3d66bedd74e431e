use staticnet::model;

model! {
    struct Net {
        fc1: Dense(10),
        input: [4],
    }
}

fn main() {}
