//! `forward` allocates nothing: a counting global allocator sees no call
//! while the models run.
//!
//! The counter is per thread: only the allocations of the thread that runs
//! the models count, not those of the test harness's main thread, which
//! may allocate at any time meanwhile (on a loaded machine it did, and the
//! test failed spuriously).

use staticnet::{model, Model, Tensor};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

/// Counts every allocation and reallocation, then defers to `System`.
struct Counting;

thread_local! {
    /// Allocations made by this thread. Const-initialised and without a
    /// destructor, so reaching it from the allocator allocates nothing.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: no panic inside the allocator, even while the thread's
    // locals are being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; the counter has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged (see above).
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged (see above).
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged (see above).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see above).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

model! {
    /// W1, the textbook CNN.
    struct SeedCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(1, activation = sigmoid),
    }
}

model! {
    /// W2, and a stacked variant that passes whole sequences between layers.
    struct Forecaster {
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head:  Dense(1),
    }
}

model! {
    /// The remaining kinds: padded strided convolution, both poolings,
    /// softmax, SimpleRnn and Gru with per-step Dense.
    struct Others {
        input: [12, 6],
        rnn: SimpleRnn(8, return_sequences = true),
        gru: Gru(8, return_sequences = true),
        per_step: Dense(4, activation = softmax),
        last: Gru(5),
        out: Dense(3, activation = tanh),
    }
}

model! {
    struct Pools {
        input: [2, 9, 7],
        c1: Conv2d(3, kernel = (3, 2), stride = (2, 1), padding = same, activation = tanh),
        p1: AvgPool2d((2, 1), stride = 1),
        c2: Conv2d(4, kernel = 2, padding = 1, activation = softmax),
        p2: MaxPool2d(2),
        f: Flatten,
        d: Dense(5, activation = softmax),
        r: Relu,
    }
}

/// Runs `forward` `REPS` times on an input filled with a ramp and returns
/// how many allocations happened meanwhile (and the output, so the work is
/// not optimised away).
fn allocations_in_forward<M: Model<f32>>(net: &M) -> (usize, M::Output) {
    const REPS: usize = 3;
    let mut x = M::Input::zeros();
    for (k, v) in x.as_flat_mut().iter_mut().enumerate() {
        *v = (k % 7) as f32 * 0.25 - 0.75;
    }
    let before = allocations();
    let mut y = black_box(net).forward(black_box(&x));
    for _ in 1..REPS {
        y = black_box(net).forward(black_box(&x));
    }
    let after = allocations();
    (after - before, y)
}

#[test]
fn forward_allocates_nothing() {
    // The counter works: a heap allocation between two readings is seen.
    let before = allocations();
    let v = black_box(vec![1u8; 64]);
    assert!(
        allocations() > before,
        "the counting allocator counts nothing"
    );
    drop(v);

    // Initialise everything before counting (init may do what it likes).
    let cnn = SeedCnn::<f32>::init(1);
    let lstm = Forecaster::<f32>::init(2);
    let others = Others::<f32>::init(3);
    let pools = Pools::<f32>::init(4);

    let (n, y) = allocations_in_forward(&cnn);
    assert_eq!(n, 0, "SeedCnn::forward allocated {n} times");
    assert!(y[0] > 0.0 && y[0] < 1.0);

    let (n, y) = allocations_in_forward(&lstm);
    assert_eq!(n, 0, "Forecaster::forward allocated {n} times");
    assert!(y[0].is_finite());

    let (n, y) = allocations_in_forward(&others);
    assert_eq!(n, 0, "Others::forward allocated {n} times");
    assert!(y.iter().all(|v| v.abs() <= 1.0));

    let (n, y) = allocations_in_forward(&pools);
    assert_eq!(n, 0, "Pools::forward allocated {n} times");
    assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}
