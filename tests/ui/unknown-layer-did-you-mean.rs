use staticnet::model;

model! {
    struct Net {
        input: [4],
        fc1: Dence(10),
    }
}

fn main() {}
