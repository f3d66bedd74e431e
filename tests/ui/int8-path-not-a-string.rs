use staticnet::model;

model! {
    #[int8 = 3]
    pub struct Tiny {
        input: [8],
        dense: Dense(3),
    }
}

fn main() {}
