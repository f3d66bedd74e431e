//! Weights in and out as [safetensors](https://huggingface.co/docs/safetensors),
//! the format `safetensors.torch.save_file(model.state_dict(), ..)` writes.
//!
//! Every generated model implements [`Weights`] through a blanket
//! implementation over [`Model`], so this is one generic loader rather than
//! code generated per model. Tensors are matched by their PyTorch
//! `state_dict` name and shape (the table in the crate documentation) and
//! read in PyTorch's row-major order; [`Param`](crate::Param) and
//! [`ParamMut`](crate::ParamMut) do the conversion to nalgebra's
//! column-major storage.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use staticnet_runtime::{LoadError, Model, Weights};
//! # fn demo<M: Model<f32>>(bytes: &[u8]) -> Result<(), LoadError> {
//! let model = M::from_safetensors(bytes)?; // strict: names, shapes, no extras
//! let bytes_again = model.to_safetensors(); // f32 tensors for an f32 model
//! # let _ = bytes_again; Ok(()) }
//! # }
//! ```
//!
//! Loading never leaves a model half-written: the whole file is checked
//! (every tensor present, of the right shape and a float dtype, nothing
//! unexpected) before the first value is copied.

use crate::{Float, Model, Zeroable};
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use safetensors::{Dtype, SafeTensors};

/// Why a safetensors file could not be loaded into a model. Every variant
/// names the tensor it is about and what the model expected.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The model has a parameter that the file does not.
    Missing {
        /// The `state_dict` name, e.g. `conv1.weight`.
        name: &'static str,
        /// The shape the model expects.
        shape: &'static [usize],
    },
    /// The file has a tensor that is not one of the model's parameters (and
    /// [`LoadOptions::allow_extra`] was not set).
    Unexpected {
        /// The tensor's name in the file.
        name: String,
        /// Its shape in the file.
        shape: Vec<usize>,
    },
    /// A tensor has another shape than the model's parameter of that name.
    Shape {
        /// The `state_dict` name.
        name: &'static str,
        /// The shape the model expects.
        expected: &'static [usize],
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a type that is not a float the loader reads
    /// (F32, F64, F16, BF16).
    Dtype {
        /// The `state_dict` name.
        name: &'static str,
        /// The dtype in the file, as safetensors spells it (`I64`, `U8`, ...).
        found: String,
    },
    /// The bytes are not a well-formed safetensors file: too short, a
    /// header that is not JSON, offsets that do not cover the data, ...
    Format {
        /// What is wrong, as the safetensors parser says it.
        reason: String,
    },
    /// Several tensors do not match (each one a `Missing`, `Unexpected`,
    /// `Shape`, `Dtype` or `Format` error, in the model's `state_dict`
    /// order, then the unexpected tensors by name): the whole file is
    /// checked, so one error lists every bad tensor. A file with a single
    /// bad tensor gives that tensor's error alone.
    Many(Vec<LoadError>),
    /// Reading or writing a file failed.
    #[cfg(feature = "std")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

struct ShapeFmt<'a>(&'a [usize]);

impl fmt::Display for ShapeFmt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Missing { name, shape } => write!(
                f,
                "missing tensor `{name}`: the model expects shape {}",
                ShapeFmt(shape)
            ),
            LoadError::Unexpected { name, shape } => write!(
                f,
                "unexpected tensor `{name}` {} is not a parameter of the model \
                 (use `LoadOptions::allow_extra` to skip tensors the model does not have)",
                ShapeFmt(shape)
            ),
            LoadError::Shape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor `{name}` has shape {}, but the model expects {}",
                ShapeFmt(found),
                ShapeFmt(expected)
            ),
            LoadError::Dtype { name, found } => write!(
                f,
                "tensor `{name}` is {found}; expected a float tensor (F32, F64, F16 or BF16)"
            ),
            LoadError::Format { reason } => {
                write!(f, "not a valid safetensors file: {reason}")
            }
            LoadError::Many(errors) => {
                write!(f, "{} tensors do not match the model:", errors.len())?;
                for e in errors {
                    write!(f, "\n  - {e}")?;
                }
                // A missing parameter and an unexpected tensor of the same
                // shape are most likely one layer under two names.
                for e in errors {
                    let LoadError::Missing { name, shape } = e else {
                        continue;
                    };
                    let renamed = errors.iter().find_map(|u| match u {
                        LoadError::Unexpected { name: n, shape: s } if s == shape => Some(n),
                        _ => None,
                    });
                    if let Some(other) = renamed {
                        write!(
                            f,
                            "\n  hint: `{other}` in the file has the shape of the missing \
                             `{name}`: was the layer renamed? The names must be the \
                             model's layer names (`{name}`)"
                        )?;
                        break;
                    }
                }
                Ok(())
            }
            #[cfg(feature = "std")]
            LoadError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How strict [`Weights::from_safetensors_with`] is.
