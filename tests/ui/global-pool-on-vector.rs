use staticnet::model;

model! {
    struct Net {
        input: [3, 4, 4],
        flat: Flatten,
        gap: GlobalAvgPool,
        out: Dense(2),
    }
}

fn main() {}
