//! Box-aware augmentation, applied to a full-resolution image and its face boxes before
//! the resize to the model input. Every transform keeps boxes and pixels in step.
//!
//! - SSD-style random crop (Liu et al. 2016): a crop of 30–100% of the short side, aspect
//!   0.5–2, under a minimum-overlap constraint drawn per sample; faces whose centre
//!   leaves the crop are dropped, the rest are clipped. The overlap of a face is the IoU
//!   between the face and its clipped self (the fraction of it the crop keeps).
//! - Zoom-out: the image pasted into a larger mean-coloured canvas, so faces get smaller.
//! - Horizontal flip, and photometric changes: brightness, contrast, gamma, saturation,
//!   hue and per-channel shifts.

use crate::data::FaceBox;
use image::{imageops, Rgb, RgbImage};
use rand::{rngs::StdRng, Rng};

/// How strongly to augment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Probability of trying a random crop.
    pub crop: f64,
    /// Minimum kept fraction of each surviving face; one is drawn per crop
    /// (`0` means any crop that keeps a face centre).
    pub min_overlaps: Vec<f32>,
    /// Smallest crop side, as a fraction of the image's short side.
    pub min_crop_scale: f32,
    /// Probability of zooming out.
    pub expand: f64,
    /// Largest zoom-out canvas, as a multiple of the image size.
    pub max_expand: f32,
    /// Probability of a horizontal flip.
    pub flip: f64,
    /// Probability of each photometric change.
    pub photometric: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            crop: 0.8,
            min_overlaps: vec![0.0, 0.1, 0.3, 0.5, 0.7, 0.9],
            min_crop_scale: 0.3,
            expand: 0.2,
            max_expand: 2.0,
            flip: 0.5,
            photometric: 0.5,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all (evaluation, previews of the raw data).
    pub fn none() -> Self {
        Self { crop: 0.0, min_overlaps: vec![], expand: 0.0, flip: 0.0, photometric: 0.0, ..Default::default() }
    }
}

/// Clip `b` to `rect` (x0, y0, x1, y1) and shift it into the rectangle's frame.
fn clip_to(b: &FaceBox, rect: (f32, f32, f32, f32)) -> FaceBox {
    FaceBox {
        x0: b.x0.max(rect.0) - rect.0,
        y0: b.y0.max(rect.1) - rect.1,
        x1: b.x1.min(rect.2) - rect.0,
        y1: b.y1.min(rect.3) - rect.1,
        ignore: b.ignore,
    }
}

