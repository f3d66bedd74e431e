use staticnet::model;

model! {
    struct Kws {
        input: [49, 10, 1],
        conv1: Conv2d(64, kernel = 3),
        flat:  Flatten,
        out:   Dense(12),
    }
}

fn main() {}
