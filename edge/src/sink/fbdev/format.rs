//! Pixel formats: where each colour channel sits in a pixel value ([`Bitfield`]), the memory
//! layout of a screen ([`Geometry`]), and the table-driven RGB → device pixel [`Encoder`].

use anyhow::{bail, Result};
use image::RgbImage;

/// One colour channel's place in a pixel value: `length` bits starting at bit `offset`
/// (bit 0 = least significant), as in the kernel's `struct fb_bitfield`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bitfield {
    /// Lowest bit of the channel in the pixel value.
    pub offset: u32,
    /// Number of bits of the channel (1 to 16).
    pub length: u32,
}

impl Bitfield {
    /// A channel of `length` bits at bit `offset`.
    pub const fn new(offset: u32, length: u32) -> Self {
        Bitfield { offset, length }
    }

    /// The bitfield of a contiguous mask such as XWD's `0xf800`; `None` for zero or gapped masks.
    pub fn from_mask(mask: u32) -> Option<Self> {
        if mask == 0 {
            return None;
        }
        let offset = mask.trailing_zeros();
        let length = (mask >> offset).trailing_ones();
        // Contiguous means nothing is left above the run of ones.
        ((mask >> offset).checked_shr(length).unwrap_or(0) == 0).then_some(Bitfield { offset, length })
    }

    /// The bits of this channel as a mask (all ones past bit 63 are dropped).
    pub fn mask(self) -> u64 {
        self.max().checked_shl(self.offset).unwrap_or(0)
    }

    /// The largest channel value, `2^length - 1`.
    fn max(self) -> u64 {
        1u64.checked_shl(self.length).map_or(u64::MAX, |v| v - 1)
    }

    /// The channel's bits for an 8-bit intensity, rounded to the nearest level.
    fn encode(self, v: u8) -> u32 {
        ((v as u64 * self.max() + 127) / 255).checked_shl(self.offset).unwrap_or(0) as u32
    }

    /// The 8-bit intensity of this channel in a pixel value (0 for an empty channel).
    fn decode(self, px: u32) -> u8 {
        let max = self.max();
        if max == 0 {
            return 0;
        }
        let v = (px as u64).checked_shr(self.offset).unwrap_or(0) & max;
        ((v * 255 + max / 2) / max) as u8
    }
}

/// The memory layout of a screen: enough to drive a real device, a plain file or an Xvfb
/// screen file with the same code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Visible width in pixels.
    pub width: u32,
    /// Visible height in pixels.
    pub height: u32,
    /// Bits per pixel: 16, 24 or 32.
    pub bits_per_pixel: u32,
    /// Bytes from the start of one row to the start of the next (≥ width × bytes per pixel).
    pub stride: usize,
    /// Where red sits in a pixel value.
    pub red: Bitfield,
    /// Where green sits in a pixel value.
    pub green: Bitfield,
    /// Where blue sits in a pixel value.
    pub blue: Bitfield,
    /// Byte offset of the first visible pixel in the mapping (a file header, a panned device).
    pub offset: usize,
    /// Pixel values are stored most significant byte first (XWD `MSBFirst`); otherwise least
    /// significant byte first, as on every little-endian device.
    pub big_endian: bool,
}

impl Geometry {
    /// RGB565 (red 11+5, green 5+6, blue 0+5), little-endian, rows packed, no offset.
    pub fn rgb565(width: u32, height: u32) -> Self {
        Self::packed(width, height, 16, Bitfield::new(11, 5), Bitfield::new(5, 6), Bitfield::new(0, 5))
    }

    /// 24-bit RGB888 (red 16, green 8, blue 0), little-endian, rows packed, no offset.
    pub fn rgb888(width: u32, height: u32) -> Self {
        Self::packed(width, height, 24, Bitfield::new(16, 8), Bitfield::new(8, 8), Bitfield::new(0, 8))
    }

    /// XRGB8888 (red 16, green 8, blue 0, top byte unused), little-endian, rows packed, no offset.
    pub fn xrgb8888(width: u32, height: u32) -> Self {
        Self::packed(width, height, 32, Bitfield::new(16, 8), Bitfield::new(8, 8), Bitfield::new(0, 8))
    }

    fn packed(width: u32, height: u32, bits_per_pixel: u32, red: Bitfield, green: Bitfield, blue: Bitfield) -> Self {
        let stride = width as usize * (bits_per_pixel as usize / 8);
        Geometry { width, height, bits_per_pixel, stride, red, green, blue, offset: 0, big_endian: false }
    }

    /// Bytes per pixel (`bits_per_pixel / 8`).
    pub fn bytes_per_pixel(&self) -> usize {
        self.bits_per_pixel as usize / 8
    }

    /// Bytes of one visible row (`width × bytes per pixel`, without the stride's padding).
    pub fn row_bytes(&self) -> usize {
        self.width as usize * self.bytes_per_pixel()
    }

    /// Bytes a mapping must have to hold the visible screen: up to the end of the last
    /// visible pixel. `None` if that does not fit in memory sizes (a corrupt header).
    pub fn required_len(&self) -> Option<usize> {
        let rows = (self.height as usize).checked_sub(1)?;
        self.stride.checked_mul(rows)?.checked_add(self.row_bytes())?.checked_add(self.offset)
    }

