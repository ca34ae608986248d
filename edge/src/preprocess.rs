//! Frame preparation shared by the trainer and the device, so both see the same pixels.

use crate::model::InputSpec;
use image::RgbImage;

/// Resize a frame to the model input, stretching it (no letterbox), with a triangle
/// filter so large downscales do not alias.
///
/// The result equals `image::imageops::resize` with `FilterType::Triangle` (the filter
/// the shipped models were trained with), computed the same way — the same weights,
/// summed in the same order, vertical pass first — but on packed RGB rows with the
/// weights computed once per call, which makes it several times faster.
pub fn resize_to_input(frame: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (sw, sh) = frame.dimensions();
    if (sw, sh) == (width, height) || sw == 0 || sh == 0 || width == 0 || height == 0 {
        return if (sw, sh) == (width, height) { frame.clone() } else { RgbImage::new(width, height) };
    }
    let src = frame.as_raw();
    // Vertical pass: (sw, sh) → (sw, height), kept in f32 like the reference.
    let rows = triangle_taps(sh, height);
    let mut mid = vec![0f32; (sw * height * 3) as usize];
    let stride = (sw * 3) as usize;
    for (out_row, taps) in mid.chunks_exact_mut(stride).zip(&rows) {
        for (k, &w) in taps.weights.iter().enumerate() {
            let line = &src[(taps.first + k) * stride..][..stride];
            for (o, &v) in out_row.iter_mut().zip(line) {
                *o += v as f32 * w;
            }
        }
    }
    // Horizontal pass: (sw, height) → (width, height), rounded to the nearest level.
    let cols = triangle_taps(sw, width);
    let mut out = RgbImage::new(width, height);
    for (out_row, mid_row) in out.chunks_exact_mut((width * 3) as usize).zip(mid.chunks_exact(stride)) {
        for (px, taps) in out_row.chunks_exact_mut(3).zip(&cols) {
            let mut t = [0f32; 3];
            for (k, &w) in taps.weights.iter().enumerate() {
                let p = &mid_row[(taps.first + k) * 3..][..3];
                t[0] += p[0] * w;
                t[1] += p[1] * w;
                t[2] += p[2] * w;
            }
            for c in 0..3 {
                px[c] = t[c].clamp(0.0, 255.0).round() as u8;
            }
        }
    }
    out
}

/// The source pixels and normalised weights of one output pixel along one axis.
struct Taps {
    first: usize,
    weights: Vec<f32>,
}

/// Triangle-filter taps for resampling `src` pixels to `dst` along one axis, computed
/// exactly as `image`'s resampler does (support widened by the downscale ratio).
fn triangle_taps(src: u32, dst: u32) -> Vec<Taps> {
    let ratio = src as f32 / dst as f32;
    let sratio = if ratio < 1.0 { 1.0 } else { ratio };
    let support = sratio;
    (0..dst)
        .map(|o| {
            let centre = (o as f32 + 0.5) * ratio;
            let left = ((centre - support).floor() as i64).clamp(0, src as i64 - 1);
            let right = ((centre + support).ceil() as i64).clamp(left + 1, src as i64);
            let centre = centre - 0.5;
            let mut weights: Vec<f32> = (left..right)
                .map(|i| {
                    let x = (i as f32 - centre) / sratio;
                    if x.abs() < 1.0 {
                        1.0 - x.abs()
                    } else {
                        0.0
                    }
                })
                .collect();
            let sum: f32 = weights.iter().sum();
            weights.iter_mut().for_each(|w| *w /= sum);
            Taps { first: left as usize, weights }
        })
        .collect()
}

/// Write `image` as a normalised planar (CHW) tensor into `out`, which must hold
/// exactly `3 * width * height` values.
pub fn normalize_into(image: &RgbImage, spec: &InputSpec, out: &mut [f32]) {
    let plane = (image.width() * image.height()) as usize;
    assert_eq!(out.len(), 3 * plane, "tensor buffer does not match the image size");
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    let inv = spec.std.map(|s| 1.0 / s);
    for (i, px) in image.pixels().enumerate() {
        r[i] = (px[0] as f32 - spec.mean[0]) * inv[0];
        g[i] = (px[1] as f32 - spec.mean[1]) * inv[1];
        b[i] = (px[2] as f32 - spec.mean[2]) * inv[2];
    }
}

pub use crate::model::MAX_SIDE;

/// Parse a size written `WIDTHxHEIGHT` (each 1..=[`MAX_SIDE`]), as the command lines and
/// board profiles take it.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or_else(|| format!("`{s}` is not WIDTHxHEIGHT"))?;
    match (w.parse::<u32>(), h.parse::<u32>()) {
        (Ok(w), Ok(h)) if (1..=MAX_SIDE).contains(&w) && (1..=MAX_SIDE).contains(&h) => Ok((w, h)),
        (Ok(_), Ok(_)) => Err(format!("`{s}`: width and height must each be 1..={MAX_SIDE}")),
        _ => Err(format!("`{s}` is not WIDTHxHEIGHT with positive whole numbers")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelCard, Provenance};

    #[test]
    fn resize_matches_the_image_crates_triangle_filter() {
        let mut seed = 7u32;
        let frame = RgbImage::from_fn(640, 480, |x, y| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            image::Rgb([(x * 255 / 639) as u8, (y * 255 / 479) as u8, (seed >> 24) as u8])
        });
        for (w, h) in [(320, 240), (160, 120), (300, 200), (641, 333), (640, 481), (1, 1)] {
            let ours = resize_to_input(&frame, w, h);
            let theirs = image::imageops::resize(&frame, w, h, image::imageops::FilterType::Triangle);
            assert_eq!(ours.dimensions(), theirs.dimensions());
            let differ = ours.as_raw().iter().zip(theirs.as_raw()).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 0, "{w}x{h}: {differ} values differ");
        }
    }

    #[test]
    fn normalises_planar_rgb() {
        let spec = ModelCard::new(2, 1, Provenance::default()).input;
        let img = RgbImage::from_raw(2, 1, vec![255, 127, 0, 127, 127, 255]).unwrap();
        let mut out = vec![0.0; 6];
        normalize_into(&img, &spec, &mut out);
        assert_eq!(out, vec![1.0, 0.0, 0.0, 0.0, -127.0 / 128.0, 1.0]);
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("320x240"), Ok((320, 240)));
        assert!(parse_size("320").is_err());
        assert!(parse_size("0x240").is_err());
        assert!(parse_size("axb").is_err());
        assert!(parse_size("100000x100000").unwrap_err().contains("1..=8192"));
        assert_eq!(parse_size("8192x8192"), Ok((8192, 8192)));
    }

    #[test]
    fn resizes_to_the_requested_size() {
        let img = RgbImage::new(64, 48);
        assert_eq!(resize_to_input(&img, 32, 20).dimensions(), (32, 20));
    }
}
