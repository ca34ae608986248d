//! Camera pixel formats to RGB: JPEG (MJPEG frames) and packed YUYV 4:2:2; and picture
//! files to RGB, the one place still pictures are read.
//!
//! Both functions take untrusted bytes straight from a camera or a pipe, so every failure
//! is a [`SourceError::Corrupt`] for that one frame, never a panic. Every picture's size
//! is checked on its header against one pixel cap ([`check_size`]) before any pixel is
//! allocated: a small file can claim a huge picture (a 2 MB JPEG of 12000x12000 decodes
//! to 432 MB).

use super::SourceError;
use image::codecs::jpeg::JpegDecoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The pixel cap of camera and stream frames when no board profile sets
/// `max_frame_pixels`: 4096x4096 (16.8 MP, 48 MiB as RGB).
pub const DEFAULT_MAX_FRAME_PIXELS: u64 = 4096 * 4096;

/// The pixel cap of picture files (photos for `detect`, `annotate` and training,
/// `images:` frames) when no board profile sets one: 8192x8192 (67 MP, 192 MiB as RGB),
/// above the 48 to 50 MP photos of recent phones.
pub const DEFAULT_MAX_PHOTO_PIXELS: u64 = 8192 * 8192;

/// A board profile's cap, for frames and files alike; 0 = none set.
static BOARD_MAX_PIXELS: AtomicU64 = AtomicU64::new(0);

/// Cap every picture this process decodes, frames and files, at `pixels` (a board
/// profile's `max_frame_pixels`, checked there).
pub fn set_max_pixels(pixels: u64) {
    BOARD_MAX_PIXELS.store(pixels, Relaxed);
}

/// The pixel cap in force for picture files (`photo`) or for camera and stream frames.
pub fn max_pixels(photo: bool) -> u64 {
    match BOARD_MAX_PIXELS.load(Relaxed) {
        0 if photo => DEFAULT_MAX_PHOTO_PIXELS,
        0 => DEFAULT_MAX_FRAME_PIXELS,
        n => n,
    }
}

/// The one size rule of decoding, checked on a header before decoding: a picture with
/// no pixels or more than `max` is refused, the message giving its size and the cap.
pub fn check_size(width: u32, height: u32, max: u64) -> Result<(), String> {
    let pixels = width as u64 * height as u64;
    if pixels == 0 {
        return Err(format!("a picture of {width}x{height} pixels"));
    }
    if pixels > max {
        let mp = |n: u64| n as f64 / 1e6;
        return Err(format!(
            "{width}x{height} ({:.1} MP) is over the cap of {:.1} MP; not decoded",
            mp(pixels),
            mp(max)
        ));
    }
    Ok(())
}

