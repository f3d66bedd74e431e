use staticnet::model;

model! {
    struct Net {
        input: [16, 4],
        flat: Flatten,
        rnn: SimpleRnn(8),
    }
}

fn main() {}
