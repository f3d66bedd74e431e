use staticnet::model;

model! {
    struct Net {
        input: [16],
        gru: Gru(8),
    }
}

fn main() {}
