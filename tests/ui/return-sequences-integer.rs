use staticnet::model;

model! {
    struct Net {
        input: [16, 4],
        lstm1: Lstm(8, return_sequences = 1),
        out: Dense(1),
    }
}

fn main() {}
