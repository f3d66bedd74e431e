use staticnet::model;

model! {
    struct Net {
        input: [2, 4, 6],
        perm: Permute([3, 1, 2]),
    }
}

fn main() {}
