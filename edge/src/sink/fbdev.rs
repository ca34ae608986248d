//! Linux framebuffer display sink: `/dev/fbN` through its ioctls and mmap, or any file laid
//! out like a framebuffer (a plain file with a given [`Geometry`], or the XWD screen file that
//! `Xvfb -fbdir DIR` keeps in `DIR/Xvfb_screen0`).
//!
//! Frames are letterboxed onto the screen ([`super::letterbox`]) and converted to the pixel
//! format the driver reports: 16, 24 or 32 bits per pixel with any red/green/blue bitfield
//! placement (RGB565, BGR565, XRGB8888, XBGR8888, …). Rows are addressed by the reported
//! stride, so padding past the visible width is never touched.
//!
//! Tearing: each frame is composed in a private back buffer in device format and then copied
//! to the mapped screen in one pass, so the screen never shows a half-scaled or half-converted
//! frame for long — but the copy is not synchronised with the display scan-out, so tearing is
//! reduced, not eliminated. Double buffering by panning (`FBIOPAN_DISPLAY` into the hidden half
//! when the virtual height is at least twice the visible one) would remove it; that is future
//! work and not done here. Likewise the kernel console is not switched to graphics mode
//! (`KDSETMODE`), so console text printed while running can overwrite the picture until the
//! next frame.

use super::letterbox::{fit, sample_map, Fit};
use super::{FrameReport, Sink};
use anyhow::{bail, Context, Result};
use embedded_graphics::{pixelcolor::Rgb888, prelude::*};
use image::RgbImage;
use memmap2::{MmapMut, MmapOptions};
use std::convert::Infallible;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

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
    fn describe(&self) -> String {
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
struct Encoder {
    lut: [[u32; 256]; 3],
    bpp: usize,
    big_endian: bool,
}

impl Encoder {
    fn new(g: &Geometry) -> Self {
        let mut lut = [[0u32; 256]; 3];
        for (table, field) in lut.iter_mut().zip([g.red, g.green, g.blue]) {
            for (v, slot) in table.iter_mut().enumerate() {
                *slot = field.encode(v as u8);
            }
        }
        Encoder { lut, bpp: g.bytes_per_pixel(), big_endian: g.big_endian }
    }

    fn put(&self, px: &mut [u8], rgb: &[u8]) {
        let v = self.lut[0][rgb[0] as usize] | self.lut[1][rgb[1] as usize] | self.lut[2][rgb[2] as usize];
        store(px, v, self.bpp, self.big_endian);
    }
}

/// Where a frame of one size lands and which source pixels feed each screen pixel;
/// rebuilt only when the frame size changes.
struct Plan {
    frame: (u32, u32),
    fit: Fit,
    /// Per picture column: byte offset of the source pixel within a source row.
    cols: Vec<usize>,
    /// Per picture row: the source row.
    rows: Vec<usize>,
}

impl Plan {
    fn new(frame: (u32, u32), screen: (u32, u32)) -> Self {
        let fit = fit(frame, screen);
        let cols = sample_map(frame.0, fit.w).into_iter().map(|x| x as usize * 3).collect();
        let rows = sample_map(frame.1, fit.h).into_iter().map(|y| y as usize).collect();
        Plan { frame, fit, cols, rows }
    }
}

/// A mapped screen (device or file) with a back buffer in its pixel format.
pub struct Framebuffer {
    /// The device or file, for error messages.
    name: String,
    geometry: Geometry,
    map: MmapMut,
    encoder: Encoder,
    /// The whole visible screen in device format, rows packed (`row_bytes` apart).
    back: Vec<u8>,
    /// The visible screen as found at open, rows packed; put back by [`Sink::close`].
    saved: Vec<u8>,
    plan: Option<Plan>,
}

impl std::fmt::Debug for Framebuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Framebuffer").field("name", &self.name).field("geometry", &self.geometry).finish()
    }
}

// The kernel's linux/fb.h structures, written out by hand. Only a few fields are read;
// the rest are there so the kernel's copy_to_user fits exactly.
const FBIOGET_VSCREENINFO: u32 = 0x4600;
const FBIOGET_FSCREENINFO: u32 = 0x4602;
const FB_TYPE_PACKED_PIXELS: u32 = 0;
const FB_VISUAL_TRUECOLOR: u32 = 2;
const FB_VISUAL_DIRECTCOLOR: u32 = 4;

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FbBitfield {
    offset: u32,
    length: u32,
    msb_right: u32,
}

