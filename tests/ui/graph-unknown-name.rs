use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        conv1: Conv2d(4, kernel = 3),
        pool2: MaxPool2d(2),
        flat:  Flatten()(pol2),
        out:   Dense(1),
    }
}

fn main() {}
