use staticnet::model;

model! {
    struct Net {
        input: [16, 4],
        lstm1: LSTM(8),
    }
}

fn main() {}
