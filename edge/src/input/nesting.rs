//! How deep a text file nests, counted before any parser sees it.
//!
//! Parsers and the code that drops what they build may recurse once per level, and a
//! few hundred kilobytes of `<a><a><a>…` or `a=[[[[…` are enough to overflow a thread's
//! stack, an abort no error can report. No file facecam reads nests more than a handful
//! of levels, so a cheap linear scan refuses deep ones first. (serde_json stops at 128
//! levels by itself; the tests hold it to that.)

use anyhow::{bail, Result};

/// Deepest element nesting accepted in an XML file (Pascal VOC nests 4).
pub const MAX_XML_DEPTH: usize = 256;
/// Deepest array/table nesting accepted in a TOML file (profiles and recipes nest 2).
pub const MAX_TOML_DEPTH: usize = 64;

/// Refuse XML whose elements nest deeper than [`MAX_XML_DEPTH`]:
/// `XML nested deeper than 256 elements`. Comments, CDATA, processing instructions and
/// quoted attribute values are skipped; malformed text is left for the parser to report.
pub fn check_xml(text: &str) -> Result<()> {
    let b = text.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    while let Some(at) = b[i..].iter().position(|&c| c == b'<') {
        i += at + 1;
        let rest = &text[i..];
        let skip_to = |end: &str| rest.find(end).map_or(b.len(), |e| i + e + end.len());
        if rest.starts_with("!--") {
            i = skip_to("-->");
        } else if rest.starts_with("![CDATA[") {
            i = skip_to("]]>");
        } else if rest.starts_with('?') || rest.starts_with('!') {
            i = skip_to(">");
        } else if rest.starts_with('/') {
            depth = depth.saturating_sub(1);
        } else {
            let (end, empty) = tag_end(b, i);
            i = end;
            if !empty {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    bail!("XML nested deeper than {MAX_XML_DEPTH} elements");
                }
            }
        }
    }
    Ok(())
}

/// Where a start tag beginning at `i` ends, and whether it is empty (`<a/>`).
fn tag_end(b: &[u8], mut i: usize) -> (usize, bool) {
    let mut quote = None;
    while let Some(&c) = b.get(i) {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'>') => return (i + 1, i > 0 && b[i - 1] == b'/'),
            _ => {}
        }
        i += 1;
    }
    (i, true)
}

/// Refuse TOML whose arrays and inline tables nest deeper than [`MAX_TOML_DEPTH`]:
/// `TOML nested deeper than 64 arrays or tables`. Strings and comments are skipped.
pub fn check_toml(text: &str) -> Result<()> {
    let b = text.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    while let Some(&c) = b.get(i) {
        i += 1;
        match c {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_TOML_DEPTH {
                    bail!("TOML nested deeper than {MAX_TOML_DEPTH} arrays or tables");
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'#' => i = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |e| i + e),
            b'"' | b'\'' => i = string_end(b, i - 1),
            _ => {}
        }
    }
    Ok(())
}

/// Where the TOML string starting at `start` (its opening quote) ends.
fn string_end(b: &[u8], start: usize) -> usize {
    let q = b[start];
    let multi = b[start..].starts_with(&[q, q, q]);
    let mut i = start + if multi { 3 } else { 1 };
    while let Some(&c) = b.get(i) {
        if c == b'\\' && q == b'"' {
            i += 2;
            continue;
        }
        if c == q && (!multi || b[i..].starts_with(&[q, q, q])) {
            return i + if multi { 3 } else { 1 };
        }
        if c == b'\n' && !multi {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// Parse TOML text after [`check_toml`]: every TOML file facecam reads comes in here.
pub fn toml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    check_toml(text)?;
    Ok(toml::from_str(text)?)
}
