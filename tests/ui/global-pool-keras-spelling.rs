use staticnet::model;

model! {
    struct Net {
        input: [3, 4, 4],
        gap: GlobalAveragePooling2D,
        out: Dense(2),
    }
}

fn main() {}
