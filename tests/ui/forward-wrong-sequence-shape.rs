use staticnet::{model, Sequence};

model! {
    struct Net {
        input: [32, 8],
        lstm: Lstm(4),
        out: Dense(1),
    }
}

fn main() {
    let net = Net::<f32>::init(0);
    let x = Sequence::<f32, 32, 6>::zeros();
    let _ = net.forward(&x);
}
