use staticnet::model;

model! {
    struct Net {
        input: [1, 4, 4],
        conv1: Conv2d(4, kernel = (3, 7), padding = 1),
    }
}

fn main() {}
