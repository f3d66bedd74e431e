use staticnet::model;

model! {
    struct Net {
        input: [10, 3],
        c: Conv1d(4, kernel = 3, stride = 0),
    }
}

fn main() {}
