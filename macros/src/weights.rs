//! `#[weights = "file.safetensors"]` on a `model!` struct: the attribute,
//! and reading the file at compile time.
//!
//! The safetensors format is small enough to read by hand: an 8-byte
//! little-endian header length, a JSON header (`{"name": {"dtype": "F32",
//! "shape": [..], "data_offsets": [start, end]}, "__metadata__": {..}}`),
//! then the raw little-endian data. A hand-written reader keeps `serde`,
//! `serde_json` and the `safetensors` crate out of the proc-macro's build
//! (firmware users, who want compiled-in weights most, have no other use
//! for them). Every read is bounds-checked and every failure is an error
//! message, never a panic.

use crate::ast::ModelDef;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

/// The parsed attribute.
pub struct WeightsAttr {
    /// The path as written; errors about the file are spanned on it.
    pub path: LitStr,
    /// `allow_extra`: tensors the model does not have are skipped.
    pub allow_extra: bool,
    /// `ignore = ["input", ..]`: these tensors are skipped if present.
    pub ignore: Vec<LitStr>,
}

/// Removes `#[weights ..]` from the struct's attributes (so it is not
/// emitted onto the struct) and parses it.
pub fn take(def: &mut ModelDef) -> syn::Result<Option<WeightsAttr>> {
    let mut found: Option<WeightsAttr> = None;
    let mut rest = Vec::with_capacity(def.attrs.len());
    for attr in std::mem::take(&mut def.attrs) {
        if !attr.path().is_ident("weights") {
            rest.push(attr);
            continue;
        }
        let parsed = match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => WeightsAttr {
                    path: LitStr::new(&s.value(), s.span()),
                    allow_extra: false,
                    ignore: Vec::new(),
                },
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected the weights file as a string: `#[weights = \"path/to/file.safetensors\"]`",
                    ))
                }
            },
            syn::Meta::List(list) => list.parse_args::<WeightsAttr>()?,
            syn::Meta::Path(p) => {
                return Err(syn::Error::new_spanned(
                    p,
                    "`#[weights]` needs a file: `#[weights = \"path/to/file.safetensors\"]`",
                ))
            }
        };
        if found.is_some() {
            return Err(syn::Error::new_spanned(
                &attr,
                "`#[weights]` is given twice; a model takes its weights from one file",
            ));
        }
        found = Some(parsed);
    }
    def.attrs = rest;
    Ok(found)
}

/// `"path"` or `"path", allow_extra` or `"path", ignore = ["a", "b"]`.
impl Parse for WeightsAttr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let path: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the weights file as a string: `#[weights(\"path/to/file.safetensors\")]`",
            )
        })?;
        let mut attr = WeightsAttr {
            path,
            allow_extra: false,
            ignore: Vec::new(),
        };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            if key == "allow_extra" {
                attr.allow_extra = true;
            } else if key == "ignore" {
                input.parse::<Token![=]>()?;
                let content;
                syn::bracketed!(content in input);
                let names =
                    content.parse_terminated(|s: ParseStream| s.parse::<LitStr>(), Token![,])?;
                attr.ignore.extend(names);
            } else {
                // The same edit-distance suggestion as the layer options'.
                let hint = crate::symbol::did_you_mean(
                    &key.to_string(),
                    ["allow_extra", "ignore"].into_iter(),
                )
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
                return Err(syn::Error::new_spanned(
                    &key,
                    format!(
                        "unknown `#[weights]` option `{key}`; {hint}`#[weights]` takes `allow_extra` or `ignore = [\"name\", ..]`"
                    ),
                ));
            }
        }
        Ok(attr)
    }
}

/// One tensor of a safetensors file.
pub struct FileTensor {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Its bytes (length checked against shape and dtype).
    pub data: Vec<u8>,
    /// Where they begin in the file (so the generated code can decode
    /// them from an `include_bytes!` of it).
    pub offset: usize,
}

