use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Banana(10),
    }
}

fn main() {}
