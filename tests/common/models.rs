// The `model!` of every fixture case, shared by tests/forward_fixtures.rs
// and tests/gradient_fixtures.rs (each `include!`s this file). Each DSL is
// checked against the one stored in its fixture, so the Rust side and the
// PyTorch script cannot drift apart.

// --- Dense on a vector, every activation ---------------------------------------

model! {
    pub struct DenseDefault {
        input: [5],
        fc: Dense(4),
    }
}

model! {
    pub struct DenseLinear {
        input: [5],
        fc: Dense(4, activation = linear),
    }
}

model! {
    pub struct DenseRelu {
        input: [6],
        fc: Dense(5, activation = relu),
    }
}

model! {
    pub struct DenseSigmoid {
        input: [6],
        fc: Dense(3, activation = sigmoid),
    }
}

model! {
    pub struct DenseTanh {
        input: [4],
        fc: Dense(5, activation = tanh),
    }
}

model! {
    pub struct DenseSoftmax {
        input: [6],
        fc: Dense(4, activation = softmax),
    }
}

model! {
    pub struct DenseChain {
        input: [7],
        fc1: Dense(6, activation = relu),
        fc2: Dense(5, activation = tanh),
        fc3: Dense(3),
    }
}

// --- Dense per step on a sequence ----------------------------------------------

model! {
    pub struct DenseSeq {
        input: [4, 3],
        fc: Dense(5, activation = tanh),
    }
}

model! {
    pub struct DenseSeqSoftmax {
        input: [3, 5],
        fc: Dense(4, activation = softmax),
    }
}

// --- Conv2d: kernels, strides, every padding kind, activations -----------------

model! {
    pub struct ConvValid {
        input: [1, 6, 7],
        conv: Conv2d(2, kernel = 3),
    }
}

model! {
    pub struct ConvRectRelu {
        input: [2, 6, 7],
        conv: Conv2d(3, kernel = (2, 3), padding = valid, activation = relu),
    }
}

model! {
    pub struct ConvStride21 {
        input: [2, 7, 6],
        conv: Conv2d(2, kernel = (3, 2), stride = (2, 1), activation = linear),
    }
}

model! {
    pub struct ConvStride2Tanh {
        input: [3, 7, 8],
        conv: Conv2d(2, kernel = 3, stride = 2, activation = tanh),
    }
}

// TensorFlow `same`, odd kernel, stride 1: 1 on every side.
model! {
    pub struct ConvSameOddS1 {
        input: [2, 5, 6],
        conv: Conv2d(3, kernel = 3, padding = same, activation = sigmoid),
    }
}

// `same`, even kernel, stride 1: rows 1 top / 2 bottom, columns 0 left / 1 right.
model! {
    pub struct ConvSameEvenS1 {
        input: [2, 5, 6],
        conv: Conv2d(2, kernel = (4, 2), padding = same),
    }
}

// `same`, stride 2: rows 1 / 1, columns 0 / 1 → [3, 4, 4].
model! {
    pub struct ConvSameOddS2 {
        input: [2, 7, 8],
        conv: Conv2d(3, kernel = 3, stride = 2, padding = same),
    }
}

// `same`, even kernel, stride 2: rows 1 / 1, columns 1 / 2 → [2, 3, 4].
model! {
    pub struct ConvSameEvenS2 {
        input: [1, 6, 7],
        conv: Conv2d(2, kernel = 4, stride = 2, padding = same, activation = relu),
    }
}

// `same`, kernel (3, 2), stride (2, 1): rows 0 / 1, columns 0 / 1 → [2, 3, 5].
model! {
    pub struct ConvSameRectS21 {
        input: [2, 6, 5],
        conv: Conv2d(2, kernel = (3, 2), stride = (2, 1), padding = same),
    }
}

// `same` where TensorFlow's pad_total is (3-1)·3 + 1 - 8 = -1 for rows: clamped to 0.
model! {
    pub struct ConvSameClamped {
        input: [1, 8, 8],
        conv: Conv2d(2, kernel = (1, 2), stride = 3, padding = same),
    }
}

