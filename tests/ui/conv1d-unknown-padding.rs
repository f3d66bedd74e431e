use staticnet::model;

model! {
    struct Net {
        input: [10, 3],
        c: Conv1d(4, kernel = 3, padding = casual),
    }
}

fn main() {}
