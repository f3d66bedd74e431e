use staticnet::model;

model! {
    struct Net {
        input: [8],
        a:   Dense(4),
        s:   Add(a),
        out: Dense(1),
    }
}

fn main() {}
