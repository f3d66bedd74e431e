use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        pool1: MaxPooling2D(2),
    }
}

fn main() {}
