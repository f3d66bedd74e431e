use staticnet::model;

model! {
    struct Net {
        input: [16, 4],
        gru1: GRU(8),
    }
}

fn main() {}
