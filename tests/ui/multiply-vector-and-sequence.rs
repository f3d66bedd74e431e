use staticnet::model;

model! {
    struct Net {
        input: [6, 3],
        seq:  Lstm(4, return_sequences = true),
        last: Lstm(4)(input),
        m:    Multiply(seq, last),
        out:  Dense(1),
    }
}

fn main() {}
