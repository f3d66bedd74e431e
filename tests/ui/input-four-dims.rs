use staticnet::model;

model! {
    struct Net {
        input: [1, 2, 3, 4],
        fc1: Dense(10),
    }
}

fn main() {}
