use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        pool: MaxPool2d(2),
        flat: Flatten(pool),
        out:  Dense(1),
    }
}

fn main() {}
