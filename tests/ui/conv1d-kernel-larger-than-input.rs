use staticnet::model;

model! {
    struct Net {
        input: [4, 2],
        c: Conv1d(3, kernel = 3, dilation = 2),
    }
}

fn main() {}
