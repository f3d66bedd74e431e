use staticnet::model;

model! {
    struct Net {
        input: [4],
        bn: BatchNorm(eps = small),
    }
}

fn main() {}