/// Try up to 50 random crops; `None` when none satisfies the drawn constraint.
pub fn random_crop(
    img: &RgbImage,
    boxes: &[FaceBox],
    cfg: &AugmentConfig,
    rng: &mut StdRng,
) -> Option<(RgbImage, Vec<FaceBox>)> {
    if cfg.min_overlaps.is_empty() || !boxes.iter().any(|b| !b.ignore) {
        return None;
    }
    let min_overlap = cfg.min_overlaps[rng.random_range(0..cfg.min_overlaps.len())];
    let (w, h) = (img.width() as f32, img.height() as f32);
    let short = w.min(h);
    for _ in 0..50 {
        let side = rng.random_range(cfg.min_crop_scale.min(1.0)..=1.0) * short;
        let aspect: f32 = rng.random_range(0.5f32.ln()..=2f32.ln()).exp();
        let cw = (side * aspect.sqrt()).min(w).floor().max(1.0);
        let ch = (side / aspect.sqrt()).min(h).floor().max(1.0);
        let x0 = rng.random_range(0.0..=(w - cw)).floor();
        let y0 = rng.random_range(0.0..=(h - ch)).floor();
        let rect = (x0, y0, x0 + cw, y0 + ch);
        let kept: Vec<FaceBox> = boxes
            .iter()
            .filter(|b| {
                let (cx, cy) = ((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0);
                cx > rect.0 && cx < rect.2 && cy > rect.1 && cy < rect.3
            })
            .copied()
            .collect();
        if !kept.iter().any(|b| !b.ignore) {
            continue;
        }
        let clipped: Vec<FaceBox> = kept.iter().map(|b| clip_to(b, rect)).collect();
        let satisfied = kept.iter().zip(&clipped).filter(|(b, _)| !b.ignore).all(|(b, c)| {
            let area = b.width() * b.height();
            area > 0.0 && c.width() * c.height() / area >= min_overlap
        });
        if satisfied {
            let crop = imageops::crop_imm(img, x0 as u32, y0 as u32, cw as u32, ch as u32).to_image();
            return Some((crop, clipped));
        }
    }
    None
}

/// Paste the image at a random place of a canvas up to `max_expand` times larger,
/// filled with the mean colour (so it normalises to about zero).
pub fn expand(
    img: &RgbImage,
    boxes: &[FaceBox],
    max_expand: f32,
    fill: [u8; 3],
    rng: &mut StdRng,
) -> (RgbImage, Vec<FaceBox>) {
    let ratio = rng.random_range(1.0..=max_expand.max(1.0));
    let (w, h) = (img.width(), img.height());
    let (cw, ch) = ((w as f32 * ratio) as u32, (h as f32 * ratio) as u32);
    let (left, top) = (rng.random_range(0..=cw - w), rng.random_range(0..=ch - h));
    let mut canvas = RgbImage::from_pixel(cw, ch, Rgb(fill));
    imageops::replace(&mut canvas, img, left as i64, top as i64);
    let (dx, dy) = (left as f32, top as f32);
    let moved =
        boxes.iter().map(|b| FaceBox { x0: b.x0 + dx, y0: b.y0 + dy, x1: b.x1 + dx, y1: b.y1 + dy, ..*b }).collect();
    (canvas, moved)
}

/// Mirror the image and its boxes left to right.
pub fn flip(img: &RgbImage, boxes: &[FaceBox]) -> (RgbImage, Vec<FaceBox>) {
    let w = img.width() as f32;
    let flipped = boxes.iter().map(|b| FaceBox { x0: w - b.x1, x1: w - b.x0, ..*b }).collect();
    (imageops::flip_horizontal(img), flipped)
}

/// Photometric changes, each applied with probability `p`, in place.
pub fn photometric(img: &mut RgbImage, p: f64, rng: &mut StdRng) {
    let mut gain = [1.0f32; 3];
    let mut offset = [0.0f32; 3];
    if rng.random_bool(p) {
        let b = rng.random_range(-32.0..32.0);
        offset = offset.map(|o| o + b);
    }
    if rng.random_bool(p) {
        let c = rng.random_range(0.6..1.4);
        gain = gain.map(|g| g * c);
        offset = offset.map(|o| o + 128.0 * (1.0 - c));
    }
    if rng.random_bool(p) {
        for o in offset.iter_mut() {
            *o += rng.random_range(-15.0..15.0);
        }
    }
    let gamma = if rng.random_bool(p) { Some(rng.random_range(0.7f32..1.5)) } else { None };
    // Gamma by table over whole levels (a powf per channel per pixel costs more than
    // everything else here together).
    let gamma_lut: Option<Vec<f32>> = gamma.map(|g| (0..256).map(|v| 255.0 * (v as f32 / 255.0).powf(g)).collect());
    let saturation = if rng.random_bool(p) { Some(rng.random_range(0.5f32..1.5)) } else { None };
    let hue = if rng.random_bool(p) { Some(rng.random_range(-0.3f32..0.3)) } else { None };
    // Hue rotation about the grey axis (a rotation of the chroma plane).
    let hue_m = hue.map(|a| {
        let (s, c) = a.sin_cos();
        let k = (1.0 - c) / 3.0;
        let r = 3f32.sqrt().recip() * s;
        [[c + k, k - r, k + r], [k + r, c + k, k - r], [k - r, k + r, c + k]]
    });
    for px in img.pixels_mut() {
        let mut v = [0, 1, 2].map(|i| px[i] as f32 * gain[i] + offset[i]);
        if let Some(lut) = &gamma_lut {
            v = v.map(|x| lut[x.clamp(0.0, 255.0).round() as usize]);
        }
        if let Some(s) = saturation {
            let grey = 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2];
            v = v.map(|x| grey + (x - grey) * s);
        }
        if let Some(m) = &hue_m {
            v = [0, 1, 2].map(|i| m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2]);
        }
        *px = Rgb(v.map(|x| x.clamp(0.0, 255.0).round() as u8));
    }
}

