use staticnet::model;

model! {
    struct Net {
        input: [10, 3],
        p: AveragePooling1D(2),
    }
}

fn main() {}
