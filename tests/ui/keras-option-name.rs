use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        conv1: Conv2d(4, kernel_size = 3, strides = 2),
    }
}

fn main() {}
