use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        lstm: Lstm(8),
    }
}

fn main() {}
