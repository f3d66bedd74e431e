use staticnet::model;

model! {
    struct Net {
        input: [10, 3],
        c: Conv1D(4, kernel = 3),
    }
}

fn main() {}