impl FileTensor {
    /// The values widened exactly to f64, in the file's (PyTorch's) order,
    /// or `None` if the dtype is not a float the macro reads.
    pub fn values(&self) -> Option<Vec<f64>> {
        let decode: fn(&[u8]) -> f64 = match self.dtype.as_str() {
            "F64" => |b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
            "F32" => |b| f32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as f64,
            "F16" => |b| f16_to_f64(u16::from_le_bytes(b.try_into().unwrap_or([0; 2]))),
            "BF16" => |b| {
                f32::from_bits(u32::from(u16::from_le_bytes(b.try_into().unwrap_or([0; 2]))) << 16)
                    as f64
            },
            _ => return None,
        };
        let width = dtype_bytes(&self.dtype)?;
        Some(self.data.chunks_exact(width).map(decode).collect())
    }
}

/// IEEE binary16 to f64, exactly.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = u64::from((h >> 10) & 0x1f);
    let frac = u64::from(h & 0x3ff);
    match exp {
        0 => sign * frac as f64 * f64::from_bits((1023 - 24) << 52),
        0x1f if frac == 0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        _ => sign * f64::from_bits(((exp + 1023 - 15) << 52) | (frac << 42)),
    }
}

/// Bytes per value of a safetensors dtype (sub-byte dtypes are `None`).
fn dtype_bytes(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" | "F8_E4M3FNUZ"
        | "F8_E5M2FNUZ" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" | "C64" => 8,
        _ => return None,
    })
}

/// The file the attribute names, read and parsed.
pub struct WeightsFile {
    /// Absolute path, for `include_bytes!` (so cargo rebuilds when it
    /// changes).
    pub path: PathBuf,
    pub tensors: BTreeMap<String, FileTensor>,
    /// Its length in bytes, as read.
    pub len: usize,
}

/// Finds and reads the file: relative to `CARGO_MANIFEST_DIR` (as the
/// crate's `Cargo.toml` sees it), or else relative to the directory of the
/// source file that invokes `model!` (as `include_bytes!`); absolute paths
/// as they are.
pub fn read(attr: &WeightsAttr) -> syn::Result<WeightsFile> {
    let written = attr.path.value();
    let err = |msg: String| syn::Error::new(attr.path.span(), msg);
    let mut candidates = Vec::new();
    let p = Path::new(&written);
    if p.is_absolute() {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
            candidates.push(Path::new(&dir).join(p));
        }
        if let Some(dir) = source_dir(&attr.path) {
            candidates.push(dir.join(p));
        }
    }
    let Some(path) = candidates.iter().find(|c| c.is_file()) else {
        return Err(err(format!(
            "cannot find the weights file `{written}` (a path is relative to the crate's \
             directory, CARGO_MANIFEST_DIR, or to the directory of this source file)"
        )));
    };
    let bytes = std::fs::read(path)
        .map_err(|e| err(format!("cannot read the weights file `{written}`: {e}")))?;
    let tensors = parse_safetensors(&bytes)
        .map_err(|e| err(format!("`{written}` is not a valid safetensors file: {e}")))?;
    let path = path.canonicalize().unwrap_or_else(|_| path.clone());
    Ok(WeightsFile {
        path,
        tensors,
        len: bytes.len(),
    })
}

/// The directory of the file the literal is in, when the compiler says.
fn source_dir(lit: &LitStr) -> Option<PathBuf> {
    if !proc_macro::is_available() {
        return None;
    }
    let file = lit.span().unwrap().local_file()?;
    file.parent().map(Path::to_path_buf)
}

/// Largest header the reader accepts (safetensors' own limit).
const MAX_HEADER: u64 = 100_000_000;

