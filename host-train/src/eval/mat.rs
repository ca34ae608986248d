//! A reader for the parts of MATLAB's MAT v5 format that evaluation files use: numeric
//! arrays, character arrays and cell arrays, optionally zlib-compressed. Layout from
//! MathWorks' published "MAT-File Format" document (level 5).

use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// A MATLAB value.
#[derive(Debug, Clone, PartialEq)]
pub enum Mat {
    /// Numeric array, column-major, converted to f64.
    Num {
        /// The array's size along each dimension.
        dims: Vec<usize>,
        /// The elements, column-major.
        data: Vec<f64>,
    },
    /// Character array as a string.
    Char(String),
    /// Cell array, column-major.
    Cell {
        /// The array's size along each dimension.
        dims: Vec<usize>,
        /// The cells, column-major.
        items: Vec<Mat>,
    },
}

impl Mat {
    /// The items of a cell array.
    pub fn cells(&self) -> Result<&[Mat]> {
        match self {
            Mat::Cell { items, .. } => Ok(items),
            other => bail!("expected a cell array, found {}", other.kind()),
        }
    }
    /// The text of a character array.
    pub fn text(&self) -> Result<&str> {
        match self {
            Mat::Char(s) => Ok(s),
            other => bail!("expected a character array, found {}", other.kind()),
        }
    }
    /// A numeric array's rows (dims `[rows, cols]`), as row vectors.
    pub fn rows(&self) -> Result<Vec<Vec<f64>>> {
        match self {
            Mat::Num { dims, data } => {
                let rows = dims.first().copied().unwrap_or(0);
                let cols = data.len().checked_div(rows).unwrap_or(0);
                Ok((0..rows).map(|r| (0..cols).map(|c| data[c * rows + r]).collect()).collect())
            }
            other => bail!("expected a numeric array, found {}", other.kind()),
        }
    }
    /// A numeric array's values, column-major.
    pub fn numbers(&self) -> Result<&[f64]> {
        match self {
            Mat::Num { data, .. } => Ok(data),
            other => bail!("expected a numeric array, found {}", other.kind()),
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Mat::Num { .. } => "a numeric array",
            Mat::Char(_) => "a character array",
            Mat::Cell { .. } => "a cell array",
        }
    }
}

