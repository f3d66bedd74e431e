//! Tensors from plain nested arrays and back, in the DSL's order, on a
//! generated model's own input types.

use staticnet::tensor::{image_from_hwc, image_to_hwc};
use staticnet::{model, Model, Sequence, Steps, Tensor, VectorArray};

model! {
    pub struct Gesture {
        input: [50, 3],
        gru: Gru(4),
        out: Dense(2, activation = softmax),
    }
}

model! {
    pub struct Cnn {
        input: [3, 4, 5],
        conv: Conv2d(2, kernel = 3),
        flat: Flatten,
        out: Dense(1),
    }
}

#[test]
fn a_plain_array_of_steps_is_the_models_input() {
    // 50 steps of 3 features, as a Keras/NumPy user holds them.
    let data: [[f32; 3]; 50] = core::array::from_fn(|t| [t as f32, -(t as f32), 0.5]);
    let x = <Gesture as Model<f32>>::Input::from_steps(&data);
    // Row-major [steps, features] flat order, as PyTorch stores it.
    let flat: Vec<f32> = data.iter().flatten().copied().collect();
    assert_eq!(x.as_flat(), &flat[..]);
    assert_eq!(x.as_steps(), &data);
    let net = Gesture::<f32>::init(1);
    assert_eq!(
        net.forward(&x),
        net.forward(&Sequence::from_flat(&flat).unwrap())
    );
    // The plain array itself is a sequence model's input (copied once).
    assert_eq!(net.forward(&x), net.forward(&data));
    let mut y = x;
    y.as_steps_mut()[7][1] = 9.0;
    assert_eq!(y[(1, 7)], 9.0);
}

#[test]
fn vectors_and_channels_last_images() {
    let v = staticnet::Vector::<f64, 3>::from_array(&[1.0, 2.0, 3.0]);
    assert_eq!(v.as_array(), &[1.0, 2.0, 3.0]);
    assert_eq!(v.as_flat(), &[1.0, 2.0, 3.0]);
    // A 4×5 RGB image in channels-last order ([h][w][c], Keras/PIL).
    let hwc: [[[f32; 3]; 5]; 4] = core::array::from_fn(|h| {
        core::array::from_fn(|w| core::array::from_fn(|c| (100 * c + 10 * h + w) as f32))
    });
    let img: <Cnn as Model<f32>>::Input = image_from_hwc(&hwc);
    assert_eq!(img[2][3][4], 234.0);
    assert_eq!(image_to_hwc(&img), hwc);
    let _ = Cnn::<f32>::init(1).forward(&img);
}
