use staticnet::model;

model! {
    struct Net {
        input: [16, 4],
        lstm1: Lstm(8),
        lstm2: Lstm(8),
        out: Dense(1),
    }
}

fn main() {}