model! {
    pub struct ConvPadInt {
        input: [2, 5, 6],
        conv: Conv2d(3, kernel = 3, stride = 2, padding = 1, activation = tanh),
    }
}

model! {
    pub struct ConvPadPair {
        input: [1, 4, 5],
        conv: Conv2d(2, kernel = (3, 2), padding = (2, 1)),
    }
}

// Softmax over the 4 channels at each pixel.
model! {
    pub struct ConvSoftmax {
        input: [3, 4, 4],
        conv: Conv2d(4, kernel = 2, activation = softmax),
    }
}

model! {
    pub struct ConvConv {
        input: [2, 7, 7],
        conv1: Conv2d(3, kernel = 3, activation = relu),
        conv2: Conv2d(2, kernel = (2, 3), stride = (1, 2), padding = same, activation = sigmoid),
    }
}

// --- MaxPool2d: window == stride, ragged edges, overlapping, gaps, rectangular ---

model! {
    pub struct MaxPool2 {
        input: [2, 4, 6],
        pool: MaxPool2d(2),
    }
}

// Floor: the last row and column are dropped.
model! {
    pub struct MaxPoolRagged {
        input: [2, 5, 7],
        pool: MaxPool2d(2),
    }
}

// Windows overlap; the last row is dropped.
model! {
    pub struct MaxPoolOverlap {
        input: [1, 6, 7],
        pool: MaxPool2d(3, stride = 2),
    }
}

// Stride larger than the window: some rows and columns are never read.
model! {
    pub struct MaxPoolGap {
        input: [1, 7, 8],
        pool: MaxPool2d(2, stride = 3),
    }
}

model! {
    pub struct MaxPoolRect {
        input: [2, 5, 7],
        pool: MaxPool2d((2, 3)),
    }
}

model! {
    pub struct MaxPoolRectStride {
        input: [1, 5, 5],
        pool: MaxPool2d((3, 2), stride = (1, 2)),
    }
}

// --- AvgPool2d: the same windows -----------------------------------------------

model! {
    pub struct AvgPool2 {
        input: [2, 4, 6],
        pool: AvgPool2d(2),
    }
}

model! {
    pub struct AvgPoolRagged {
        input: [2, 5, 7],
        pool: AvgPool2d(2),
    }
}

model! {
    pub struct AvgPoolOverlap {
        input: [1, 6, 7],
        pool: AvgPool2d(3, stride = 2),
    }
}

model! {
    pub struct AvgPoolGap {
        input: [1, 7, 8],
        pool: AvgPool2d(2, stride = 3),
    }
}

model! {
    pub struct AvgPoolRect {
        input: [2, 5, 7],
        pool: AvgPool2d((2, 3)),
    }
}

model! {
    pub struct AvgPoolRectStride {
        input: [1, 5, 5],
        pool: AvgPool2d((3, 2), stride = (1, 2)),
    }
}

// --- Flatten of an image and of a sequence (a Dense after it makes the order matter) ---

model! {
    pub struct FlattenImage {
        input: [2, 5, 4],
        conv: Conv2d(3, kernel = (2, 3), activation = relu),
        flat: Flatten,
        fc: Dense(3),
    }
}

model! {
    pub struct FlattenSequence {
        input: [3, 4],
        flat: Flatten,
        fc: Dense(2, activation = tanh),
    }
}

model! {
    pub struct FlattenAfterGru {
        input: [4, 3],
        gru: Gru(3, return_sequences = true),
        flat: Flatten,
        fc: Dense(2),
    }
}

// --- Stand-alone activation layers on a vector, a sequence and an image --------

model! {
    pub struct ReluVector {
        input: [7],
        act: Relu,
    }
}

model! {
    pub struct SigmoidVector {
        input: [7],
        act: Sigmoid,
    }
}

model! {
    pub struct TanhVector {
        input: [7],
        act: Tanh,
    }
}

model! {
    pub struct SoftmaxVector {
        input: [7],
        act: Softmax,
    }
}

model! {
    pub struct ReluSequence {
        input: [3, 4],
        act: Relu,
    }
}

model! {
    pub struct SigmoidSequence {
        input: [3, 4],
        act: Sigmoid,
    }
}