#[repr(C)]
#[derive(Debug, Default)]
#[allow(dead_code)]
struct FbVarScreeninfo {
    xres: u32,
    yres: u32,
    xres_virtual: u32,
    yres_virtual: u32,
    xoffset: u32,
    yoffset: u32,
    bits_per_pixel: u32,
    grayscale: u32,
    red: FbBitfield,
    green: FbBitfield,
    blue: FbBitfield,
    transp: FbBitfield,
    nonstd: u32,
    activate: u32,
    height: u32,
    width: u32,
    accel_flags: u32,
    pixclock: u32,
    left_margin: u32,
    right_margin: u32,
    upper_margin: u32,
    lower_margin: u32,
    hsync_len: u32,
    vsync_len: u32,
    sync: u32,
    vmode: u32,
    rotate: u32,
    colorspace: u32,
    reserved: [u32; 4],
}

#[repr(C)]
#[derive(Debug, Default)]
#[allow(dead_code)]
struct FbFixScreeninfo {
    id: [u8; 16],
    smem_start: libc::c_ulong,
    smem_len: u32,
    type_: u32,
    type_aux: u32,
    visual: u32,
    xpanstep: u16,
    ypanstep: u16,
    ywrapstep: u16,
    line_length: u32,
    mmio_start: libc::c_ulong,
    mmio_len: u32,
    accel: u32,
    capabilities: u16,
    reserved: [u16; 2],
}

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

