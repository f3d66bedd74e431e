use staticnet::model;

model! {
    struct Net {
        input: [2, 4, 6],
        conv: Conv2d(3, kernel = 3),
        rs: Reshape([4, 10]),
    }
}

fn main() {}