/// Decode through `decoder` once its header size passed [`check_size`] against `max`;
/// `orient` turns the picture as its EXIF orientation says (photos: what viewers show
/// and labelling tools label), else it is left as stored (camera frames).
fn decode_checked(mut decoder: impl ImageDecoder, max: u64, orient: bool) -> Result<RgbImage, String> {
    let (width, height) = decoder.dimensions();
    check_size(width, height, max)?;
    // A damaged EXIF block is no reason to refuse the picture: it is used as stored.
    let orientation =
        if orient { decoder.orientation().unwrap_or(Orientation::NoTransforms) } else { Orientation::NoTransforms };
    decoder.set_limits(image::Limits::default()).map_err(|e| e.to_string())?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Read a picture file to RGB, its format told by its content rather than its name (a
/// PNG saved as `.jpg` reads), a JPEG checked for truncation as camera frames are (see
/// [`decode_jpeg`]), its size checked against the photo cap ([`max_pixels`]) before
/// decoding, and turned upright as its EXIF orientation says, so pixels, boxes and
/// labels are in the displayed picture's coordinates. Errors name the file.
pub fn read_image(path: &std::path::Path) -> anyhow::Result<RgbImage> {
    use anyhow::Context;
    let bytes = crate::input::read_file(path, "a picture file", crate::input::MAX_PICTURE_BYTES)?;
    let max = max_pixels(true);
    if bytes.starts_with(&[0xFF, 0xD8]) {
        // Files may carry data after the picture (phones append videos or trailers): the
        // picture ends at the last EOI after its last scan; no such EOI means truncated.
        let find_last = |m: u8| bytes.windows(2).rposition(|w| w == [0xFF, m]);
        let end = match (find_last(0xDA), find_last(0xD9)) {
            (Some(sos), Some(eoi)) if eoi > sos => eoi + 2,
            _ => bytes.len(),
        };
        return decode_jpeg_within(&bytes[..end], max, true).map_err(|e| match e {
            SourceError::Corrupt(why) => anyhow::anyhow!("{}: {why}", path.display()),
            other => anyhow::anyhow!("{}: {other}", path.display()),
        });
    }
    let reader = ImageReader::new(Cursor::new(&bytes[..])).with_guessed_format().expect("reading from memory");
    if reader.format().is_none() {
        anyhow::bail!("{}: not a picture in a format facecam reads (JPEG, PNG, BMP, …)", path.display());
    }
    let decoder = reader.into_decoder().with_context(|| format!("{}: cannot decode", path.display()))?;
    decode_checked(decoder, max, true).map_err(|e| anyhow::anyhow!("{}: cannot decode: {e}", path.display()))
}

/// A picture file's size as [`read_image`] gives it (EXIF orientation applied: width and
/// height swap for a quarter turn), from its header without decoding, for label formats
/// that give boxes relative to the picture's size. Errors name the file.
pub fn read_size(path: &std::path::Path) -> anyhow::Result<(u32, u32)> {
    use anyhow::Context;
    let file = crate::input::open_file(path, "a picture file")?;
    let reader = ImageReader::new(std::io::BufReader::new(file));
    let reader = reader.with_guessed_format().with_context(|| format!("{}: cannot read", path.display()))?;
    let mut decoder =
        reader.into_decoder().with_context(|| format!("{}: cannot read the picture's size", path.display()))?;
    let (w, h) = decoder.dimensions();
    Ok(match decoder.orientation().unwrap_or(Orientation::NoTransforms) {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => {
            (h, w)
        }
        _ => (w, h),
    })
}

/// Decode one complete JPEG camera or stream frame to RGB, refused (before decoding)
/// when larger than the frame cap ([`max_pixels`]).
///
/// The data must start with SOI (`FF D8`) and end with EOI (`FF D9`), optionally followed by
/// zero padding (some UVC cameras pad their buffers). The end check matters: the decoder
/// fills a truncated scan with gray instead of failing, which would hand a half-gray picture
/// to the detector as if it were a good frame.
pub fn decode_jpeg(bytes: &[u8]) -> Result<RgbImage, SourceError> {
    decode_jpeg_within(bytes, max_pixels(false), false)
}

/// [`decode_jpeg`] with the pixel cap `max`, and EXIF orientation applied if `orient`.
fn decode_jpeg_within(bytes: &[u8], max: u64, orient: bool) -> Result<RgbImage, SourceError> {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return Err(SourceError::Corrupt(format!("not a JPEG: no SOI marker ({} bytes)", bytes.len())));
    }
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if end < 4 || bytes[end - 2] != 0xFF || bytes[end - 1] != 0xD9 {
        return Err(SourceError::Corrupt(format!("truncated JPEG: no EOI marker ({} bytes)", bytes.len())));
    }
    let bytes = &bytes[..end];
    // UVC cameras often leave out the Huffman tables (MJPEG as in AVI), expecting the decoder
    // to use the standard ones; the decoder only does that when an `AVI1` APP0 says so.
    let patched;
    let bytes = match sos_without_dht(bytes) {
        Some(sos) => {
            patched = [&bytes[..sos], standard_dht(), &bytes[sos..]].concat();
            &patched[..]
        }
        None => bytes,
    };
    // The decoder reads only the headers here; the size is checked before any pixel.
    let corrupt = |e: String| SourceError::Corrupt(format!("JPEG ({} bytes): {e}", bytes.len()));
    let decoder = JpegDecoder::new(Cursor::new(bytes)).map_err(|e| corrupt(e.to_string()))?;
    decode_checked(decoder, max, orient).map_err(corrupt)
}

/// Offset of the first SOS marker when no DHT segment comes before it; `None` when the tables
/// are there or the headers cannot be walked (the decoder then reports the damage).
fn sos_without_dht(bytes: &[u8]) -> Option<usize> {
    let mut pos = 2;
    loop {
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        match *bytes.get(pos + 1)? {
            0xFF => pos += 1,
            0xC4 => return None,
            0xDA => return Some(pos),
            0xD0..=0xD7 | 0x01 => pos += 2,
            _ => pos += 2 + u16::from_be_bytes([*bytes.get(pos + 2)?, *bytes.get(pos + 3)?]) as usize,
        }
    }
}

/// A DHT segment with the four "typical" Huffman tables of the JPEG standard (ITU T.81,
/// annex K.3), which table-less MJPEG frames are coded with.
fn standard_dht() -> &'static [u8] {
    static DHT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DHT.get_or_init(|| {
        // AC values: a listed head, then runs of `row << 4 | size` for the longer codes.
        let ac = |head: &[u8], tails: &[(u8, u8, u8)]| {
            let mut v = head.to_vec();
            for &(row, from, to) in tails {
                v.extend((from..=to).map(|size| row << 4 | size));
            }
            v
        };
        let dc_values: Vec<u8> = (0..12).collect();
        let luma_ac = ac(
            &[
                0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22,
                0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0, 0x24, 0x33,
                0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A,
            ],
            &[
                (3, 4, 10),
                (4, 3, 10),
                (5, 3, 10),
                (6, 3, 10),
                (7, 3, 10),
                (8, 3, 10),
                (9, 2, 10),
                (10, 2, 10),
                (11, 2, 10),
                (12, 2, 10),
                (13, 2, 10),
                (14, 1, 10),
                (15, 1, 10),
            ],
        );
        let chroma_ac = ac(
            &[
                0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13,
                0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0, 0x15, 0x62,
                0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26, 0x27, 0x28, 0x29,
                0x2A,
            ],
            &[
                (3, 5, 10),
                (4, 3, 10),
                (5, 3, 10),
                (6, 3, 10),
                (7, 3, 10),
                (8, 2, 10),
                (9, 2, 10),
                (10, 2, 10),
                (11, 2, 10),
                (12, 2, 10),
                (13, 2, 10),
                (14, 2, 10),
                (15, 2, 10),
            ],
        );
        // (class << 4 | id, code counts per length 1..=16, values)
        let tables: [(u8, [u8; 16], &[u8]); 4] = [
            (0x00, [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], &dc_values),
            (0x10, [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D], &luma_ac),
            (0x01, [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], &dc_values),
            (0x11, [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77], &chroma_ac),
        ];
        let mut body = Vec::new();
        for (id, counts, values) in tables {
            debug_assert_eq!(counts.iter().map(|&c| c as usize).sum::<usize>(), values.len());
            body.push(id);
            body.extend_from_slice(&counts);
            body.extend_from_slice(values);
        }
        let mut segment = vec![0xFF, 0xC4];
        segment.extend_from_slice(&(body.len() as u16 + 2).to_be_bytes());
        segment.extend_from_slice(&body);
        segment
    })
}

