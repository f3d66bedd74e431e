use staticnet::model;

model! {
    struct Net {
        input: [3, 2],
        p: MaxPool1d(4),
    }
}

fn main() {}
