//! XWD images: the screen file `Xvfb -fbdir DIR` keeps mapped as its screen memory (and the
//! `xwd` tool's output), parsed into the [`Geometry`] of their pixel data.

use super::format::{Bitfield, Geometry};
use anyhow::{bail, Context, Result};

/// Name of the XWD screen file `Xvfb -fbdir DIR` writes for screen 0.
pub const XVFB_SCREEN_FILE: &str = "Xvfb_screen0";

const XWD_HEADER_LEN: usize = 100;
const XWD_FILE_VERSION: u32 = 7;
const XWD_ZPIXMAP: u32 = 2;
const XWD_TRUECOLOR: u32 = 4;
const XWD_DIRECTCOLOR: u32 = 5;
const XWD_COLOR_LEN: usize = 12;

/// Parse the header of an XWD image (the `xwd` tool's output, or the screen file of
/// `Xvfb -fbdir`) into the [`Geometry`] of its pixel data, whose `offset` is where the
/// pixels start (after the header, window name and colour map). `name` is used in errors.
///
/// Only true/direct-colour `ZPixmap` images of 16, 24 or 32 bits per pixel are accepted;
/// the header is big-endian, the pixels in the header's `byte_order`.
pub fn parse_xwd(data: &[u8], name: &str) -> Result<Geometry> {
    if data.len() < XWD_HEADER_LEN {
        bail!("{name}: {} bytes is too short for an XWD header ({XWD_HEADER_LEN} bytes)", data.len());
    }
    let field = |i: usize| u32::from_be_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]);
    let (header_size, version, format, depth) = (field(0), field(1), field(2), field(3));
    let (width, height, xoffset, byte_order) = (field(4), field(5), field(6), field(7));
    let (bits_per_pixel, bytes_per_line, visual_class) = (field(11), field(12), field(13));
    let (red_mask, green_mask, blue_mask, ncolors) = (field(14), field(15), field(16), field(19));
    if version != XWD_FILE_VERSION {
        bail!("{name}: XWD file version {version}, expected {XWD_FILE_VERSION} (is this an XWD file?)");
    }
    if (header_size as usize) < XWD_HEADER_LEN || header_size as usize > data.len() {
        bail!("{name}: XWD header size {header_size} is outside the {} bytes of the file", data.len());
    }
    if format != XWD_ZPIXMAP {
        bail!("{name}: XWD pixmap format {format} is not ZPixmap ({XWD_ZPIXMAP})");
    }
    if visual_class != XWD_TRUECOLOR && visual_class != XWD_DIRECTCOLOR {
        // Xvfb fills in the visual when it installs its colour map, just after start-up.
        bail!(
            "{name}: XWD visual class {visual_class} (depth {depth}) is not TrueColor or DirectColor \
             (if this is an Xvfb screen file, the server may still be starting)"
        );
    }
    if xoffset != 0 {
        bail!("{name}: XWD x offset {xoffset} is not supported");
    }
    let big_endian = match byte_order {
        0 => false,
        1 => true,
        other => bail!("{name}: XWD byte order {other} is neither LSBFirst (0) nor MSBFirst (1)"),
    };
    let mask = |channel: &str, m: u32| {
        Bitfield::from_mask(m).with_context(|| format!("{name}: XWD {channel} mask {m:#x} is not one run of bits"))
    };
    let offset = (ncolors as usize).checked_mul(XWD_COLOR_LEN).and_then(|c| c.checked_add(header_size as usize));
    let geometry = Geometry {
        width,
        height,
        bits_per_pixel,
        stride: bytes_per_line as usize,
        red: mask("red", red_mask)?,
        green: mask("green", green_mask)?,
        blue: mask("blue", blue_mask)?,
        offset: offset.with_context(|| format!("{name}: XWD colour map of {ncolors} entries is too large"))?,
        big_endian,
    };
    geometry.check().map_err(|e| anyhow::anyhow!("{name}: XWD image: {e}"))?;
    let need = geometry.required_len().unwrap_or(usize::MAX);
    if data.len() < need {
        bail!("{name}: XWD data is truncated: {} bytes, {} needs {need}", data.len(), geometry.describe());
    }
    Ok(geometry)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{Scratch, FILL};
    use super::*;
    use crate::sink::fbdev::open_spec;
    use image::{Rgb, RgbImage};

    /// An XWD header as Xvfb writes it, with a window name and `ncolors` colour map entries.
    fn xwd_header(depth: u32, bpp: u32, w: u32, h: u32, stride: u32, masks: [u32; 3], ncolors: u32) -> Vec<u8> {
        let name = b"Xvfb test:99.0\0";
        let header_size = (XWD_HEADER_LEN + name.len()) as u32;
        let fields = [
            header_size,
            7,
            2,
            depth,
            w,
            h,
            0,
            0,
            32,
            0,
            32,
            bpp,
            stride,
            4,
            masks[0],
            masks[1],
            masks[2],
            8,
            256,
            ncolors,
            w,
            h,
            0,
            0,
            0,
        ];
        let mut out: Vec<u8> = fields.iter().flat_map(|f| f.to_be_bytes()).collect();
        out.extend_from_slice(name);
        out.resize(out.len() + ncolors as usize * XWD_COLOR_LEN, 0x11);
        out
    }

    #[test]
    fn xvfb_screen_files_are_parsed_and_drawn_after_the_colour_map() {
        let mut data = xwd_header(16, 16, 8, 4, 20, [0xf800, 0x07e0, 0x001f], 3);
        let start = data.len();
        data.resize(start + 20 * 4, FILL);
        let s = Scratch::new("xwd", 0);
        std::fs::write(&s.0, &data).unwrap();
        let mut fb = open_spec(&format!("xvfb:{}", s.0.display())).unwrap();
        let g = *fb.geometry();
        assert_eq!((g.width, g.height, g.stride, g.offset, g.big_endian), (8, 4, 20, start, false));
        assert_eq!((g.red, g.green, g.blue), (Bitfield::new(11, 5), Bitfield::new(5, 6), Bitfield::new(0, 5)));
        fb.present(&RgbImage::from_pixel(8, 4, Rgb([255, 255, 255]))).unwrap();
        let after = std::fs::read(&s.0).unwrap();
        assert_eq!(after[..start], data[..start], "header and colour map untouched");
        assert_eq!(after[start..start + 2], [0xff, 0xff]);
        assert_eq!(after[start + 16..start + 20], [FILL; 4], "stride padding untouched");
    }

    #[test]
    fn bad_xwd_headers_are_errors_not_panics() {
        let good = xwd_header(24, 32, 4, 2, 16, [0xff0000, 0xff00, 0xff], 0);
        let with_data = |mut h: Vec<u8>| {
            h.resize(h.len() + 32, 0);
            h
        };
        assert!(parse_xwd(&with_data(good.clone()), "ok").is_ok());
        let set = |i: usize, v: u32| {
            let mut h = good.clone();
            h[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
            with_data(h)
        };
        for (case, data, needle) in [
            ("short", good[..50].to_vec(), "too short"),
            ("truncated", good.clone(), "truncated"),
            ("version", set(1, 6), "version 6"),
            ("header", set(0, 1 << 30), "header size"),
            ("visual", set(13, 0), "still be starting"),
            ("order", set(7, 9), "byte order 9"),
            ("mask", set(14, 0xf0f0), "0xf0f0"),
            ("bpp", set(11, 8), "8 bits per pixel"),
            ("huge", set(4, u32::MAX), "XWD"),
            ("colours", set(19, u32::MAX), "XWD"),
        ] {
            let err = format!("{:#}", parse_xwd(&data, case).unwrap_err());
            assert!(err.starts_with(case) && err.contains(needle), "{case}: {err}");
        }
    }
}
