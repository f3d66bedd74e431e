use staticnet::model;

model! {
    struct Net {
        input: [6, 4],
        perm: Permute([1, 0, 2]),
    }
}

fn main() {}