// BT.601 limited range ("studio swing": Y in 16..=235, Cb/Cr in 16..=240) to full-range RGB,
// as 14-bit fixed point. 14 bits keep the result within ±1 of the float formula while the
// largest intermediate (about 255 * 1.164 * 2^14 + 2.017 * 128 * 2^14 ≈ 9.1e6) stays far
// inside i32, so the compiler can use 32-bit lanes.
const SHIFT: i32 = 14;
const fn fixed(c: f64) -> i32 {
    (c * (1 << SHIFT) as f64 + if c < 0.0 { -0.5 } else { 0.5 }) as i32
}
const Y_GAIN: i32 = fixed(255.0 / 219.0);
const V_TO_R: i32 = fixed(1.402 * 255.0 / 224.0);
const U_TO_G: i32 = fixed(-0.344136 * 255.0 / 224.0);
const V_TO_G: i32 = fixed(-0.714136 * 255.0 / 224.0);
const U_TO_B: i32 = fixed(1.772 * 255.0 / 224.0);
const ROUND: i32 = 1 << (SHIFT - 1);

/// Two RGB pixels from one YUYV macropixel `[Y0, U, Y1, V]`: straight-line integer code
/// with clamping as the only "branch" (min/max), so the row loop vectorises.
#[inline(always)]
fn macropixel(s: &[u8; 4]) -> [u8; 6] {
    let u = s[1] as i32 - 128;
    let v = s[3] as i32 - 128;
    let r = V_TO_R * v + ROUND;
    let g = U_TO_G * u + V_TO_G * v + ROUND;
    let b = U_TO_B * u + ROUND;
    let y0 = Y_GAIN * (s[0] as i32 - 16);
    let y1 = Y_GAIN * (s[2] as i32 - 16);
    let px = |x: i32| (x >> SHIFT).clamp(0, 255) as u8;
    [px(y0 + r), px(y0 + g), px(y0 + b), px(y1 + r), px(y1 + g), px(y1 + b)]
}

