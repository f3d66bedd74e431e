use staticnet::model;

model! {
    struct Net {
        input: [3, 8, 8],
        bn: BatchNormalization,
    }
}

fn main() {}
