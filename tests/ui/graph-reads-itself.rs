use staticnet::model;

model! {
    struct Net {
        input: [8],
        a:   Dense(4),
        b:   Dense(4)(b),
        out: Dense(1),
    }
}

fn main() {}
