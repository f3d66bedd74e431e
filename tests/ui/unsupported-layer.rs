use staticnet::model;

model! {
    struct Net {
        input: [4],
        drop: Dropout(0.5),
        fc1: Dense(2),
    }
}

fn main() {}
