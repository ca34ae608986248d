//! Frame preparation shared by the trainer and the device, so both see the same pixels.

use crate::model::InputSpec;
use image::{imageops, RgbImage};

/// Resize a frame to the model input, stretching it (no letterbox), with a triangle
/// filter so large downscales do not alias.
pub fn resize_to_input(frame: &RgbImage, width: u32, height: u32) -> RgbImage {
    if frame.dimensions() == (width, height) {
        return frame.clone();
    }
    imageops::resize(frame, width, height, imageops::FilterType::Triangle)
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

/// Parse an input size written `WIDTHxHEIGHT` (both positive), as the command lines take it.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or_else(|| format!("`{s}` is not WIDTHxHEIGHT"))?;
    match (w.parse(), h.parse()) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(format!("`{s}` is not WIDTHxHEIGHT with positive numbers")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelCard, Provenance};

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
    }

    #[test]
    fn resizes_to_the_requested_size() {
        let img = RgbImage::new(64, 48);
        assert_eq!(resize_to_input(&img, 32, 20).dimensions(), (32, 20));
    }
}
