use staticnet::model;

model! {
    struct Net {
        input: [8],
        a:   Dense(4)(b),
        b:   Dense(4),
        out: Dense(1),
    }
}

fn main() {}
