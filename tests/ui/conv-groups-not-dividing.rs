use staticnet::model;

model! {
    struct Net {
        input: [6, 8, 8],
        conv1: Conv2d(4, kernel = 3, groups = 4),
    }
}

fn main() {}
