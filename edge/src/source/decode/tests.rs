//! JPEG decoding and YUYV conversion against independent float references and broken input.

use super::*;

/// Independent float reference: full-range RGB to BT.601 limited-range YUV.
fn rgb_to_yuv(p: [u8; 3]) -> [f64; 3] {
    let [r, g, b] = p.map(|c| c as f64 / 255.0);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = (b - y) / 1.772;
    let cr = (r - y) / 1.402;
    [16.0 + 219.0 * y, 128.0 + 224.0 * cb, 128.0 + 224.0 * cr]
}

fn to_u8(x: f64) -> u8 {
    x.round().clamp(0.0, 255.0) as u8
}

/// YUYV bytes for `img` (chroma averaged over each pixel pair), rows `stride` bytes long
/// with the padding filled with junk.
fn encode_yuyv(img: &RgbImage, stride: usize) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let mut data = vec![0xA5u8; stride * h as usize];
    for y in 0..h {
        let row = &mut data[y as usize * stride..];
        for x in (0..w).step_by(2) {
            let a = rgb_to_yuv(img.get_pixel(x, y).0);
            let b = if x + 1 < w { rgb_to_yuv(img.get_pixel(x + 1, y).0) } else { a };
            let i = x as usize * 2;
            row[i] = to_u8(a[0]);
            row[i + 1] = to_u8((a[1] + b[1]) / 2.0);
            row[i + 2] = to_u8(b[0]);
            row[i + 3] = to_u8((a[2] + b[2]) / 2.0);
        }
    }
    data
}

fn astronaut() -> RgbImage {
    image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/astronaut.png")).unwrap().into_rgb8()
}

fn mean_abs_error(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| x.abs_diff(y) as u64).sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn yuyv_round_trip_of_a_photo_is_close() {
    let img = astronaut();
    let (w, h) = img.dimensions();
    let data = encode_yuyv(&img, w as usize * 2);
    let mut out = RgbImage::new(1, 1);
    yuyv_to_rgb(&data, w, h, w as usize * 2, &mut out).unwrap();
    assert_eq!(out.dimensions(), (w, h));
    let err = mean_abs_error(&img, &out);
    assert!(err <= 3.0, "mean abs error {err}");
    // Luma carries most detail: with chroma shared by two pixels, a 4:2:2 round trip of
    // the photo stays near the original, not merely near some flat colour.
    assert!(err > 0.0);
}

#[test]
fn known_colours_convert_exactly() {
    let cases: [([u8; 4], [u8; 3]); 3] = [
        ([16, 128, 16, 128], [0, 0, 0]),
        ([235, 128, 235, 128], [255, 255, 255]),
        // Mid gray: Y = 16 + 219/2.
        ([126, 128, 126, 128], [128, 128, 128]),
    ];
    for (yuyv, rgb) in cases {
        let mut out = RgbImage::new(2, 1);
        yuyv_to_rgb(&yuyv, 2, 1, 4, &mut out).unwrap();
        for p in out.pixels() {
            for c in 0..3 {
                assert!(p.0[c].abs_diff(rgb[c]) <= 1, "{yuyv:?} -> {:?}, want {rgb:?}", p.0);
            }
        }
    }
    // Saturated primaries go through the reference encoder and back within ±2.
    for rgb in [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]] {
        let img = RgbImage::from_pixel(2, 1, image::Rgb(rgb));
        let mut out = RgbImage::new(2, 1);
        yuyv_to_rgb(&encode_yuyv(&img, 4), 2, 1, 4, &mut out).unwrap();
        for p in out.pixels() {
            for c in 0..3 {
                assert!(p.0[c].abs_diff(rgb[c]) <= 2, "{rgb:?} came back as {:?}", p.0);
            }
        }
    }
    // Out-of-range input (Y = 255, strong chroma) clamps instead of wrapping.
    let mut out = RgbImage::new(2, 1);
    yuyv_to_rgb(&[255, 255, 0, 255], 2, 1, 4, &mut out).unwrap();
    // Y0 = 255: R and B overflow; Y1 = 0: G underflows (B = 1.164 * -16 + 2.017 * 127 ≈ 238).
    let (p0, p1) = (out.get_pixel(0, 0).0, out.get_pixel(1, 0).0);
    assert_eq!((p0[0], p0[2]), (255, 255), "{p0:?}");
    assert_eq!(p1[1], 0, "{p1:?}");
    assert!(p1[2].abs_diff(238) <= 1, "{p1:?}");
}

