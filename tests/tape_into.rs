//! The training forward records each layer's output straight into the
//! tape (the kernels' `_into` forms), so a tape far larger than the
//! thread's stack is filled without a tape-sized temporary: before the
//! `_into` forms, `tape.conv1 = Conv2d::forward(..)` built the 492 KB
//! output on the stack and copied it (nothing elides that copy in a debug
//! or opt-level-1 build), which overflowed the 256 KiB thread below.
//!
//! The tape is allocated with `Train::boxed_tape` (heap-direct, zeroed);
//! what the training forward records must equal the inference forward's
//! values bit for bit, layer by layer (the inference forward runs in a
//! thread with a large stack).

use staticnet::{model, Image, Model, Train, Zeroable};

model! {
    /// [3, 64, 64] → two convolutions (the second with GELU, whose
    /// derivative keeps the pre-activation in the tape) → pool → a
    /// two-input Add → Dense: an f64 tape of about 2 MB.
    pub struct Wide {
        input: [3, 64, 64],
        conv1: Conv2d(16, kernel = 3, activation = relu),
        conv2: Conv2d(16, kernel = 3, padding = same, activation = gelu),
        sum: Add(conv1, conv2),
        pool: MaxPool2d(4),
        flat: Flatten,
        out: Dense(10, activation = softmax),
    }
}

const SMALL: usize = 256 << 10;
const LARGE: usize = 64 << 20;

fn in_thread<R: Send + 'static>(stack: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the thread panicked")
}

fn input() -> Box<Image<f64, 3, 64, 64>> {
    let mut x = <Image<f64, 3, 64, 64> as Zeroable>::boxed_zeroed();
    for (c, xc) in x.iter_mut().enumerate() {
        for (i, row) in xc.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = ((c * 4096 + i * 64 + j) as f64 * 0.37).sin();
            }
        }
    }
    x
}

#[test]
fn the_tape_is_larger_than_the_small_thread() {
    const { assert!(<Wide<f64> as Train<f64>>::TAPE_BYTES > 8 * SMALL) };
}

#[test]
fn a_tape_larger_than_the_stack_is_recorded_in_a_256_kib_thread() {
    let net = Wide::<f64>::boxed_init(3);
    let net2 = Wide::<f64>::boxed_init(3);
    let (tape, y) = in_thread(SMALL, move || {
        let x = input();
        let mut tape = <Wide<f64> as Train<f64>>::boxed_tape();
        let y = net.forward_train(&x, &mut tape);
        (tape, y)
    });
    // The reference: the inference forward and each layer's value from
    // the by-value kernels, in a thread with room for them.
    let (reference, conv2) = in_thread(LARGE, move || {
        let x = input();
        let y = net2.forward(&x);
        let mut tape = <Wide<f64> as Train<f64>>::boxed_tape();
        net2.forward_train(&x, &mut tape);
        (y, tape.conv2)
    });
    assert_eq!(y, reference);
    assert_eq!(tape.conv2, conv2);
    // The recorded values are the layers' outputs: softmax sums to one,
    // ReLU's are non-negative, the sum is conv1 + conv2 element-wise.
    assert!((y.sum() - 1.0).abs() < 1e-12);
    assert!(tape
        .conv1
        .as_flattened()
        .as_flattened()
        .iter()
        .all(|&v| v >= 0.0));
    let sum = tape.sum.as_flattened().as_flattened();
    let (a, b) = (
        tape.conv1.as_flattened().as_flattened(),
        tape.conv2.as_flattened().as_flattened(),
    );
    for ((&s, &a), &b) in sum.iter().zip(a).zip(b) {
        assert_eq!(s, a + b);
    }
}