///
/// The default is strict: every tensor in the file must be a parameter of
/// the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions<'a> {
    /// Skip every tensor the model does not have (e.g. a fixture's `input`
    /// and `output`, or buffers of layers the model leaves out).
    pub allow_extra: bool,
    /// Skip these tensors if present, and still reject any other extra one.
    pub ignore: &'a [&'a str],
}

impl<'a> LoadOptions<'a> {
    /// Strict loading (the default).
    pub const fn new() -> Self {
        LoadOptions {
            allow_extra: false,
            ignore: &[],
        }
    }
    /// Skips every tensor the model does not have.
    pub const fn allow_extra(mut self) -> Self {
        self.allow_extra = true;
        self
    }
    /// Skips the tensors called `names`; other extra tensors stay errors.
    pub const fn ignore(mut self, names: &'a [&'a str]) -> Self {
        self.ignore = names;
        self
    }
}

/// The float dtypes the loader reads, and how to decode one value.
#[derive(Clone, Copy)]
enum Float16Or {
    F16,
    Bf16,
    F32,
    F64,
}

impl Float16Or {
    fn of(d: Dtype) -> Option<Self> {
        match d {
            Dtype::F16 => Some(Self::F16),
            Dtype::BF16 => Some(Self::Bf16),
            Dtype::F32 => Some(Self::F32),
            Dtype::F64 => Some(Self::F64),
            _ => None,
        }
    }
    fn width(self) -> usize {
        match self {
            Self::F16 | Self::Bf16 => 2,
            Self::F32 => 4,
            Self::F64 => 8,
        }
    }
    /// Value `k` of little-endian `data` (whose length was checked), widened
    /// to f64 exactly.
    fn get(self, data: &[u8], k: usize) -> f64 {
        let w = self.width();
        let mut b = [0u8; 8];
        if let Some(src) = data.get(k * w..k * w + w) {
            b[..w].copy_from_slice(src);
        }
        match self {
            Self::F16 => f16_to_f64(u16::from_le_bytes([b[0], b[1]])),
            Self::Bf16 => f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16) as f64,
            Self::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Self::F64 => f64::from_le_bytes(b),
        }
    }
}

/// IEEE binary16 to f64, exactly (every f16 is an f64).
pub(crate) fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = u64::from((h >> 10) & 0x1f);
    let frac = u64::from(h & 0x3ff);
    match exp {
        // Subnormal: frac · 2^-24.
        0 => sign * frac as f64 * f64::from_bits((1023 - 24) << 52),
        0x1f if frac == 0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        // Normal: rebias the exponent (15 → 1023) and widen the fraction.
        _ => {
            let bits = ((exp + 1023 - 15) << 52) | (frac << 42);
            sign * f64::from_bits(bits)
        }
    }
}

/// Loading and saving a model's parameters as safetensors, in PyTorch
/// `state_dict` naming and layout. Implemented for every [`Model`].
///
/// `from_*` build a fresh model; [`Weights::load_safetensors_into`] fills an
/// existing one in place (no model-sized temporary on the stack) and leaves
/// it unchanged on error.
pub trait Weights<T: Float>: Model<T> {
    /// Reads a safetensors file strictly: every parameter must be present
    /// with its exact PyTorch shape, and nothing else may be in the file.
    /// F32, F64, F16 and BF16 tensors are accepted for both `f32` and `f64`
    /// models (converted with rounding to nearest).
    fn from_safetensors(bytes: &[u8]) -> Result<Self, LoadError> {
        Self::from_safetensors_with(bytes, LoadOptions::new())
    }

