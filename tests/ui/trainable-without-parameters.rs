use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        conv1: Conv2d(4, kernel = 3, trainable = false),
        pool1: MaxPool2d(2, trainable = false),
        flat: Flatten,
        fc: Dense(2),
    }
}

fn main() {}