/// Convert packed YUYV 4:2:2 (`Y0 U Y1 V` per two pixels, BT.601 limited range) to RGB.
///
/// `stride_bytes` is the length of one row in `data` (V4L2's `bytesperline`), at least
/// `2 * width` rounded up to whole macropixels; the padding beyond is ignored. `out` is
/// reallocated when its size differs from `width`×`height`, so a caller can reuse one image
/// for every frame. Data shorter than `stride_bytes * height` is [`SourceError::Corrupt`].
pub fn yuyv_to_rgb(
    data: &[u8],
    width: u32,
    height: u32,
    stride_bytes: usize,
    out: &mut RgbImage,
) -> Result<(), SourceError> {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 {
        return Err(SourceError::Corrupt(format!("YUYV frame of size {width}x{height}")));
    }
    let row_bytes = w.div_ceil(2) * 4;
    if stride_bytes < row_bytes {
        return Err(SourceError::Corrupt(format!(
            "YUYV stride {stride_bytes} is shorter than a {width}-pixel row ({row_bytes} bytes)"
        )));
    }
    let needed = stride_bytes.saturating_mul(h);
    if data.len() < needed {
        return Err(SourceError::Corrupt(format!(
            "YUYV {width}x{height}: {} bytes, expected {needed} (stride {stride_bytes})",
            data.len()
        )));
    }
    if out.dimensions() != (width, height) {
        *out = RgbImage::new(width, height);
    }
    let pairs = w / 2;
    for (src, dst) in data.chunks_exact(stride_bytes).zip(out.chunks_exact_mut(w * 3)) {
        let (src_px, _) = src.as_chunks::<4>();
        let (dst_px, dst_tail) = dst.as_chunks_mut::<6>();
        for (s, d) in src_px[..pairs].iter().zip(dst_px.iter_mut()) {
            *d = macropixel(s);
        }
        // An odd width leaves one pixel, the first half of a final macropixel.
        if let (Some(s), [r, g, b]) = (src_px.get(pairs), dst_tail) {
            let [pr, pg, pb, ..] = macropixel(s);
            (*r, *g, *b) = (pr, pg, pb);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
