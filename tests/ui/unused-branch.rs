use staticnet::model;

model! {
    struct Net {
        input: [8],
        a:    Dense(4),
        side: Dense(4)(input),
        out:  Dense(1)(a),
    }
}

fn main() {}
