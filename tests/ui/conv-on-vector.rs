use staticnet::model;

model! {
    struct Net {
        input: [64],
        conv1: Conv2d(4, kernel = 3),
    }
}

fn main() {}
