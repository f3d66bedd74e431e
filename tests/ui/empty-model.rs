use staticnet::model;

model! {
    struct Net {}
}

fn main() {}
