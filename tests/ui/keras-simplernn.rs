use staticnet::model;

model! {
    struct Net {
        input: [16, 4],
        rnn1: SimpleRNN(8),
    }
}

fn main() {}
