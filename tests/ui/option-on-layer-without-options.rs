use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        flat: Flatten(start_dim = 1),
    }
}

fn main() {}
