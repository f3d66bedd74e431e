use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dense(10),
        act: Elu(alpha = nan),
    }
}

fn main() {}