    /// [`Weights::from_safetensors`] with options (e.g. to skip extra
    /// tensors).
    fn from_safetensors_with(bytes: &[u8], options: LoadOptions<'_>) -> Result<Self, LoadError> {
        let mut model = Self::zeros();
        model.load_safetensors_into(bytes, options)?;
        Ok(model)
    }

    /// Overwrites every parameter of `self` from a safetensors file. The
    /// file is checked completely before the first value is written, so on
    /// `Err` `self` is unchanged.
    fn load_safetensors_into(
        &mut self,
        bytes: &[u8],
        options: LoadOptions<'_>,
    ) -> Result<(), LoadError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| LoadError::Format {
            reason: e.to_string(),
        })?;

        // Pass 1: check everything, write nothing, and collect every
        // problem (a wrong file is one error listing all its bad tensors).
        let mut errors: Vec<LoadError> = Vec::new();
        let mut names: Vec<&'static str> = Vec::with_capacity(Self::TENSORS);
        self.visit_params(&mut |p| {
            names.push(p.name);
            if let Err(e) = check_tensor(&st, p.name, p.shape, p.len()) {
                errors.push(e);
            }
        });
        if let Err(e) = check_buffers(self, &st, &mut names) {
            errors.push(e);
        }
        if !options.allow_extra {
            let mut extra: Vec<&str> = st
                .names()
                .into_iter()
                .filter(|n| !names.contains(n) && !options.ignore.contains(n))
                .collect();
            extra.sort_unstable();
            for name in extra {
                let shape = st
                    .tensor(name)
                    .map(|v| v.shape().to_vec())
                    .unwrap_or_default();
                errors.push(LoadError::Unexpected {
                    name: name.to_string(),
                    shape,
                });
            }
        }
        if errors.len() > 1 {
            return Err(LoadError::Many(errors));
        }
        if let Some(e) = errors.pop() {
            return Err(e);
        }

        // Pass 2: copy. Every tensor was found with the right shape, dtype
        // and byte length above, so nothing here can fail.
        self.visit_params_mut(&mut |mut p| {
            let Ok(view) = st.tensor(p.name) else { return };
            let Some(kind) = Float16Or::of(view.dtype()) else {
                return;
            };
            let data = view.data();
            for k in 0..p.len() {
                p.set(k, T::of_f64(kind.get(data, k)));
            }
        });
        copy_buffers(self, &st);
        Ok(())
    }

    /// The parameters as a safetensors file: F32 tensors for an `f32`
    /// model, F64 for `f64`, in PyTorch naming, shape and order, with
    /// `__metadata__ = {"format": "pt"}` as `safetensors.torch` writes it,
    /// so `model.load_state_dict(safetensors.torch.load_file(path))` reads
    /// it directly. The output depends only on the values (no map-order
    /// randomness), so the same model always gives the same bytes.
    fn to_safetensors(&self) -> Vec<u8> {
        let f32_file = core::mem::size_of::<T>() == 4;
        let (dtype, width) = if f32_file { ("F32", 4) } else { ("F64", 8) };
        let mut header = String::from("{\"__metadata__\":{\"format\":\"pt\"}");
        let mut data: Vec<u8> = Vec::with_capacity(Self::PARAMS * width);
        self.visit_params(&mut |p| {
            let start = data.len();
            for v in p.iter() {
                if f32_file {
                    data.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
                } else {
                    data.extend_from_slice(&v.to_f64().to_le_bytes());
                }
            }
            // Names are Rust identifiers joined by `.`: no JSON escaping
            // is needed.
            let _ = fmt::Write::write_fmt(
                &mut header,
                format_args!(",\"{}\":{{\"dtype\":\"{dtype}\",\"shape\":[", p.name),
            );
            for (i, d) in p.shape.iter().enumerate() {
                if i > 0 {
                    header.push(',');
                }
                let _ = fmt::Write::write_fmt(&mut header, format_args!("{d}"));
            }
            let _ = fmt::Write::write_fmt(
                &mut header,
                format_args!("],\"data_offsets\":[{start},{}]}}", data.len()),
            );
        });
        write_buffers(self, &mut header, &mut data);
        header.push('}');
        // Pad the header with spaces to a multiple of 8 bytes, as the
        // reference writer does, so the data that follows is aligned.
        while header.len() % 8 != 0 {
            header.push(' ');
        }
        let mut out = Vec::with_capacity(8 + header.len() + data.len());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&data);
        out
    }

    /// [`Weights::from_safetensors_with`] into a model made directly on
    /// the heap ([`Model::boxed_zeros`]): no model-sized value is on the
    /// stack, in debug or release builds.
    fn boxed_from_safetensors_with(
        bytes: &[u8],
        options: LoadOptions<'_>,
    ) -> Result<Box<Self>, LoadError>
    where
        Self: Zeroable,
    {
        let mut model = Self::boxed_zeroed();
        model.load_safetensors_into(bytes, options)?;
        Ok(model)
    }

    /// [`Weights::load`] into a model made directly on the heap: what to use
    /// for a model too big for the stack ([`Model::TOO_BIG_FOR_STACK`]).
    /// The file is read first, so a missing file costs no allocation.
    #[cfg(feature = "std")]
    fn boxed_load(path: impl AsRef<std::path::Path>) -> Result<Box<Self>, LoadError>
    where
        Self: Zeroable,
    {
        Self::boxed_load_with(path, LoadOptions::new())
    }

    /// [`Weights::load_with`] into a model made directly on the heap.
    #[cfg(feature = "std")]
    fn boxed_load_with(
        path: impl AsRef<std::path::Path>,
        options: LoadOptions<'_>,
    ) -> Result<Box<Self>, LoadError>
    where
        Self: Zeroable,
    {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::boxed_from_safetensors_with(&bytes, options)
    }

    /// Reads the file at `path` with [`Weights::from_safetensors`].
    ///
    /// The model is returned by value, so this needs
    /// [`Model::STACK_BYTES`] of stack (more in a debug build), even when
    /// the file is missing; for a large model use [`Weights::boxed_load`].
    #[cfg(feature = "std")]
    fn load(path: impl AsRef<std::path::Path>) -> Result<Self, LoadError> {
        Self::load_with(path, LoadOptions::new())
    }

    /// Reads the file at `path` with [`Weights::from_safetensors_with`].
    #[cfg(feature = "std")]
    fn load_with(
        path: impl AsRef<std::path::Path>,
        options: LoadOptions<'_>,
    ) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_safetensors_with(&bytes, options)
    }

    /// Writes [`Weights::to_safetensors`] to `path`.
    #[cfg(feature = "std")]
    fn save(&self, path: impl AsRef<std::path::Path>) -> Result<(), LoadError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_safetensors()).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

