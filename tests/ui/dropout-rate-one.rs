use staticnet::model;

model! {
    struct Net {
        input: [4],
        drop: Dropout(1),
        fc1: Dense(2),
    }
}

fn main() {}
