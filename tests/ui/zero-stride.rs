use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        pool1: AvgPool2d(2, stride = 0),
    }
}

fn main() {}