impl<T: Float, M: Model<T>> Weights<T> for M {}

/// Pass 1 for the buffers: float buffers are required like parameters; a
/// count (`num_batches_tracked`) is optional, but if present must be PyTorch's
/// I64 scalar. Adds every buffer's name to `names`.
fn check_buffers<T: Float, M: Model<T>>(
    model: &M,
    st: &SafeTensors<'_>,
    names: &mut Vec<&'static str>,
) -> Result<(), LoadError> {
    let mut error: Option<LoadError> = None;
    model.visit_buffers(&mut |b| {
        names.push(b.name());
        if error.is_some() {
            return;
        }
        error = match b {
            crate::Buffer::Values(p) => check_tensor(st, p.name, p.shape, p.len()).err(),
            crate::Buffer::Count { name, .. } => match st.tensor(name) {
                Err(_) => None,
                Ok(v) if !v.shape().is_empty() => Some(LoadError::Shape {
                    name,
                    expected: &[],
                    found: v.shape().to_vec(),
                }),
                Ok(v) if v.dtype() != Dtype::I64 || v.data().len() != 8 => {
                    Some(LoadError::Format {
                        reason: alloc::format!(
                            "tensor `{name}` is {}; a batch count is an I64 scalar",
                            v.dtype()
                        ),
                    })
                }
                Ok(_) => None,
            },
        };
    });
    error.map_or(Ok(()), Err)
}

