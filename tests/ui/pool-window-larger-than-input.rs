use staticnet::model;

model! {
    struct Net {
        input: [1, 6, 6],
        conv1: Conv2d(4, kernel = 3),
        pool1: MaxPool2d(5),
    }
}

fn main() {}
