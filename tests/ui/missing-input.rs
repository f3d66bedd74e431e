use staticnet::model;

model! {
    struct Net {
        fc1: Dense(10),
    }
}

fn main() {}