/// Pass 2 for the buffers (checked by [`check_buffers`]); a count missing
/// from the file is left as it is.
fn copy_buffers<T: Float, M: Model<T>>(model: &mut M, st: &SafeTensors<'_>) {
    model.visit_buffers_mut(&mut |b| match b {
        crate::BufferMut::Values(mut p) => {
            let Ok(view) = st.tensor(p.name) else { return };
            let Some(kind) = Float16Or::of(view.dtype()) else {
                return;
            };
            let data = view.data();
            for k in 0..p.len() {
                p.set(k, T::of_f64(kind.get(data, k)));
            }
        }
        crate::BufferMut::Count { name, value } => {
            let Ok(view) = st.tensor(name) else { return };
            if let Ok(b) = <[u8; 8]>::try_from(view.data()) {
                *value = i64::from_le_bytes(b);
            }
        }
    });
}

/// Appends the buffers to a file being written: float buffers in the
/// model's float type, counts as I64 scalars (so PyTorch's
/// `load_state_dict(strict=True)` finds `num_batches_tracked`).
fn write_buffers<T: Float, M: Model<T>>(model: &M, header: &mut String, data: &mut Vec<u8>) {
    let f32_file = core::mem::size_of::<T>() == 4;
    model.visit_buffers(&mut |b| {
        let start = data.len();
        let (name, dtype, shape): (_, _, &[usize]) = match b {
            crate::Buffer::Values(p) => {
                for v in p.iter() {
                    if f32_file {
                        data.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
                    } else {
                        data.extend_from_slice(&v.to_f64().to_le_bytes());
                    }
                }
                (p.name, if f32_file { "F32" } else { "F64" }, p.shape)
            }
            crate::Buffer::Count { name, value } => {
                data.extend_from_slice(&value.to_le_bytes());
                (name, "I64", &[])
            }
        };
        let _ = fmt::Write::write_fmt(
            header,
            format_args!(",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":["),
        );
        for (i, d) in shape.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            let _ = fmt::Write::write_fmt(header, format_args!("{d}"));
        }
        let _ = fmt::Write::write_fmt(
            header,
            format_args!("],\"data_offsets\":[{start},{}]}}", data.len()),
        );
    });
}

/// Checks one tensor of the file against the model's parameter `name`.
fn check_tensor(
    st: &SafeTensors<'_>,
    name: &'static str,
    shape: &'static [usize],
    len: usize,
) -> Result<(), LoadError> {
    let view = st
        .tensor(name)
        .map_err(|_| LoadError::Missing { name, shape })?;
    if view.shape() != shape {
        return Err(LoadError::Shape {
            name,
            expected: shape,
            found: view.shape().to_vec(),
        });
    }
    let Some(kind) = Float16Or::of(view.dtype()) else {
        return Err(LoadError::Dtype {
            name,
            found: view.dtype().to_string(),
        });
    };
    // The parser checked that offsets, shape and dtype agree; checked again
    // here because pass 2 relies on it.
    if Some(view.data().len()) != len.checked_mul(kind.width()) {
        return Err(LoadError::Format {
            reason: alloc::format!("tensor `{name}`: data length does not match its shape"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::f16_to_f64;

    #[test]
    fn f16_decodes_every_class() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x3555), 0.333_251_953_125);
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x03ff), 1023.0 * 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x0400), 2f64.powi(-14));
        assert_eq!(f16_to_f64(0x7c00), f64::INFINITY);
        assert_eq!(f16_to_f64(0xfc00), f64::NEG_INFINITY);
        assert!(f16_to_f64(0x7e00).is_nan());
        assert!(f16_to_f64(0x8000).is_sign_negative());
    }
}
