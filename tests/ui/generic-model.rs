use staticnet::model;

model! {
    struct Net<T> {
        input: [4],
        fc1: Dense(10),
    }
}

fn main() {}
