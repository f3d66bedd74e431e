use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        c: Conv1d(4, kernel = 3),
    }
}

fn main() {}
