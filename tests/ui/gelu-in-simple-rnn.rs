use staticnet::model;

model! {
    struct Net {
        input: [8, 3],
        rnn: SimpleRnn(4, activation = gelu),
    }
}

fn main() {}