#[test]
fn padded_stride_and_odd_width_are_handled() {
    let img = image::imageops::crop_imm(&astronaut(), 100, 100, 37, 20).to_image();
    let tight = encode_yuyv(&img, 38 * 2);
    let padded = encode_yuyv(&img, 38 * 2 + 24);
    let (mut a, mut b) = (RgbImage::new(37, 20), RgbImage::new(37, 20));
    yuyv_to_rgb(&tight, 37, 20, 76, &mut a).unwrap();
    yuyv_to_rgb(&padded, 37, 20, 100, &mut b).unwrap();
    assert_eq!(a, b, "the padding must not leak into the picture");
    assert!(mean_abs_error(&img, &a) <= 4.0);
}

#[test]
fn short_or_inconsistent_buffers_are_corrupt() {
    let mut out = RgbImage::new(4, 2);
    let short = vec![128u8; 4 * 2 * 2 - 1];
    assert!(matches!(yuyv_to_rgb(&short, 4, 2, 8, &mut out), Err(SourceError::Corrupt(_))));
    // A stride shorter than a row is a bad format, not an out-of-bounds read.
    assert!(matches!(yuyv_to_rgb(&[0; 64], 4, 2, 6, &mut out), Err(SourceError::Corrupt(_))));
    assert!(matches!(yuyv_to_rgb(&[], 0, 0, 0, &mut out), Err(SourceError::Corrupt(_))));
    assert!(matches!(yuyv_to_rgb(&[0; 8], 4, 1, usize::MAX, &mut out), Err(SourceError::Corrupt(_))));
}

fn jpeg_of(img: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(img).unwrap();
    bytes
}

#[test]
fn decodes_a_jpeg_and_tolerates_zero_padding() {
    let img = astronaut();
    let mut bytes = jpeg_of(&img);
    let out = decode_jpeg(&bytes).unwrap();
    assert_eq!(out.dimensions(), img.dimensions());
    assert!(mean_abs_error(&img, &out) < 6.0);
    bytes.extend_from_slice(&[0; 100]);
    assert_eq!(decode_jpeg(&bytes).unwrap(), out);
}

#[test]
fn uvc_style_frames_without_huffman_tables_decode() {
    // Many UVC cameras send "abbreviated" MJPEG without DHT segments, relying on the
    // standard tables of the JPEG spec (which this encoder uses too).
    let img = astronaut();
    let full = jpeg_of(&img);
    let mut stripped = full[..2].to_vec();
    let mut pos = 2;
    loop {
        let (marker, len) = (full[pos + 1], u16::from_be_bytes([full[pos + 2], full[pos + 3]]) as usize);
        if marker != 0xC4 {
            stripped.extend_from_slice(&full[pos..pos + 2 + len]);
        }
        pos += 2 + len;
        if marker == 0xDA {
            break;
        }
    }
    stripped.extend_from_slice(&full[pos..]);
    assert!(stripped.len() < full.len() && !stripped.windows(2).any(|w| w == [0xFF, 0xC4]));
    assert_eq!(decode_jpeg(&stripped).unwrap(), decode_jpeg(&full).unwrap());
}

#[test]
fn files_are_read_by_content_and_truncated_jpegs_refused() {
    let dir = std::env::temp_dir().join(format!("facecam-read-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = astronaut();
    let png_named_jpg = dir.join("really-a-png.jpg");
    img.save_with_format(&png_named_jpg, ImageFormat::Png).unwrap();
    assert_eq!(read_image(&png_named_jpg).unwrap().dimensions(), img.dimensions());
    let jpg = dir.join("photo.jpg");
    img.save(&jpg).unwrap();
    let bytes = std::fs::read(&jpg).unwrap();
    assert_eq!(read_image(&jpg).unwrap().dimensions(), img.dimensions());
    let trailer = dir.join("with-trailer.jpg");
    std::fs::write(&trailer, [&bytes[..], b"appended video bytes"].concat()).unwrap();
    assert_eq!(read_image(&trailer).unwrap().dimensions(), img.dimensions());
    let cut = dir.join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_image(&cut).unwrap_err().to_string();
    assert!(err.contains("cut.jpg") && err.contains("truncated"), "{err}");
    let text = dir.join("notes.png");
    std::fs::write(&text, "not a picture").unwrap();
    let err = read_image(&text).unwrap_err().to_string();
    assert!(err.contains("notes.png") && err.contains("not a picture"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_or_broken_jpegs_are_corrupt() {
    let bytes = jpeg_of(&astronaut());
    for cut in [0, 1, 3, 100, bytes.len() / 2, bytes.len() - 1] {
        match decode_jpeg(&bytes[..cut]) {
            Err(SourceError::Corrupt(msg)) => assert!(msg.contains("JPEG"), "{msg}"),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // Well framed but with the header damaged: the decoder's error becomes Corrupt.
    let mut broken = bytes.clone();
    broken[2..40].fill(0x55);
    assert!(matches!(decode_jpeg(&broken), Err(SourceError::Corrupt(_))));
    assert!(matches!(decode_jpeg(b"\xFF\xD8\xFF\xD9"), Err(SourceError::Corrupt(_))));
}