impl Framebuffer {
    /// Open a framebuffer device such as `/dev/fb0`: read its layout with the
    /// `FBIOGET_VSCREENINFO`/`FBIOGET_FSCREENINFO` ioctls and map its memory.
    pub fn open_device(path: impl AsRef<Path>) -> Result<Framebuffer> {
        use std::os::fd::AsRawFd;
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("framebuffer {name}: cannot open for reading and writing"))?;
        let mut var = FbVarScreeninfo::default();
        let mut fix = FbFixScreeninfo::default();
        // SAFETY: both requests copy exactly one struct of the declared layout (sizes are
        // checked by const assertions below) into memory we own for the call's duration.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), FBIOGET_VSCREENINFO as _, &mut var as *mut FbVarScreeninfo) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            bail!("{name}: FBIOGET_VSCREENINFO failed ({err}); is it a framebuffer device?");
        }
        // SAFETY: as above.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), FBIOGET_FSCREENINFO as _, &mut fix as *mut FbFixScreeninfo) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            bail!("{name}: FBIOGET_FSCREENINFO failed ({err}); is it a framebuffer device?");
        }
        let id = String::from_utf8_lossy(&fix.id).trim_end_matches('\0').to_string();
        let name = if id.is_empty() { name } else { format!("{name} ({id})") };
        if fix.type_ != FB_TYPE_PACKED_PIXELS {
            bail!("{name}: framebuffer type {} is not packed pixels", fix.type_);
        }
        if fix.visual != FB_VISUAL_TRUECOLOR && fix.visual != FB_VISUAL_DIRECTCOLOR {
            bail!("{name}: visual {} is not true colour (palette and monochrome modes are not supported)", fix.visual);
        }
        if var.grayscale != 0 || var.nonstd != 0 {
            bail!("{name}: grayscale/FOURCC ({}) or non-standard ({}) pixel format", var.grayscale, var.nonstd);
        }
        if [var.red, var.green, var.blue].iter().any(|f| f.msb_right != 0) {
            bail!("{name}: bit-reversed (msb_right) colour channels are not supported");
        }
        let bytes_pp = var.bits_per_pixel as usize / 8;
        let geometry = Geometry {
            width: var.xres,
            height: var.yres,
            bits_per_pixel: var.bits_per_pixel,
            stride: fix.line_length as usize,
            red: Bitfield::new(var.red.offset, var.red.length),
            green: Bitfield::new(var.green.offset, var.green.length),
            blue: Bitfield::new(var.blue.offset, var.blue.length),
            // The visible part of a panned virtual screen.
            offset: var.yoffset as usize * fix.line_length as usize + var.xoffset as usize * bytes_pp,
            big_endian: cfg!(target_endian = "big"),
        };
        geometry.check().map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let len = if fix.smem_len > 0 {
            fix.smem_len as usize
        } else {
            fix.line_length as usize * var.yres_virtual.max(var.yres) as usize
        };
        // SAFETY: the mapping is shared with the display hardware and possibly other
        // processes; it is only ever accessed as plain bytes, for which any content is valid.
        let map = unsafe { MmapOptions::new().len(len).map_mut(&file) }
            .with_context(|| format!("{name}: cannot map {len} bytes of framebuffer memory"))?;
        Self::from_map(name, geometry, map)
    }

    /// Open a plain file laid out like a framebuffer with the given geometry (tests, or
    /// any program that shows a file's bytes). The file must already be large enough.
    pub fn open_file(path: impl AsRef<Path>, geometry: Geometry) -> Result<Framebuffer> {
        let path = path.as_ref();
        let name = path.display().to_string();
        geometry.check().map_err(|e| anyhow::anyhow!("framebuffer file {name}: {e}"))?;
        let file = open_rw(path, &name)?;
        let len = file.metadata().with_context(|| format!("framebuffer file {name}: cannot stat"))?.len();
        let need = geometry.required_len().unwrap_or(usize::MAX);
        if len < need as u64 {
            bail!(
                "framebuffer file {name} is {len} bytes, too small for {} ({need} bytes needed)",
                geometry.describe()
            );
        }
        let map = map_file(&file, &name)?;
        Self::from_map(name, geometry, map)
    }

    /// Open the screen file of an `Xvfb -fbdir DIR` server: `DIR/Xvfb_screen0`, an XWD image
    /// the server keeps mapped as its screen memory. `path` may be that file or `DIR`.
    pub fn open_xvfb(path: impl AsRef<Path>) -> Result<Framebuffer> {
        let mut path: PathBuf = path.as_ref().into();
        if path.is_dir() {
            path.push(XVFB_SCREEN_FILE);
        }
        let name = path.display().to_string();
        let file = open_rw(&path, &name)?;
        let map = map_file(&file, &name)?;
        let geometry = parse_xwd(&map, &name)?;
        Self::from_map(name, geometry, map)
    }

    fn from_map(name: String, geometry: Geometry, map: MmapMut) -> Result<Framebuffer> {
        geometry.check().map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let need = geometry.required_len().unwrap_or(usize::MAX);
        if map.len() < need {
            bail!(
                "{name}: mapping is {} bytes, too small for {} ({need} bytes needed)",
                map.len(),
                geometry.describe()
            );
        }
        let row = geometry.row_bytes();
        let mut saved = Vec::with_capacity(row * geometry.height as usize);
        for y in 0..geometry.height as usize {
            saved.extend_from_slice(&map[geometry.offset + y * geometry.stride..][..row]);
        }
        // Start the back buffer from what is on screen, so drawing + flush without a
        // present changes only what was drawn.
        let back = saved.clone();
        let encoder = Encoder::new(&geometry);
        Ok(Framebuffer { name, geometry, map, encoder, back, saved, plan: None })
    }

    /// The screen's layout.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The device or file this framebuffer shows on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Screen size in pixels.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.geometry.width, self.geometry.height)
    }

    /// Show `frame` scaled to fit the screen, centred, with black bars: compose it into the
    /// back buffer in device format, then copy that to the screen in one pass.
    pub fn present(&mut self, frame: &RgbImage) -> Result<()> {
        self.compose(frame)?;
        self.flush();
        Ok(())
    }

    /// Scale and convert `frame` into the back buffer (the screen is not touched until
    /// [`flush`](Self::flush)), e.g. to draw overlays on top with `DrawTarget` first.
    pub fn compose(&mut self, frame: &RgbImage) -> Result<()> {
        let (fw, fh) = frame.dimensions();
        if fw == 0 || fh == 0 {
            bail!("{}: cannot show an empty {fw}x{fh} frame", self.name);
        }
        let screen = self.dimensions();
        if self.plan.as_ref().map(|p| p.frame) != Some((fw, fh)) {
            self.plan = Some(Plan::new((fw, fh), screen));
        }
        let Some(plan) = &self.plan else { unreachable!("plan was just set") };
        let bpp = self.geometry.bytes_per_pixel();
        let row_bytes = self.geometry.row_bytes();
        let f = plan.fit;
        let (left, right) = (f.x as usize * bpp, (f.x + f.w) as usize * bpp);
        let src = frame.as_raw();
        let src_row = fw as usize * 3;
        // Black is all-zero bits in every accepted format (no alpha channel is written).
        let (top, rest) = self.back.split_at_mut(f.y as usize * row_bytes);
        top.fill(0);
        let (picture, bottom) = rest.split_at_mut(f.h as usize * row_bytes);
        bottom.fill(0);
        for (dst, &sy) in picture.chunks_exact_mut(row_bytes).zip(&plan.rows) {
            dst[..left].fill(0);
            dst[right..].fill(0);
            let srow = &src[sy * src_row..][..src_row];
            for (px, &sx) in dst[left..right].chunks_exact_mut(bpp).zip(&plan.cols) {
                self.encoder.put(px, &srow[sx..sx + 3]);
            }
        }
        Ok(())
    }

    /// Copy the back buffer to the screen, row by row at the device's stride (the padding
    /// past each row is left alone).
    pub fn flush(&mut self) {
        copy_rows(&mut self.map, &self.back, &self.geometry);
    }

    /// What the screen shows now, read back from the mapping and decoded to RGB.
    pub fn snapshot(&self) -> Result<RgbImage> {
        self.geometry.to_rgb_image(&self.map).with_context(|| format!("{}: cannot read the screen back", self.name))
    }

    /// Put back the screen contents saved when the framebuffer was opened.
    pub fn restore(&mut self) {
        copy_rows(&mut self.map, &self.saved, &self.geometry);
    }
}