/// The geometric chain for one training sample: zoom-out, crop, flip. The photometric
/// changes ([`photometric`]) come after the resize to the input, where there are a few
/// times fewer pixels to change.
pub fn augment(
    img: &RgbImage,
    boxes: &[FaceBox],
    cfg: &AugmentConfig,
    fill: [u8; 3],
    rng: &mut StdRng,
) -> (RgbImage, Vec<FaceBox>) {
    let (mut img, mut boxes) = if rng.random_bool(cfg.expand) {
        expand(img, boxes, cfg.max_expand, fill, rng)
    } else {
        (img.clone(), boxes.to_vec())
    };
    if rng.random_bool(cfg.crop) {
        if let Some((i, b)) = random_crop(&img, &boxes, cfg, rng) {
            (img, boxes) = (i, b);
        }
    }
    if rng.random_bool(cfg.flip) {
        (img, boxes) = flip(&img, &boxes);
    }
    (img, boxes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn face(x0: f32, y0: f32, x1: f32, y1: f32) -> FaceBox {
        FaceBox { x0, y0, x1, y1, ignore: false }
    }

    /// An image whose pixel at (x, y) encodes its own coordinates, so any geometric
    /// transform can be checked pixel by pixel against the boxes.
    fn coordinate_image(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([x as u8, y as u8, 7]))
    }

    #[test]
    fn random_crop_really_crops_and_moves_boxes_with_the_pixels() {
        let img = coordinate_image(200, 150);
        let boxes = vec![face(20.0, 30.0, 60.0, 80.0), face(120.0, 40.0, 170.0, 100.0)];
        let cfg = AugmentConfig { min_overlaps: vec![0.0], ..Default::default() };
        let mut rng = StdRng::seed_from_u64(3);
        let mut smaller = 0;
        for _ in 0..50 {
            let (crop, kept) = random_crop(&img, &boxes, &cfg, &mut rng).expect("a free crop always exists");
            assert!(!kept.is_empty());
            if crop.dimensions() != img.dimensions() {
                smaller += 1;
            }
            // The crop's top-left pixel tells where it came from; boxes moved by as much.
            let [ox, oy, _] = crop.get_pixel(0, 0).0;
            let (ox, oy) = (ox as f32, oy as f32);
            let rect = (ox, oy, ox + crop.width() as f32, oy + crop.height() as f32);
            for k in &kept {
                assert!(boxes.iter().any(|b| clip_to(b, rect) == *k), "{k:?} is no original box clipped to {rect:?}");
            }
        }
        assert!(smaller >= 45, "only {smaller} of 50 crops were smaller than the image");
    }

    #[test]
    fn faces_whose_centre_leaves_the_crop_are_dropped_and_overlap_is_enforced() {
        let img = coordinate_image(200, 200);
        let boxes = vec![face(10.0, 10.0, 50.0, 50.0), face(150.0, 150.0, 190.0, 190.0)];
        let cfg = AugmentConfig { min_overlaps: vec![0.9], ..Default::default() };
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..30 {
            if let Some((crop, kept)) = random_crop(&img, &boxes, &cfg, &mut rng) {
                for k in &kept {
                    assert!(k.width() * k.height() >= 0.9 * 1600.0 - 1e-3, "{k:?}");
                    let (cx, cy) = ((k.x0 + k.x1) / 2.0, (k.y0 + k.y1) / 2.0);
                    assert!(cx > 0.0 && cy > 0.0 && cx < crop.width() as f32 && cy < crop.height() as f32);
                }
            }
        }
    }

    #[test]
    fn expand_and_flip_move_boxes_with_the_pixels() {
        let mut img = RgbImage::new(40, 30);
        img.put_pixel(5, 6, Rgb([255, 0, 0]));
        let b = face(5.0, 6.0, 6.0, 7.0);
        let mut rng = StdRng::seed_from_u64(1);
        let (big, moved) = expand(&img, &[b], 2.0, [9, 9, 9], &mut rng);
        assert!(big.width() >= 40 && big.height() >= 30);
        assert_eq!(big.get_pixel(moved[0].x0 as u32, moved[0].y0 as u32).0, [255, 0, 0]);
        let (flipped, fb) = flip(&big, &moved);
        assert_eq!(flipped.get_pixel(fb[0].x0 as u32, fb[0].y0 as u32).0, [255, 0, 0]);
        assert_eq!(fb[0].width(), 1.0);
    }

    #[test]
    fn photometric_changes_colours_not_geometry() {
        let img = coordinate_image(64, 64);
        let mut out = img.clone();
        photometric(&mut out, 1.0, &mut StdRng::seed_from_u64(2));
        assert_eq!(out.dimensions(), img.dimensions());
        assert_ne!(out, img);
    }
}
