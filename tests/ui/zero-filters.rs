use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        conv1: Conv2d(0, kernel = 3),
    }
}

fn main() {}