fn copy_rows(map: &mut [u8], packed: &[u8], g: &Geometry) {
    let row = g.row_bytes();
    for (y, src) in packed.chunks_exact(row).enumerate() {
        map[g.offset + y * g.stride..][..row].copy_from_slice(src);
    }
}

fn open_rw(path: &Path, name: &str) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("framebuffer file {name}: cannot open for reading and writing"))
}

fn map_file(file: &File, name: &str) -> Result<MmapMut> {
    let len = file.metadata().with_context(|| format!("framebuffer file {name}: cannot stat"))?.len();
    if len == 0 {
        bail!("framebuffer file {name} is empty");
    }
    // SAFETY: the file may be changed by others (Xvfb keeps it mapped as its screen); the
    // mapping is only accessed as plain bytes, for which any content is valid.
    unsafe { MmapOptions::new().map_mut(file) }.with_context(|| format!("framebuffer file {name}: cannot map"))
}

impl OriginDimensions for Framebuffer {
    fn size(&self) -> Size {
        Size::new(self.geometry.width, self.geometry.height)
    }
}

/// Drawing goes to the back buffer; call [`Framebuffer::flush`] to show it.
/// Pixels outside the screen are ignored.
impl DrawTarget for Framebuffer {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(&mut self, pixels: I) -> Result<(), Infallible> {
        let (w, h) = self.dimensions();
        let bpp = self.geometry.bytes_per_pixel();
        let row = self.geometry.row_bytes();
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < w && (p.y as u32) < h {
                let at = p.y as usize * row + p.x as usize * bpp;
                self.encoder.put(&mut self.back[at..at + bpp], &[c.r(), c.g(), c.b()]);
            }
        }
        Ok(())
    }
}

impl Sink for Framebuffer {
    fn show(&mut self, frame: &RgbImage, _report: &FrameReport) -> Result<()> {
        self.present(frame)
    }

    /// Restores the screen as it was at open, so the console comes back on exit.
    fn close(&mut self) -> Result<()> {
        self.restore();
        Ok(())
    }
}

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

