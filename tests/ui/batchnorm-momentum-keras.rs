use staticnet::model;

model! {
    struct Net {
        input: [4],
        bn: BatchNorm(momentum = 1.5),
    }
}

fn main() {}
