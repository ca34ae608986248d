//! JPEG decoding and YUYV conversion against independent float references and broken input.

use super::*;
use image::ImageFormat;

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

/// `jpeg` with the frame size in its SOF header set to `w`x`h`, the scan left as it is:
/// a small file claiming a huge picture.
fn with_sof_size(mut jpeg: Vec<u8>, w: u16, h: u16) -> Vec<u8> {
    let mut pos = 2;
    loop {
        let len = u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]) as usize;
        if matches!(jpeg[pos + 1], 0xC0..=0xC2) {
            jpeg[pos + 5..pos + 7].copy_from_slice(&h.to_be_bytes());
            jpeg[pos + 7..pos + 9].copy_from_slice(&w.to_be_bytes());
            return jpeg;
        }
        pos += 2 + len;
    }
}

#[test]
fn a_huge_picture_is_refused_on_its_header_before_decoding() {
    let small = jpeg_of(&RgbImage::from_pixel(16, 16, image::Rgb([90, 120, 200])));
    let huge = with_sof_size(small.clone(), 12000, 12000);
    assert!(huge.len() < 2000);
    // Refused by the size rule (its message), not by the decoder running out of data.
    match decode_jpeg(&huge) {
        Err(SourceError::Corrupt(msg)) => {
            assert!(msg.contains("12000x12000") && msg.contains("144.0 MP") && msg.contains("not decoded"), "{msg}")
        }
        other => panic!("a 12000x12000 frame: {other:?}"),
    }
    // The same rule for picture files, with the photo cap.
    let dir = std::env::temp_dir().join(format!("facecam-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("huge.jpg");
    std::fs::write(&file, &huge).unwrap();
    let err = read_image(&file).unwrap_err().to_string();
    assert!(err.contains("huge.jpg") && err.contains("12000x12000") && err.contains("67.1 MP"), "{err}");
    // 5000x4000 (20 MP) is over the frame cap but within the photo cap: as a file it is
    // decoded (the decoder fills the missing scan).
    let twenty = with_sof_size(small, 5000, 4000);
    assert!(matches!(decode_jpeg(&twenty), Err(SourceError::Corrupt(m)) if m.contains("over the cap")));
    std::fs::write(&file, &twenty).unwrap();
    assert_eq!(read_image(&file).unwrap().dimensions(), (5000, 4000));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_size_rule_names_the_size_and_the_cap() {
    assert_eq!(check_size(4096, 4096, DEFAULT_MAX_FRAME_PIXELS), Ok(()));
    let e = check_size(4097, 4096, DEFAULT_MAX_FRAME_PIXELS).unwrap_err();
    assert!(e.contains("4097x4096") && e.contains("16.8 MP") && e.contains("not decoded"), "{e}");
    assert!(check_size(0, 10, DEFAULT_MAX_FRAME_PIXELS).is_err());
    assert_eq!(max_pixels(false), DEFAULT_MAX_FRAME_PIXELS);
    assert_eq!(max_pixels(true), DEFAULT_MAX_PHOTO_PIXELS);
}

/// `jpeg` with an EXIF APP1 segment (big-endian TIFF, one IFD entry) saying
/// Orientation = `orientation`, right after SOI, as cameras write it.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend_from_slice(&1u16.to_be_bytes()); // entries
    exif.extend_from_slice(&0x0112u16.to_be_bytes()); // tag: Orientation
    exif.extend_from_slice(&3u16.to_be_bytes()); // type: SHORT
    exif.extend_from_slice(&1u32.to_be_bytes()); // count
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0, 0]); // value padding
    exif.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&(exif.len() as u16 + 2).to_be_bytes());
    app1.extend_from_slice(&exif);
    [&jpeg[..2], &app1[..], &jpeg[2..]].concat()
}

#[test]
fn photos_are_turned_as_their_exif_orientation_says() {
    // Stored 32x16: red on the left, blue on the right.
    let stored =
        RgbImage::from_fn(32, 16, |x, _| if x < 16 { image::Rgb([220, 20, 20]) } else { image::Rgb([20, 20, 220]) });
    let plain = jpeg_of(&stored);
    let dir = std::env::temp_dir().join(format!("facecam-exif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (as_stored, turned) = (dir.join("plain.jpg"), dir.join("turned.jpg"));
    std::fs::write(&as_stored, &plain).unwrap();
    std::fs::write(&turned, with_exif_orientation(&plain, 6)).unwrap();
    let upright = read_image(&turned).unwrap();
    // Orientation 6: shown turned a quarter clockwise, 16 wide and 32 tall, the stored
    // left (red) on top.
    assert_eq!(upright.dimensions(), (16, 32));
    assert_eq!(read_size(&turned).unwrap(), (16, 32));
    assert_eq!(read_size(&as_stored).unwrap(), (32, 16));
    let (top, bottom) = (upright.get_pixel(8, 4).0, upright.get_pixel(8, 28).0);
    assert!(top[0] > 150 && top[2] < 100 && bottom[2] > 150 && bottom[0] < 100, "{top:?} {bottom:?}");
    assert_eq!(upright, image::imageops::rotate90(&read_image(&as_stored).unwrap()));
    // Camera frames are used as they come.
    assert_eq!(decode_jpeg(&with_exif_orientation(&plain, 6)).unwrap().dimensions(), (32, 16));
    std::fs::remove_dir_all(&dir).unwrap();
}
