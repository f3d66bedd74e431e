use staticnet::model;

model! {
    struct Net {
        input: [2, 4, 6],
        perm: Permute([0, 2, 2]),
    }
}

fn main() {}
