use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc: Dense(10),
        fc: Dense(2),
    }
}

fn main() {}
