use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dense(8, trainabel = false),
    }
}

fn main() {}