const MI_INT8: u32 = 1;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// A cursor over one buffer of data elements.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u32(&self, at: usize) -> Result<u32> {
        let b = self.buf.get(at..at + 4).with_context(|| format!("truncated at byte {at}"))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Next element: (type, payload). Handles the small-element format and padding.
    fn element(&mut self) -> Result<(u32, &'a [u8])> {
        let first = self.u32(self.pos)?;
        if first >> 16 != 0 {
            // Small element: size and type packed into 4 bytes, data in the next 4.
            let (ty, size) = (first & 0xffff, (first >> 16) as usize);
            ensure!(size <= 4, "small element of {size} bytes at byte {}", self.pos);
            let data = self.buf.get(self.pos + 4..self.pos + 4 + size).context("truncated small element")?;
            self.pos += 8;
            return Ok((ty, data));
        }
        let size = self.u32(self.pos + 4)? as usize;
        let start = self.pos + 8;
        let data = self
            .buf
            .get(start..start + size)
            .with_context(|| format!("element at byte {} overruns the file", self.pos))?;
        // Compressed elements are not padded; all others are to 8 bytes.
        self.pos = if first == MI_COMPRESSED { start + size } else { start + size.div_ceil(8) * 8 };
        Ok((first, data))
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// Numbers of MAT data type `ty` as f64.
fn numbers(ty: u32, data: &[u8]) -> Result<Vec<f64>> {
    macro_rules! conv {
        ($t:ty) => {
            data.chunks_exact(std::mem::size_of::<$t>())
                .map(|c| <$t>::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect()
        };
    }
    Ok(match ty {
        1 => conv!(i8),
        2 => conv!(u8),
        3 => conv!(i16),
        4 => conv!(u16),
        5 => conv!(i32),
        6 => conv!(u32),
        7 => conv!(f32),
        9 => conv!(f64),
        12 => conv!(i64),
        13 => conv!(u64),
        16 => data.iter().map(|&b| b as f64).collect(),
        other => bail!("unsupported numeric data type {other}"),
    })
}

/// How deep cells may nest (the evaluation files nest two levels).
const MAX_DEPTH: usize = 32;

/// Parse an miMATRIX payload into its name and value.
fn matrix(payload: &[u8]) -> Result<(String, Mat)> {
    matrix_at(payload, 0)
}

fn matrix_at(payload: &[u8], depth: usize) -> Result<(String, Mat)> {
    ensure!(depth <= MAX_DEPTH, "cells nest deeper than {MAX_DEPTH} levels");
    if payload.is_empty() {
        return Ok((String::new(), Mat::Num { dims: vec![0, 0], data: vec![] }));
    }
    let mut r = Reader { buf: payload, pos: 0 };
    let (_, flags) = r.element().context("array flags")?;
    ensure!(flags.len() >= 4, "array flags too short");
    let class = flags[0];
    let (_, dims) = r.element().context("dimensions")?;
    let dims: Vec<usize> = numbers(5, dims)?.into_iter().map(|d| d as usize).collect();
    let (ty, name) = r.element().context("array name")?;
    ensure!(ty == MI_INT8 || name.is_empty(), "array name has type {ty}");
    let name = String::from_utf8_lossy(name).into_owned();
    let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let count = count.with_context(|| format!("`{name}`: dimensions {dims:?} overflow"))?;
    let value = match class {
        1 => {
            // Every cell takes at least an 8-byte element header: a count the payload
            // cannot hold is refused before anything is allocated for it.
            ensure!(count <= payload.len() / 8, "`{name}`: {count} cells cannot fit in {} bytes", payload.len());
            let mut items = Vec::with_capacity(count);
            for i in 0..count {
                let (ty, sub) = r.element().with_context(|| format!("cell {i} of `{name}`"))?;
                ensure!(ty == MI_MATRIX, "cell {i} of `{name}` has type {ty}");
                items.push(matrix_at(sub, depth + 1).with_context(|| format!("cell {i} of `{name}`"))?.1);
            }
            Mat::Cell { dims, items }
        }
        4 => {
            let text = if r.done() {
                String::new()
            } else {
                let (ty, data) = r.element()?;
                numbers(ty, data)?.into_iter().map(|c| char::from_u32(c as u32).unwrap_or('\u{fffd}')).collect()
            };
            Mat::Char(text)
        }
        6..=15 => {
            let data = if r.done() {
                vec![]
            } else {
                let (ty, data) = r.element()?;
                numbers(ty, data)?
            };
            ensure!(data.len() == count, "`{name}` holds {} values for dims {dims:?}", data.len());
            Mat::Num { dims, data }
        }
        other => bail!("`{name}`: MATLAB class {other} is not supported"),
    };
    Ok((name, value))
}

/// Parse a whole MAT v5 file held in memory into its named variables.
pub fn parse(bytes: &[u8]) -> Result<HashMap<String, Mat>> {
    ensure!(bytes.len() >= 128 && bytes.starts_with(b"MATLAB 5.0 MAT-file"), "not a MAT v5 file");
    ensure!(&bytes[126..128] == b"IM", "only little-endian MAT files are supported");
    let mut r = Reader { buf: &bytes[128..], pos: 0 };
    let mut vars = HashMap::new();
    while !r.done() {
        let at = r.pos + 128;
        let (ty, data) = r.element().with_context(|| format!("element at byte {at}"))?;
        let (name, value) = match ty {
            MI_MATRIX => matrix(data),
            MI_COMPRESSED => {
                let mut plain = Vec::new();
                flate2::read::ZlibDecoder::new(data)
                    .read_to_end(&mut plain)
                    .with_context(|| format!("element at byte {at}: bad zlib data"))?;
                let mut inner = Reader { buf: &plain, pos: 0 };
                let (ty, payload) = inner.element()?;
                ensure!(ty == MI_MATRIX, "compressed element at byte {at} holds type {ty}");
                matrix(payload)
            }
            _ => continue,
        }
        .with_context(|| format!("element at byte {at}"))?;
        vars.insert(name, value);
    }
    Ok(vars)
}

/// Read a MAT v5 file.
pub fn read(path: &Path) -> Result<HashMap<String, Mat>> {
    let bytes = edge::input::read_file(path, "a MAT file", edge::input::MAX_DATASET_BYTES)?;
    parse(&bytes).with_context(|| format!("{}: malformed MAT file", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(ty: u32, data: &[u8]) -> Vec<u8> {
        let mut v = ty.to_le_bytes().to_vec();
        v.extend((data.len() as u32).to_le_bytes());
        v.extend(data);
        v.resize(8 + data.len().div_ceil(8) * 8, 0);
        v
    }

    fn matrix_bytes(class: u8, dims: &[i32], name: &str, body: Vec<u8>) -> Vec<u8> {
        let mut p = element(6, &[class, 0, 0, 0, 0, 0, 0, 0]);
        p.extend(element(5, &dims.iter().flat_map(|d| d.to_le_bytes()).collect::<Vec<_>>()));
        p.extend(element(1, name.as_bytes()));
        p.extend(body);
        element(MI_MATRIX, &p)
    }

    fn file(elements: &[Vec<u8>]) -> Vec<u8> {
        let mut f = b"MATLAB 5.0 MAT-file, test".to_vec();
        f.resize(124, b' ');
        f.extend([0, 1, b'I', b'M']);
        for e in elements {
            f.extend(e);
        }
        f
    }

    #[test]
    fn reads_numbers_text_and_cells() {
        let nums = matrix_bytes(
            6,
            &[2, 2],
            "",
            element(9, &[1.0f64, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
        );
        let text = matrix_bytes(4, &[1, 2], "", element(4, &[b'h', 0, b'i', 0]));
        let cell = matrix_bytes(1, &[2, 1], "c", [nums, text].concat());
        let vars = parse(&file(&[cell])).unwrap();
        let items = vars["c"].cells().unwrap();
        assert_eq!(items[0].rows().unwrap(), vec![vec![1.0, 3.0], vec![2.0, 4.0]]);
        assert_eq!(items[1].text().unwrap(), "hi");
    }

    #[test]
    fn reads_compressed_elements() {
        use std::io::Write;
        let inner = matrix_bytes(9, &[1, 3], "u", element(2, &[7, 8, 9]));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&inner).unwrap();
        let data = z.finish().unwrap();
        let mut comp = MI_COMPRESSED.to_le_bytes().to_vec();
        comp.extend((data.len() as u32).to_le_bytes());
        comp.extend(data);
        let vars = parse(&file(&[comp])).unwrap();
        assert_eq!(vars["u"].numbers().unwrap(), &[7.0, 8.0, 9.0]);
    }

    #[test]
    fn truncated_or_foreign_files_are_errors_not_panics() {
        assert!(parse(b"hello").is_err());
        let cell = matrix_bytes(1, &[2, 1], "c", vec![]);
        let mut f = file(&[cell]);
        assert!(parse(&f).is_err(), "cells missing");
        f.truncate(f.len() - 3);
        assert!(parse(&f).is_err());
        // A cell array claiming billions of cells (found by tests/integration/fuzz.rs: it aborted
        // allocating 238 GB), dimensions whose product overflows, and cells nested deeper
        // than any evaluation file.
        let huge = matrix_bytes(1, &[65536, 65536], "c", vec![]);
        assert!(format!("{:#}", parse(&file(&[huge])).unwrap_err()).contains("cannot fit"));
        let overflow = matrix_bytes(6, &[i32::MAX, i32::MAX], "n", vec![]);
        let err = format!("{:#}", parse(&file(&[overflow])).unwrap_err());
        assert!(err.contains("holds 0 values") || err.contains("overflow"), "{err}");
        let mut nested = matrix_bytes(6, &[1, 1], "", element(9, &1.0f64.to_le_bytes()));
        for _ in 0..40 {
            nested = matrix_bytes(1, &[1, 1], "", nested);
        }
        assert!(format!("{:#}", parse(&file(&[nested])).unwrap_err()).contains("nest deeper"));
    }
}
