use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dense(3),
        bn: BatchNorm(eps = 0),
    }
}

fn main() {}
