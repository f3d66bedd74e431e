use staticnet::model;

model! {
    struct Net {
        input: [16, 4],
        rnn: SimpleRnn(8, activation = softmax),
    }
}

fn main() {}
