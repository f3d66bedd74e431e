//! The Fashion-MNIST network's post-training quantization
//! (examples/fashion_mnist_int8.rs): the committed int8 file
//! tests/fixtures/fashion/fashion_net_int8.safetensors passes the macro's
//! compile-time check against the DSL (`#[int8 = "file"]`), and quantizing
//! the committed float weights on the first 1,000 training images again
//! gives that file byte for byte and the compiled-in model field by field.
//! Needs Debian's dataset-fashion-mnist (or `FASHION_MNIST_DIR`); without
//! it the test says so and passes.
//!
//! And the way back (issue 13 item 4, "the int8 model exported back to
//! TFLite's format gives identical outputs in TFLite"):
//! tools/make_fashion_int8_tflite.py exported the committed int8 file into
//! a TFLite template of the same architecture
//! (tests/fixtures/fashion/fashion_net_int8.tflite, read back equal to the
//! int8 file by tools/int8_to_tflite.py) and ran it in TFLite's reference
//! kernels and in TFLite Micro on the first 100 test images;
//! `tflite_runs_the_exported_model_as_we_do` compares the compiled-in model
//! with both, every layer on the first four images (no dataset needed: the
//! int8 inputs are in the fixture).

#[path = "../examples/common/fashion_mnist.rs"]
#[allow(dead_code)]
mod fashion_mnist;
#[path = "../examples/common/fashion_net_int8.rs"]
#[macro_use]
#[allow(dead_code)]
mod net;

use net::{FashionNet8, FashionNet8Int8, CALIBRATION};
use safetensors::{Dtype, SafeTensors};
use staticnet::quant::{Int8Model, Interpreter, PtqConfig};
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

/// The int8 values of `name` in the TFLite fixture.
fn i8s(st: &SafeTensors<'_>, name: &str) -> Vec<i8> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), Dtype::I8, "{name}");
    t.data().iter().map(|&b| b as i8).collect()
}

#[test]
fn tflite_runs_the_exported_model_as_we_do() {
    let path = format!(
        "{}/tests/fixtures/fashion/fashion_net_int8_io.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let layers: Vec<String> = meta.metadata().as_ref().expect("metadata")["layers"]
        .split(',')
        .map(String::from)
        .collect();
    let inputs = i8s(&st, "input");
    let f = FashionFileInt8::weights();
    let mut x: staticnet::Image<i8, 1, 28, 28> = [[[0; 28]; 28]; 1];
    let mut kept = Box::new(FashionFileInt8Layers::zeroed());
    let mut compared = 0;
    for (interpreter, suffix) in [(Interpreter::Lite, ""), (Interpreter::Micro, "_micro")] {
        let outputs = i8s(&st, &format!("output{suffix}"));
        let n = outputs.len() / 10;
        assert_eq!(n, 100);
        for (i, (xi, yi)) in inputs
            .chunks_exact(784)
            .zip(outputs.chunks_exact(10))
            .enumerate()
        {
            x.as_flattened_mut().as_flattened_mut().copy_from_slice(xi);
            f.forward_layers(&x, &mut kept, interpreter);
            assert_eq!(kept.softmax, yi, "image {i}: TFLite{suffix}'s output");
            if interpreter == Interpreter::Micro {
                assert_eq!(f.forward(&x), yi, "image {i}: forward vs TFLite Micro");
            }
            if i < 4 {
                for name in &layers {
                    let want = i8s(&st, &format!("{name}.first{suffix}"));
                    let size = want.len() / 4;
                    let got = kept.get(name).unwrap_or_else(|| panic!("no layer {name}"));
                    assert_eq!(
                        got,
                        &want[i * size..(i + 1) * size],
                        "image {i}, layer {name}{suffix}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 2 * 4 * layers.len());
}
