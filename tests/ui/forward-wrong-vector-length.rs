use staticnet::{model, Model, Vector};

model! {
    struct Net {
        input: [16],
        out: Dense(2),
    }
}

fn main() {
    let net = Net::<f32>::init(0);
    let x = Vector::<f32, 12>::zeros();
    let _ = net.forward(&x);
}
