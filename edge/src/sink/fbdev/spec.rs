//! Display specs (`fb:`, `fbfile:`, `xvfb:`): which framebuffer to open, and how.

use super::format::Geometry;
use super::framebuffer::Framebuffer;
use anyhow::{bail, Result};

const SPEC_FORMS: &str = "accepted forms: `fb:/dev/fbN` (framebuffer device), \
    `fbfile:PATH@WxH@BPP[@STRIDE[@OFFSET]]` (a file laid out like a framebuffer; BPP 16 = RGB565, \
    24 = RGB888, 32 = XRGB8888; PATH without `@`), `xvfb:PATH` (an `Xvfb -fbdir` screen file or its directory)";

/// Open the framebuffer a display spec names: `fb:/dev/fb0`,
/// `fbfile:PATH@WxH@BPP[@STRIDE[@OFFSET]]` (BPP 16 → RGB565 r11 g5 b0, 24 → RGB888,
/// 32 → XRGB8888 r16 g8 b0; STRIDE in bytes defaults to packed rows, OFFSET in bytes to 0)
/// or `xvfb:PATH` (see [`Framebuffer::open_xvfb`]).
pub fn open_spec(spec: &str) -> Result<Framebuffer> {
    if let Some(path) = spec.strip_prefix("fb:") {
        if path.is_empty() {
            bail!("display spec `{spec}` names no device; {SPEC_FORMS}");
        }
        return Framebuffer::open_device(path);
    }
    if let Some(path) = spec.strip_prefix("xvfb:") {
        if path.is_empty() {
            bail!("display spec `{spec}` names no file; {SPEC_FORMS}");
        }
        return Framebuffer::open_xvfb(path);
    }
    if let Some(rest) = spec.strip_prefix("fbfile:") {
        let (path, geometry) =
            parse_fbfile(rest).map_err(|e| anyhow::anyhow!("display spec `{spec}`: {e}; {SPEC_FORMS}"))?;
        return Framebuffer::open_file(path, geometry);
    }
    bail!("display spec `{spec}` is not a framebuffer; {SPEC_FORMS}")
}

/// `PATH@WxH@BPP[@STRIDE[@OFFSET]]` → path and geometry.
fn parse_fbfile(rest: &str) -> std::result::Result<(&str, Geometry), String> {
    let parts: Vec<&str> = rest.split('@').collect();
    if parts.len() < 3 || parts.len() > 5 {
        return Err(format!("expected PATH@WxH@BPP with optional @STRIDE and @OFFSET, got {} part(s)", parts.len()));
    }
    if parts[0].is_empty() {
        return Err("the path is empty".into());
    }
    let number = |what: &str, s: &str| s.parse::<usize>().map_err(|_| format!("{what} `{s}` is not a number"));
    let (w, h) = parts[1].split_once('x').ok_or_else(|| format!("size `{}` is not WxH", parts[1]))?;
    let (w, h) = (number("width", w)?, number("height", h)?);
    let (w, h) = (u32::try_from(w).map_err(|e| e.to_string())?, u32::try_from(h).map_err(|e| e.to_string())?);
    let mut geometry = match parts[2] {
        "16" => Geometry::rgb565(w, h),
        "24" => Geometry::rgb888(w, h),
        "32" => Geometry::xrgb8888(w, h),
        other => return Err(format!("bits per pixel `{other}` is not 16, 24 or 32")),
    };
    if let Some(s) = parts.get(3) {
        geometry.stride = number("stride", s)?;
    }
    if let Some(s) = parts.get(4) {
        geometry.offset = number("offset", s)?;
    }
    Ok((parts[0], geometry))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::Scratch;
    use super::*;

    #[test]
    fn specs_parse_and_bad_specs_list_the_forms() {
        let g = Geometry { stride: 40, offset: 8, ..Geometry::rgb565(16, 4) };
        let s = Scratch::new("spec", g.required_len().unwrap());
        let fb = open_spec(&format!("fbfile:{}@16x4@16@40@8", s.0.display())).unwrap();
        assert_eq!(*fb.geometry(), g);
        let fb = open_spec(&format!("fbfile:{}@4x4@32", s.0.display())).unwrap();
        assert_eq!(*fb.geometry(), Geometry::xrgb8888(4, 4));
        for spec in ["fbfile:/tmp/x@16x4", "fbfile:/tmp/x@16by4@16", "fbfile:/tmp/x@16x4@8", "fbfile:@1x1@16", "lcd:0"]
        {
            let err = format!("{:#}", open_spec(spec).unwrap_err());
            assert!(err.contains(spec) && err.contains("accepted forms") && err.contains("xvfb:PATH"), "{err}");
        }
        let err = format!("{:#}", open_spec("fb:/nonexistent/fb9").unwrap_err());
        assert!(err.contains("/nonexistent/fb9"), "{err}");
        let err = format!("{:#}", open_spec("xvfb:/nonexistent/dir").unwrap_err());
        assert!(err.contains("/nonexistent/dir"), "{err}");
    }
}
