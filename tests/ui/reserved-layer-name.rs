use staticnet::model;

model! {
    struct Net {
        input: [4],
        __fc: Dense(10),
    }
}

fn main() {}