/// Parses a whole safetensors file.
pub fn parse_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, FileTensor>, String> {
    let Some(len_bytes) = bytes.get(..8) else {
        return Err(format!(
            "{} bytes is too short for the 8-byte header length",
            bytes.len()
        ));
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(len_bytes);
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || n > (bytes.len() - 8) as u64 {
        return Err(format!(
            "the header length says {n} bytes, but the file has {} after it (truncated?)",
            bytes.len() - 8
        ));
    }
    let n = n as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n])
        .map_err(|e| format!("the header is not UTF-8: {e}"))?;
    let data = &bytes[8 + n..];
    let Json::Obj(entries) = json::parse(header)? else {
        return Err("the header is not a JSON object".into());
    };
    let mut tensors = BTreeMap::new();
    let mut ranges = Vec::new();
    for (name, value) in entries {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: &str| format!("tensor `{name}`: {what}");
        let Json::Obj(fields) = value else {
            return Err(bad("its entry is not an object"));
        };
        let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let Some(Json::Str(dtype)) = field("dtype") else {
            return Err(bad("no `dtype` string"));
        };
        let shape = field("shape")
            .and_then(Json::as_usizes)
            .ok_or_else(|| bad("no `shape` list of integers"))?;
        let offsets = field("data_offsets")
            .and_then(Json::as_usizes)
            .filter(|o| o.len() == 2)
            .ok_or_else(|| bad("no `data_offsets` pair"))?;
        let (start, end) = (offsets[0], offsets[1]);
        if start > end || end > data.len() {
            return Err(bad(&format!(
                "data_offsets [{start}, {end}] lie outside the {} data bytes (truncated?)",
                data.len()
            )));
        }
        let width = dtype_bytes(dtype).ok_or_else(|| bad(&format!("unknown dtype {dtype}")))?;
        let want = shape
            .iter()
            .try_fold(width, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad("its shape overflows"))?;
        if end - start != want {
            return Err(bad(&format!(
                "{} bytes of data for {dtype} {shape:?}, which needs {want}",
                end - start
            )));
        }
        ranges.push((start, end));
        if tensors
            .insert(
                name.clone(),
                FileTensor {
                    dtype: dtype.clone(),
                    shape,
                    data: data[start..end].to_vec(),
                    offset: 8 + n + start,
                },
            )
            .is_some()
        {
            return Err(bad("named twice in the header"));
        }
    }
    // The data must be covered exactly, without overlaps (as the reference
    // parser requires), so a truncated or padded file is caught.
    ranges.sort_unstable();
    let mut at = 0;
    for (s, e) in ranges {
        if s != at {
            return Err(format!(
                "tensor data overlaps or leaves a gap at byte {at} of the data"
            ));
        }
        at = e;
    }
    if at != data.len() {
        return Err(format!(
            "the tensors cover {at} of the {} data bytes",
            data.len()
        ));
    }
    Ok(tensors)
}

use json::Json;

/// A JSON reader for safetensors headers: objects, arrays, strings (all
/// escapes), integers; floats, booleans and null are read and kept as
/// `Other`. Depth is limited so a hostile header cannot overflow the stack.
mod json {
    pub enum Json {
        Obj(Vec<(String, Json)>),
        Arr(Vec<Json>),
        Str(String),
        /// A non-negative integer that fits in `u64`.
        Int(u64),
        Other,
    }

    impl Json {
        pub fn as_usizes(&self) -> Option<Vec<usize>> {
            let Json::Arr(items) = self else { return None };
            items
                .iter()
                .map(|v| match v {
                    Json::Int(n) => usize::try_from(*n).ok(),
                    _ => None,
                })
                .collect()
        }
    }