    /// Why this layout cannot be drawn on, if it cannot: zero size, a depth other than
    /// 16/24/32 bits, a stride shorter than a row, channels that are empty, overlap or do
    /// not fit in the pixel.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.width == 0 || self.height == 0 {
            return Err(format!("size {}x{} is empty", self.width, self.height));
        }
        if !matches!(self.bits_per_pixel, 16 | 24 | 32) {
            return Err(format!("{} bits per pixel is not supported (16, 24 or 32 are)", self.bits_per_pixel));
        }
        let row = (self.width as u64) * self.bytes_per_pixel() as u64;
        if (self.stride as u64) < row {
            return Err(format!(
                "stride {} bytes is shorter than a row of {}x{} bpp ({row} bytes)",
                self.stride, self.width, self.bits_per_pixel
            ));
        }
        let mut used = 0u64;
        for (name, f) in [("red", self.red), ("green", self.green), ("blue", self.blue)] {
            if f.length == 0 || f.length > 16 || f.offset + f.length > self.bits_per_pixel {
                return Err(format!(
                    "{name} bitfield (offset {}, length {}) does not fit a {}-bit pixel",
                    f.offset, f.length, self.bits_per_pixel
                ));
            }
            if used & f.mask() != 0 {
                return Err(format!(
                    "{name} bitfield (offset {}, length {}) overlaps another channel",
                    f.offset, f.length
                ));
            }
            used |= f.mask();
        }
        if self.required_len().is_none() {
            return Err(format!("{}x{} with stride {} is too large", self.width, self.height, self.stride));
        }
        Ok(())
    }

    /// A one-line description for error messages.
    pub(super) fn describe(&self) -> String {
        format!(
            "{}x{} {} bpp, stride {}, offset {}, r{}:{} g{}:{} b{}:{}{}",
            self.width,
            self.height,
            self.bits_per_pixel,
            self.stride,
            self.offset,
            self.red.offset,
            self.red.length,
            self.green.offset,
            self.green.length,
            self.blue.offset,
            self.blue.length,
            if self.big_endian { ", big-endian" } else { "" }
        )
    }

    /// The 8-bit RGB colour of the pixel whose bytes start `px` (at least bytes-per-pixel long).
    pub fn decode(&self, px: &[u8]) -> [u8; 3] {
        let v = load(px, self.bytes_per_pixel(), self.big_endian);
        [self.red.decode(v), self.green.decode(v), self.blue.decode(v)]
    }

    /// Decode the whole visible screen from `data` laid out by this geometry (a mapped
    /// screen, a file's bytes, the output of `xwd`).
    pub fn to_rgb_image(&self, data: &[u8]) -> Result<RgbImage> {
        self.check().map_err(anyhow::Error::msg)?;
        let need = self.required_len().unwrap_or(usize::MAX);
        if data.len() < need {
            bail!("screen data is {} bytes, {} needs {need}", data.len(), self.describe());
        }
        let bpp = self.bytes_per_pixel();
        let mut out = RgbImage::new(self.width, self.height);
        for (y, row) in out.rows_mut().enumerate() {
            let src = &data[self.offset + y * self.stride..][..self.row_bytes()];
            for (p, px) in row.zip(src.chunks_exact(bpp)) {
                p.0 = self.decode(px);
            }
        }
        Ok(out)
    }
}

fn load(px: &[u8], bpp: usize, big_endian: bool) -> u32 {
    match (bpp, big_endian) {
        (2, false) => u16::from_le_bytes([px[0], px[1]]) as u32,
        (2, true) => u16::from_be_bytes([px[0], px[1]]) as u32,
        (3, false) => u32::from_le_bytes([px[0], px[1], px[2], 0]),
        (3, true) => u32::from_be_bytes([0, px[0], px[1], px[2]]),
        (_, false) => u32::from_le_bytes([px[0], px[1], px[2], px[3]]),
        (_, true) => u32::from_be_bytes([px[0], px[1], px[2], px[3]]),
    }
}

fn store(px: &mut [u8], v: u32, bpp: usize, big_endian: bool) {
    match (bpp, big_endian) {
        (2, false) => px[..2].copy_from_slice(&(v as u16).to_le_bytes()),
        (2, true) => px[..2].copy_from_slice(&(v as u16).to_be_bytes()),
        (3, false) => px[..3].copy_from_slice(&v.to_le_bytes()[..3]),
        (3, true) => px[..3].copy_from_slice(&v.to_be_bytes()[1..]),
        (_, false) => px[..4].copy_from_slice(&v.to_le_bytes()),
        (_, true) => px[..4].copy_from_slice(&v.to_be_bytes()),
    }
}

/// 8-bit RGB → device pixel value, by table: one lookup per channel instead of a multiply
/// and divide per channel per pixel.
pub(super) struct Encoder {
    lut: [[u32; 256]; 3],
    bpp: usize,
    big_endian: bool,
}

