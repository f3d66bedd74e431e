use staticnet::model;

model! {
    struct Net {
        input: [1, 8, 8],
        conv1: Conv2D(4, kernel = 3),
        conv2: Conv2d(0, kernel = 3, activaton = relu),
        pool: MaxPool2d(2, stride = 0),
        fc1: Dense(10, activation = "relu"),
        fc1: Dense(2),
    }
}

fn main() {}