// The layouts must match linux/fb.h byte for byte: the var struct is all u32 (160 bytes
// everywhere); the fix one holds two `unsigned long`s, so it is 80 bytes on 64-bit targets
// and 68 on 32-bit ones.
const _: () = assert!(std::mem::size_of::<FbVarScreeninfo>() == 160);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<FbFixScreeninfo>() == 80);
#[cfg(target_pointer_width = "32")]
const _: () = assert!(std::mem::size_of::<FbFixScreeninfo>() == 68);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::letterbox::letterbox;
    use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
    use image::Rgb;

    const FILL: u8 = 0xa5;

    /// A unique scratch file filled with `FILL`, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str, len: usize) -> Scratch {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("facecam-fbdev-{}-{tag}-{n}", std::process::id()));
            std::fs::write(&path, vec![FILL; len]).unwrap();
            Scratch(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A 6x3 picture: a distinct colour per pixel, so any sampling mistake shows.
    fn picture() -> RgbImage {
        RgbImage::from_fn(6, 3, |x, y| Rgb([(x * 40 + 20) as u8, (y * 100 + 10) as u8, (250 - x * 30 - y * 20) as u8]))
    }

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

    fn padded(mut g: Geometry, pad: usize, offset: usize) -> Geometry {
        g.stride += pad;
        g.offset = offset;
        g
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

    #[test]
    fn frame_size_changes_are_followed() {
        let g = Geometry::xrgb8888(8, 8);
        let s = Scratch::new("resize", g.required_len().unwrap());
        let mut fb = Framebuffer::open_file(&s.0, g).unwrap();
        fb.present(&picture()).unwrap();
        let tall = RgbImage::from_pixel(2, 4, Rgb([0, 200, 0]));
        fb.present(&tall).unwrap();
        assert_eq!(fb.snapshot().unwrap(), letterbox(&tall, (8, 8)));
    }

    #[test]
    fn close_restores_the_screen_found_at_open() {
        let g = padded(Geometry::rgb565(12, 10), 8, 4);
        let s = Scratch::new("close", g.required_len().unwrap());
        let before = std::fs::read(&s.0).unwrap();
        let mut fb = Framebuffer::open_file(&s.0, g).unwrap();
        fb.present(&picture()).unwrap();
        assert_ne!(std::fs::read(&s.0).unwrap(), before);
        Sink::close(&mut fb).unwrap();
        assert_eq!(std::fs::read(&s.0).unwrap(), before);
    }

    #[test]
    fn draw_target_draws_into_the_back_buffer_until_flush() {
        let g = Geometry::xrgb8888(10, 10);
        let s = Scratch::new("draw", g.required_len().unwrap());
        let mut fb = Framebuffer::open_file(&s.0, g).unwrap();
        fb.compose(&RgbImage::new(10, 10)).unwrap();
        Rectangle::new(Point::new(2, 3), Size::new(4, 2))
            .into_styled(PrimitiveStyle::with_fill(Rgb888::new(10, 20, 30)))
            .draw(&mut fb)
            .unwrap();
        Pixel(Point::new(-1, 50), Rgb888::WHITE).draw(&mut fb).unwrap(); // clipped, not a panic
        assert_eq!(fb.snapshot().unwrap().get_pixel(2, 3).0, [FILL, FILL, FILL], "not on screen before flush");
        fb.flush();
        let shot = fb.snapshot().unwrap();
        assert_eq!(shot.get_pixel(2, 3).0, [10, 20, 30]);
        assert_eq!(shot.get_pixel(5, 4).0, [10, 20, 30]);
        assert_eq!(shot.get_pixel(6, 4).0, [0, 0, 0]);
        assert_eq!(fb.size(), Size::new(10, 10));
    }

    #[test]
    fn too_small_files_and_bad_geometry_are_errors_naming_the_file() {
        let g = Geometry::xrgb8888(16, 16);
        let s = Scratch::new("small", 100);
        let err = format!("{:#}", Framebuffer::open_file(&s.0, g).unwrap_err());
        assert!(err.contains(&s.0.display().to_string()) && err.contains("100 bytes"), "{err}");
        assert!(err.contains(&g.required_len().unwrap().to_string()), "{err}");
        let bad = Geometry { bits_per_pixel: 8, ..g };
        let err = format!("{:#}", Framebuffer::open_file(&s.0, bad).unwrap_err());
        assert!(err.contains(&s.0.display().to_string()) && err.contains("8 bits per pixel"), "{err}");
        let narrow = Geometry { stride: 10, ..g };
        assert!(format!("{:#}", Framebuffer::open_file(&s.0, narrow).unwrap_err()).contains("stride 10"));
        let missing = Framebuffer::open_file("/nonexistent/facecam-fb", Geometry::rgb565(1, 1)).unwrap_err();
        assert!(format!("{missing:#}").contains("/nonexistent/facecam-fb"));
        let mut fb = Framebuffer::open_file(&s.0, Geometry::rgb565(2, 2)).unwrap();
        assert!(fb.present(&RgbImage::new(0, 3)).is_err(), "empty frames are an error, not a panic");
    }

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

    #[test]
    fn the_ioctl_structs_match_linux_fb_h() {
        assert_eq!(std::mem::size_of::<FbVarScreeninfo>(), 160);
        let fix = if cfg!(target_pointer_width = "64") { 80 } else { 68 };
        assert_eq!(std::mem::size_of::<FbFixScreeninfo>(), fix);
        assert_eq!(std::mem::offset_of!(FbFixScreeninfo, line_length), if fix == 80 { 48 } else { 44 });
        assert_eq!(std::mem::offset_of!(FbVarScreeninfo, red), 32);
    }

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
