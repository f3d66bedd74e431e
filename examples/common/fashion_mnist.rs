//! A reader for Fashion-MNIST's IDX files as Debian's `dataset-fashion-mnist`
//! installs them (`/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz`,
//! gzip-compressed; Zalando Research, MIT licence).
//!
//! IDX: a big-endian header — two zero bytes, a type code (0x08: unsigned
//! bytes), the number of dimensions, then each dimension as a u32 — and the
//! values in row-major order. Images are `[n, 28, 28]` (pixels 0..255,
//! row by row), labels `[n]` (0..9).

use flate2::read::GzDecoder;
use staticnet::Image;
use std::error::Error;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where Debian's package puts the files.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The class names of labels 0..9.
pub const CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// One 28×28 grey image, pixels scaled to [0, 1].
pub type Picture = Image<f32, 1, 28, 28>;

/// The directory holding the four files: `$FASHION_MNIST_DIR` if set,
/// else Debian's.
pub fn data_dir() -> PathBuf {
    std::env::var_os("FASHION_MNIST_DIR").map_or_else(|| PathBuf::from(DEBIAN_DIR), PathBuf::from)
}

/// Reads one gzip-compressed IDX file of unsigned bytes with `dims`
/// dimensions; returns the dimensions and the values.
fn read_idx(path: &Path, dims: usize) -> Result<(Vec<usize>, Vec<u8>), Box<dyn Error>> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "{}: {e}\n\
             Fashion-MNIST is read from Debian's package `dataset-fashion-mnist`: install it with\n    \
             sudo apt-get install dataset-fashion-mnist\n\
             (it puts the four *-idx?-ubyte.gz files in {DEBIAN_DIR}), or set FASHION_MNIST_DIR \
             to a directory holding them (from https://github.com/zalandoresearch/fashion-mnist).",
            path.display()
        )
    })?;
    let mut bytes = Vec::new();
    GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: not a gzip file: {e}", path.display()))?;
    let bad = |what: &str| format!("{}: not an IDX file of bytes: {what}", path.display());
    let header = 4 + 4 * dims;
    if bytes.len() < header {
        return Err(bad("shorter than its header").into());
    }
    if bytes[..3] != [0, 0, 0x08] || usize::from(bytes[3]) != dims {
        return Err(bad(&format!(
            "magic {:02x?}, expected [00, 00, 08, {dims:02x}]",
            &bytes[..4]
        ))
        .into());
    }
    let shape: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let len: usize = shape.iter().product();
    if bytes.len() != header + len {
        return Err(bad(&format!(
            "{} value bytes, the header's shape {shape:?} needs {len}",
            bytes.len() - header
        ))
        .into());
    }
    bytes.drain(..header);
    Ok((shape, bytes))
}

/// Reads split `prefix` (`"train"`: 60,000 images, `"t10k"`: 10,000) from
/// [`data_dir`]: the images with pixels scaled to [0, 1], and the labels.
pub fn load(prefix: &str) -> Result<(Vec<Picture>, Vec<usize>), Box<dyn Error>> {
    let dir = data_dir();
    let (shape, pixels) = read_idx(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")), 3)?;
    if shape[1..] != [28, 28] {
        return Err(format!("{prefix} images are {shape:?}, expected [n, 28, 28]").into());
    }
    let (lshape, labels) = read_idx(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")), 1)?;
    if lshape[0] != shape[0] {
        return Err(format!("{} {prefix} images but {} labels", shape[0], lshape[0]).into());
    }
    if let Some(l) = labels.iter().find(|&&l| l > 9) {
        return Err(format!("{prefix}: label {l} is not 0..9").into());
    }
    let images = pixels
        .chunks_exact(28 * 28)
        .map(|p| {
            let mut img: Picture = [[[0.0; 28]; 28]; 1];
            for (v, &b) in img.iter_mut().flatten().flatten().zip(p) {
                *v = f32::from(b) / 255.0;
            }
            img
        })
        .collect();
    Ok((images, labels.into_iter().map(usize::from).collect()))
}