    const MAX_DEPTH: usize = 32;

    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(p.err("trailing characters after the JSON header"));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn err(&self, what: &str) -> String {
            format!("{what} (header byte {})", self.i)
        }
        fn ws(&mut self) {
            while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> bool {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                true
            } else {
                false
            }
        }
        fn expect(&mut self, c: u8) -> Result<(), String> {
            if self.eat(c) {
                Ok(())
            } else {
                Err(self.err(&format!("expected `{}` in the JSON header", c as char)))
            }
        }
        fn value(&mut self, depth: usize) -> Result<Json, String> {
            if depth > MAX_DEPTH {
                return Err(self.err("the JSON header is nested too deeply"));
            }
            self.ws();
            match self.s.get(self.i) {
                Some(b'{') => {
                    self.i += 1;
                    let mut items = Vec::new();
                    if self.eat(b'}') {
                        return Ok(Json::Obj(items));
                    }
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.expect(b':')?;
                        items.push((key, self.value(depth + 1)?));
                        if self.eat(b'}') {
                            return Ok(Json::Obj(items));
                        }
                        self.expect(b',')?;
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut items = Vec::new();
                    if self.eat(b']') {
                        return Ok(Json::Arr(items));
                    }
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            return Ok(Json::Arr(items));
                        }
                        self.expect(b',')?;
                    }
                }
                Some(b'"') => Ok(Json::Str(self.string()?)),
                Some(b'0'..=b'9' | b'-') => self.number(),
                Some(b't') => self.word("true"),
                Some(b'f') => self.word("false"),
                Some(b'n') => self.word("null"),
                _ => Err(self.err("expected a JSON value")),
            }
        }
        fn word(&mut self, w: &str) -> Result<Json, String> {
            if self.s[self.i..].starts_with(w.as_bytes()) {
                self.i += w.len();
                Ok(Json::Other)
            } else {
                Err(self.err("expected a JSON value"))
            }
        }
        fn number(&mut self) -> Result<Json, String> {
            let start = self.i;
            while matches!(
                self.s.get(self.i),
                Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            ) {
                self.i += 1;
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            if let Ok(n) = text.parse::<u64>() {
                return Ok(Json::Int(n));
            }
            if text.parse::<f64>().is_ok() {
                return Ok(Json::Other);
            }
            Err(self.err("malformed number in the JSON header"))
        }
        fn hex4(&mut self) -> Result<u32, String> {
            let digits = self
                .s
                .get(self.i..self.i + 4)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u32::from_str_radix(d, 16).ok())
                .ok_or_else(|| self.err("malformed \\u escape"))?;
            self.i += 4;
            Ok(digits)
        }
        fn string(&mut self) -> Result<String, String> {
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a string in the JSON header"));
            }
            self.i += 1;
            let mut out = String::new();
            loop {
                let start = self.i;
                while !matches!(self.s.get(self.i), None | Some(b'"' | b'\\')) {
                    self.i += 1;
                }
                // The header is a &str and we stop only at ASCII bytes, so
                // this slice is valid UTF-8.
                out.push_str(std::str::from_utf8(&self.s[start..self.i]).unwrap_or(""));
                match self.s.get(self.i) {
                    None => return Err(self.err("unterminated string in the JSON header")),
                    Some(b'"') => {
                        self.i += 1;
                        return Ok(out);
                    }
                    _ => {
                        self.i += 1;
                        let Some(&c) = self.s.get(self.i) else {
                            return Err(self.err("unterminated escape"));
                        };
                        self.i += 1;
                        match c {
                            b'"' => out.push('"'),
                            b'\\' => out.push('\\'),
                            b'/' => out.push('/'),
                            b'b' => out.push('\u{8}'),
                            b'f' => out.push('\u{c}'),
                            b'n' => out.push('\n'),
                            b'r' => out.push('\r'),
                            b't' => out.push('\t'),
                            b'u' => {
                                let mut cp = self.hex4()?;
                                if (0xd800..0xdc00).contains(&cp)
                                    && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                                {
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if (0xdc00..0xe000).contains(&lo) {
                                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                    }
                                }
                                out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                            }
                            _ => return Err(self.err("unknown escape in a JSON string")),
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_a_small_file() {
        let mut data = Vec::new();
        for v in [1.0f32, -2.5, 3.25] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        let bytes = file(
            r#"{"__metadata__":{"format":"pt"},"a.b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}  "#,
            &data,
        );
        let t = parse_safetensors(&bytes).expect("valid");
        assert_eq!(t["a.b"].shape, vec![3]);
        assert_eq!(t["a.b"].values(), Some(vec![1.0, -2.5, 3.25]));
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_or_consistent() {
        let data: Vec<u8> = (0..24).collect();
        let bytes = file(
            r#"{"w":{"dtype":"F64","shape":[2,1],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#,
            &data,
        );
        assert!(parse_safetensors(&bytes).is_ok());
        for n in 0..bytes.len() {
            assert!(parse_safetensors(&bytes[..n]).is_err(), "truncated to {n}");
        }
        for i in 0..bytes.len() {
            for flip in [1u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                if let Ok(t) = parse_safetensors(&b) {
                    // Accepted only if the tensors still cover the data
                    // exactly.
                    let n = u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as usize;
                    let total: usize = t.values().map(|t| t.data.len()).sum();
                    assert_eq!(total, b.len() - 8 - n, "flip {flip:#x} at {i}");
                }
            }
        }
    }

    #[test]
    fn json_escapes_and_depth() {
        let Ok(Json::Str(s)) = json::parse(r#""a\"b\\c\u00e9\ud83d\ude00""#) else {
            panic!("string")
        };
        assert_eq!(s, "a\"b\\cé😀");
        assert!(json::parse(&"[".repeat(100)).is_err());
        assert!(json::parse("{\"a\":1,}").is_err());
        assert!(json::parse("{\"a\":-1.5e3}").is_ok());
    }

    fn expand(attr: &str) -> String {
        use std::str::FromStr;
        let src = format!("{attr} pub struct T {{ input: [3], fc: Dense(2), }}");
        let ts = proc_macro2::TokenStream::from_str(&src).expect("tokenizes");
        crate::expand::model(ts).to_string()
    }

    #[test]
    fn attribute_mistakes_are_errors_not_panics() {
        for attr in [
            "#[weights]",
            "#[weights = 3]",
            "#[weights()]",
            "#[weights(\"a\", ignore = [1])]",
            "#[weights(\"a\", ignore)]",
            "#[weights(\"a\", nope)]",
            "#[weights(\"a\" \"b\")]",
            "#[weights = \"no/such/file.safetensors\"]",
            "#[weights = \"src\"]",
            "#[weights = \"Cargo.toml\"]",
            "#[weights(\"../tests/ui/weights/dense.safetensors\")] #[weights(\"x\")]",
            "#[weights = \"../tests/ui/weights/truncated.safetensors\"]",
        ] {
            let out = expand(attr);
            assert!(out.contains("compile_error"), "{attr}: {out}");
        }
    }

    #[test]
    fn a_matching_file_expands_to_its_bytes_decoded_in_place() {
        // Relative to this crate's manifest directory (macros/).
        let out = expand("#[weights = \"../tests/ui/weights/dense.safetensors\"]");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("pub const WEIGHTS : Self"), "{out}");
        assert!(out.contains("pub const WEIGHTS_F64 : Self"), "{out}");
        assert!(out.contains("include_bytes !"), "{out}");
        // The file: an 8-byte length, a 128-byte header, then fc.bias at
        // data [0, 8) and fc.weight at [8, 32), so at bytes 136 and 144;
        // fc.weight [2, 3] is decoded into 3 columns of 2, fc.bias [2]
        // into 1 column of 2 (the values: tests/weights_compiled.rs).
        assert!(out.contains("FILE . len () == 168"), "{out}");
        for float in ["f32", "f64"] {
            let weight = format!(
                "{float}_columns :: < 2 , 3 > (Self :: FILE , 144 , :: staticnet :: __private :: embedded :: Dtype :: F32 , 3 , 0)"
            );
            let bias = format!(
                "{float}_columns :: < 2 , 1 > (Self :: FILE , 136 , :: staticnet :: __private :: embedded :: Dtype :: F32 , 1 , 0)"
            );
            assert!(out.contains(&weight), "{weight}: {out}");
            assert!(out.contains(&bias), "{bias}: {out}");
        }
    }
}
