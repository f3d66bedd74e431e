//! The Fashion-MNIST network's post-training quantization
//! (examples/fashion_mnist_int8.rs): the committed int8 file
//! tests/fixtures/fashion/fashion_net_int8.safetensors passes the macro's
//! compile-time check against the DSL (`#[int8 = "file"]`), and quantizing
//! the committed float weights on the first 1,000 training images again
//! gives that file byte for byte and the compiled-in model field by field.
//! Needs Debian's dataset-fashion-mnist (or `FASHION_MNIST_DIR`); without
//! it the test says so and passes.

#[path = "../examples/common/fashion_mnist.rs"]
#[allow(dead_code)]
mod fashion_mnist;
#[path = "../examples/common/fashion_net_int8.rs"]
#[macro_use]
#[allow(dead_code)]
mod net;

use net::{FashionNet8, FashionNet8Int8, CALIBRATION};
use staticnet::quant::{Int8Model, PtqConfig};
use staticnet::Weights;

fashion_net8!(FashionFile, #[int8 = "tests/fixtures/fashion/fashion_net_int8.safetensors"]);

#[test]
fn quantizing_again_gives_the_committed_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let Ok((mut x_train, _)) = fashion_mnist::load("train") else {
        eprintln!(
            "skipped: no Fashion-MNIST at {}",
            fashion_mnist::data_dir().display()
        );
        return;
    };
    x_train.truncate(CALIBRATION);
    let model = FashionNet8::<f32>::boxed_load(format!(
        "{root}/tests/fixtures/fashion/fashion_net.safetensors"
    ))
    .unwrap();
    let q = FashionNet8Int8::quantize(&model, &x_train, &PtqConfig::default()).unwrap();
    let committed = std::fs::read(format!(
        "{root}/tests/fixtures/fashion/fashion_net_int8.safetensors"
    ))
    .unwrap();
    assert!(q.to_safetensors() == committed, "the int8 file drifted");
    let f = FashionFileInt8::weights();
    assert_eq!(f.to_safetensors(), committed);
    assert_eq!(
        (&f.stem, &f.dw1, &f.pw3, &f.add1, &f.out),
        (&q.stem, &q.dw1, &q.pw3, &q.add1, &q.out)
    );
    assert_eq!(f.__layers, q.__layers);
    for x in x_train.iter().take(50) {
        let xq = q.quantize_in(x);
        assert_eq!(FashionFileInt8::quantize_input(x), xq);
        assert_eq!(f.forward(&xq), q.forward(&xq));
    }
}