model! {
    pub struct TanhSequence {
        input: [3, 4],
        act: Tanh,
    }
}

// Softmax over the 4 features of each of the 3 steps.
model! {
    pub struct SoftmaxSequence {
        input: [3, 4],
        act: Softmax,
    }
}

model! {
    pub struct ReluImage {
        input: [3, 2, 4],
        act: Relu,
    }
}

model! {
    pub struct SigmoidImage {
        input: [3, 2, 4],
        act: Sigmoid,
    }
}

model! {
    pub struct TanhImage {
        input: [3, 2, 4],
        act: Tanh,
    }
}

// Softmax over the 3 channels at each of the 2×4 pixels.
model! {
    pub struct SoftmaxImage {
        input: [3, 2, 4],
        act: Softmax,
    }
}

model! {
    pub struct DenseThenSoftmax {
        input: [5],
        fc: Dense(4),
        act: Softmax,
    }
}

model! {
    pub struct ConvThenSoftmax {
        input: [2, 4, 5],
        conv: Conv2d(3, kernel = (2, 2)),
        act: Softmax,
    }
}

// --- SimpleRnn, every activation, last state and whole sequence ----------------

model! {
    pub struct RnnDefault {
        input: [5, 3],
        rnn: SimpleRnn(4),
    }
}

model! {
    pub struct RnnTanhSeq {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = tanh, return_sequences = true),
    }
}

model! {
    pub struct RnnRelu {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = relu),
    }
}

model! {
    pub struct RnnReluSeq {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = relu, return_sequences = true),
    }
}

model! {
    pub struct RnnSigmoid {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = sigmoid, return_sequences = false),
    }
}

model! {
    pub struct RnnSigmoidSeq {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = sigmoid, return_sequences = true),
    }
}

model! {
    pub struct RnnLinear {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = linear),
    }
}

model! {
    pub struct RnnLinearSeq {
        input: [5, 3],
        rnn: SimpleRnn(4, activation = linear, return_sequences = true),
    }
}

// --- Lstm and Gru --------------------------------------------------------------

model! {
    pub struct LstmLast {
        input: [5, 3],
        lstm: Lstm(4),
    }
}

model! {
    pub struct LstmSeq {
        input: [5, 3],
        lstm: Lstm(4, return_sequences = true),
    }
}

model! {
    pub struct GruLast {
        input: [5, 3],
        gru: Gru(4, return_sequences = false),
    }
}

model! {
    pub struct GruSeq {
        input: [5, 3],
        gru: Gru(4, return_sequences = true),
    }
}

// --- Stacks of two recurrent layers --------------------------------------------

model! {
    pub struct LstmLstm {
        input: [6, 3],
        lstm1: Lstm(5, return_sequences = true),
        lstm2: Lstm(3),
    }
}

model! {
    pub struct GruGru {
        input: [6, 3],
        gru1: Gru(5, return_sequences = true),
        gru2: Gru(3),
    }
}

model! {
    pub struct RnnLstm {
        input: [6, 3],
        rnn: SimpleRnn(5, return_sequences = true),
        lstm: Lstm(3),
    }
}

model! {
    pub struct GruGruSeq {
        input: [4, 2],
        gru1: Gru(3, return_sequences = true),
        gru2: Gru(4, return_sequences = true),
    }
}

// --- Dense after recurrent layers ----------------------------------------------

model! {
    pub struct LstmSeqDense {
        input: [5, 3],
        lstm: Lstm(4, return_sequences = true),
        fc: Dense(3, activation = softmax),
    }
}

model! {
    pub struct RnnSeqDense {
        input: [5, 2],
        rnn: SimpleRnn(3, activation = relu, return_sequences = true),
        fc: Dense(2, activation = sigmoid),
    }
}

model! {
    pub struct GruDense {
        input: [5, 3],
        gru: Gru(4),
        fc: Dense(2, activation = relu),
    }
}

// --- The two reference models of DESIGN.md (PyTorch default init) --------------

model! {
    pub struct SeedCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(64, activation = relu),
        out: Dense(1, activation = sigmoid),
    }
}

model! {
    pub struct Forecaster {
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head: Dense(1),
    }
}
