// `#[int8]` without a file: the int8 form, made at run time by
// post-training quantization (no `WEIGHTS`).
use staticnet::model;
use staticnet::quant::{Int8Model, PtqConfig};
use staticnet::Vector;

model! {
    #[int8]
    pub struct Tiny {
        input: [8],
        dense: Dense(3, bias = false),
        softmax: Softmax,
    }
}

fn main() {
    let net = Tiny::<f32>::init(1);
    let xs = [Vector::from_element(0.5), Vector::from_element(-1.0)];
    let q = TinyInt8::quantize(&net, &xs, &PtqConfig::default()).unwrap();
    let y = q.forward(&q.quantize_in(&xs[0]));
    assert!(q.dequantize_out(&y).sum() > 0.9);
    assert!(!q.to_safetensors().is_empty());
}