impl Encoder {
    pub(super) fn new(g: &Geometry) -> Self {
        let mut lut = [[0u32; 256]; 3];
        for (table, field) in lut.iter_mut().zip([g.red, g.green, g.blue]) {
            for (v, slot) in table.iter_mut().enumerate() {
                *slot = field.encode(v as u8);
            }
        }
        Encoder { lut, bpp: g.bytes_per_pixel(), big_endian: g.big_endian }
    }

    pub(super) fn put(&self, px: &mut [u8], rgb: &[u8]) {
        let v = self.lut[0][rgb[0] as usize] | self.lut[1][rgb[1] as usize] | self.lut[2][rgb[2] as usize];
        store(px, v, self.bpp, self.big_endian);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{padded, picture, Scratch, FILL};
    use super::*;
    use crate::sink::fbdev::Framebuffer;
    use crate::sink::letterbox::letterbox;
    use image::Rgb;

    fn close_enough(a: [u8; 3], b: [u8; 3], tol: u8) -> bool {
        a.iter().zip(b).all(|(&a, b)| a.abs_diff(b) <= tol)
    }

    /// Present `picture()` on a file-backed screen with `g` and check every pixel against the
    /// letterbox reference, the bars, and that header and row padding bytes are untouched.
    fn check_present(g: Geometry, tol: u8) {
        let s = Scratch::new("present", g.required_len().unwrap() + g.stride);
        let mut fb = Framebuffer::open_file(&s.0, g).unwrap();
        let frame = picture();
        fb.present(&frame).unwrap();
        let bytes = std::fs::read(&s.0).unwrap();
        let expect = letterbox(&frame, (g.width, g.height));
        let bpp = g.bytes_per_pixel();
        for y in 0..g.height as usize {
            let row = &bytes[g.offset + y * g.stride..];
            for x in 0..g.width as usize {
                let got = g.decode(&row[x * bpp..]);
                let want = expect.get_pixel(x as u32, y as u32).0;
                assert!(close_enough(got, want, tol), "{g:?}: pixel ({x},{y}) is {got:?}, want {want:?}");
            }
            assert!(row[g.row_bytes()..g.stride].iter().all(|&b| b == FILL), "row {y} padding was written");
        }
        assert!(bytes[..g.offset].iter().all(|&b| b == FILL), "bytes before the offset were written");
        // Spot checks against the picture itself, not only the reference: the 6x3 frame on
        // a 12x10 screen is 12x6 at y = 2, so rows 0-1 and 8-9 are bars.
        let at = |x: usize, y: usize| g.decode(&bytes[g.offset + y * g.stride + x * bpp..]);
        assert_eq!(at(0, 0), [0, 0, 0], "top bar");
        assert_eq!(at(11, 9), [0, 0, 0], "bottom bar");
        assert!(close_enough(at(0, 2), frame.get_pixel(0, 0).0, tol), "picture top-left");
        assert!(close_enough(at(11, 7), frame.get_pixel(5, 2).0, tol), "picture bottom-right");
        assert_eq!(fb.snapshot().unwrap().get_pixel(0, 0).0, [0, 0, 0]);
    }

    #[test]
    fn rgb565_with_padded_stride() {
        check_present(padded(Geometry::rgb565(12, 10), 8, 6), 5);
    }

    #[test]
    fn bgr565_bitfields_are_honoured() {
        let mut g = padded(Geometry::rgb565(12, 10), 4, 0);
        (g.red, g.blue) = (Bitfield::new(0, 5), Bitfield::new(11, 5));
        check_present(g, 5);
    }

    #[test]
    fn xrgb8888_with_padded_stride() {
        check_present(padded(Geometry::xrgb8888(12, 10), 16, 100), 0);
    }

    #[test]
    fn xbgr8888_bitfields_are_honoured() {
        let mut g = padded(Geometry::xrgb8888(12, 10), 12, 0);
        (g.red, g.blue) = (Bitfield::new(0, 8), Bitfield::new(16, 8));
        check_present(g, 0);
    }

    #[test]
    fn rgb888_24bpp_and_big_endian_pixels() {
        check_present(padded(Geometry::rgb888(12, 10), 3, 2), 0);
        let mut g = padded(Geometry::rgb565(12, 10), 2, 0);
        g.big_endian = true;
        check_present(g, 5);
    }

    #[test]
    fn pixel_bytes_follow_the_bitfields() {
        let red = Rgb([255, 0, 0]);
        for (g, want) in [
            (Geometry::rgb565(1, 1), vec![0x00, 0xf8]),
            (Geometry::xrgb8888(1, 1), vec![0x00, 0x00, 0xff, 0x00]),
            (
                Geometry { red: Bitfield::new(0, 8), blue: Bitfield::new(16, 8), ..Geometry::xrgb8888(1, 1) },
                vec![0xff, 0x00, 0x00, 0x00],
            ),
        ] {
            let s = Scratch::new("bytes", want.len());
            let mut fb = Framebuffer::open_file(&s.0, g).unwrap();
            fb.present(&RgbImage::from_pixel(1, 1, red)).unwrap();
            assert_eq!(std::fs::read(&s.0).unwrap(), want, "{g:?}");
        }
    }
}
