use staticnet::model;

model! {
    struct Net {
        input: [10, 4],
        a:   Lstm(8, return_sequences = true),
        b:   Lstm(8)(input),
        cat: Concatenate(a, b),
        out: Dense(1),
    }
}

fn main() {}
