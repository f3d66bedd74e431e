use staticnet::model;

model! {
    struct Net {
        input: [1, 4, 4],
        conv1: Conv2d(4, kernel = 5),
    }
}

fn main() {}
