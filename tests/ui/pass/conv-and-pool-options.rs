//! Conv2d with every form of kernel, stride and padding and every
//! activation; both poolings with window and stride as integer and pair.
use staticnet::{model, Model, Tensor};

model! {
    /// Convolutions with every option form.
    pub struct Convs {
        input: [2, 12, 10],
        /// A square kernel, default stride and padding.
        c1: Conv2d(3, kernel = 3, activation = linear),
        c2: Conv2d(4, kernel = (3, 2), stride = 2, padding = valid, activation = relu),
        c3: Conv2d(4, kernel = 3, stride = (1, 2), padding = same, activation = sigmoid),
        c4: Conv2d(filters = 2, kernel = 2, padding = 1, activation = tanh),
        c5: Conv2d(2, kernel = (2, 1), padding = (1, 0), activation = softmax),
        p1: MaxPool2d(2),
        f: Flatten,
        d: Dense(4),
    }
}

model! {
    struct Pools {
        input: [1, 9, 8],
        p1: MaxPool2d((3, 2)),
        p2: AvgPool2d(2, stride = 1),
        p3: MaxPool2d(size = (1, 2), stride = (1, 1)),
        p4: AvgPool2d(size = 2),
    }
}

model! {
    pub(crate) struct ImageOut {
        input: [1, 5, 5],
        c: Conv2d(3, kernel = 2, stride = 2, padding = same),
    }
}

fn main() {
    // [2, 12, 10] -> c1 [3, 10, 8] -> c2 [4, 4, 4] -> c3 [4, 4, 2]
    // -> c4 [2, 5, 3] -> c5 [2, 6, 3] -> p1 [2, 3, 1] -> f [6] -> d [4]
    let convs = Convs::<f32>::init(1);
    let y = convs.forward(&Tensor::zeros());
    assert_eq!(y.len(), 4);
    let shapes: Vec<&[usize]> = Convs::<f32>::LAYERS.iter().map(|l| l.output).collect();
    assert_eq!(shapes[1], &[4, 4, 4]);
    assert_eq!(shapes[2], &[4, 4, 2]);
    assert_eq!(shapes[4], &[2, 6, 3]);

    // [1, 9, 8] -> [1, 3, 4] -> [1, 2, 3] -> [1, 2, 2] -> [1, 1, 1]
    let pools = Pools::<f64>::init(2);
    let y = pools.forward(&Tensor::zeros());
    assert_eq!((y.len(), y[0].len(), y[0][0].len()), (1, 1, 1));
    assert_eq!(Pools::<f64>::PARAMS, 0);

    // `same` with stride 2: ceil(5 / 2) = 3.
    let y = ImageOut::<f32>::init(3).forward(&Tensor::zeros());
    assert_eq!((y.len(), y[0].len(), y[0][0].len()), (3, 3, 3));
}
