use staticnet::model;

model! {
    struct Net {
        input: [3, 32, 32],
        c1:  Conv2d(16, kernel = 3, padding = same),
        c2:  Conv2d(16, kernel = 3, stride = 2, padding = same),
        sc:  Conv2d(16, kernel = 1)(input),
        add: Add(c2, sc),
        f:   Flatten,
        out: Dense(10),
    }
}

fn main() {}
