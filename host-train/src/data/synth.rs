//! Synthetic faces: drawn face-like patterns (skin ellipse, eyes, brows, mouth) on
//! textured backgrounds with face-free distractor blobs, with exact boxes. For tests and
//! demos that must run without any photo collection.

use super::{write_labelme, FaceBox, Sample};
use anyhow::{Context, Result};
use image::{Rgb, RgbImage};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Images to generate.
    pub count: usize,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Face widths are drawn uniformly from this range (pixels).
    pub face_px: (u32, u32),
    /// Faces per image are drawn uniformly from `0..=max_faces`.
    pub max_faces: usize,
    /// Seed of the generator; the same seed gives the same images.
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self { count: 200, width: 320, height: 240, face_px: (20, 110), max_faces: 4, seed: 1 }
    }
}

/// Write `count` JPEG images and their labelme JSON files into `dir`; return the samples.
pub fn generate(dir: &Path, opts: &SynthOptions) -> Result<Vec<Sample>> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut samples = Vec::with_capacity(opts.count);
    for i in 0..opts.count {
        let (img, boxes) = draw_scene(&mut rng, opts);
        let path = dir.join(format!("synth_{i:05}.jpg"));
        img.save(&path).with_context(|| format!("{}: cannot write", path.display()))?;
        let sample = Sample::faces(path, boxes);
        write_labelme(&sample, opts.width, opts.height, &dir.join(format!("synth_{i:05}.json")))?;
        samples.push(sample);
    }
    Ok(samples)
}

fn rgb(rng: &mut StdRng) -> [f32; 3] {
    [rng.random_range(0.0..255.0), rng.random_range(0.0..255.0), rng.random_range(0.0..255.0)]
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: [f32; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(c.map(|v| v.clamp(0.0, 255.0) as u8)));
    }
}

/// Fill an axis-aligned ellipse with centre `(cx, cy)` and radii `(rx, ry)`.
fn ellipse(img: &mut RgbImage, cx: f32, cy: f32, rx: f32, ry: f32, c: [f32; 3]) {
    let (rx, ry) = (rx.max(0.5), ry.max(0.5));
    for y in (cy - ry).floor() as i64..=(cy + ry).ceil() as i64 {
        for x in (cx - rx).floor() as i64..=(cx + rx).ceil() as i64 {
            let (dx, dy) = ((x as f32 + 0.5 - cx) / rx, (y as f32 + 0.5 - cy) / ry);
            if dx * dx + dy * dy <= 1.0 {
                put(img, x, y, c);
            }
        }
    }
}

/// A textured background: a colour gradient, stripes and per-pixel noise.
fn background(rng: &mut StdRng, w: u32, h: u32) -> RgbImage {
    let (a, b) = (rgb(rng), rgb(rng));
    let freq = rng.random_range(0.0..0.3);
    let angle: f32 = rng.random_range(0.0..std::f32::consts::PI);
    let amp = rng.random_range(0.0..40.0);
    let noise = rng.random_range(2.0..25.0);
    RgbImage::from_fn(w, h, |x, y| {
        let t = (x as f32 / w as f32 + y as f32 / h as f32) * 0.5;
        let stripe = amp * ((x as f32 * angle.cos() + y as f32 * angle.sin()) * freq).sin();
        let n = noise * (rng.random::<f32>() - 0.5);
        Rgb([0, 1, 2].map(|k| (a[k] * (1.0 - t) + b[k] * t + stripe + n).clamp(0.0, 255.0) as u8))
    })
}

/// Draw one face filling box `b`.
fn face(img: &mut RgbImage, rng: &mut StdRng, b: &FaceBox) {
    let (w, h) = (b.width(), b.height());
    let (cx, cy) = ((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0);
    let tone = rng.random_range(0.25..1.0f32);
    let skin = [90.0 + 150.0 * tone, 55.0 + 135.0 * tone, 35.0 + 120.0 * tone];
    ellipse(img, cx, cy, w / 2.0, h / 2.0, skin);
    let dark = [rng.random_range(0.0..60.0), rng.random_range(0.0..50.0), rng.random_range(0.0..50.0)];
    let eye_y = cy - h * rng.random_range(0.08..0.16);
    let eye_dx = w * rng.random_range(0.17..0.23);
    for side in [-1.0, 1.0] {
        let ex = cx + side * eye_dx;
        ellipse(img, ex, eye_y, w * 0.1, h * 0.06, [240.0, 240.0, 235.0]);
        ellipse(img, ex, eye_y, w * 0.05, h * 0.05, dark);
        ellipse(img, ex, eye_y - h * 0.12, w * 0.12, h * 0.025, dark);
    }
    ellipse(img, cx, cy + h * 0.06, w * 0.05, h * 0.08, [skin[0] * 0.8, skin[1] * 0.75, skin[2] * 0.75]);
    let mouth = [150.0 + rng.random_range(0.0..80.0), 40.0, 50.0];
    ellipse(img, cx, cy + h * 0.27, w * rng.random_range(0.14..0.22), h * rng.random_range(0.03..0.07), mouth);
    // Hair on top, sometimes.
    if rng.random_bool(0.6) {
        let hair = [rng.random_range(0.0..120.0), rng.random_range(0.0..90.0), rng.random_range(0.0..60.0)];
        for y in (b.y0 as i64)..((b.y0 + h * 0.18) as i64) {
            for x in (b.x0 as i64)..(b.x1 as i64) {
                let (dx, dy) = ((x as f32 + 0.5 - cx) / (w / 2.0), (y as f32 + 0.5 - cy) / (h / 2.0));
                if dx * dx + dy * dy <= 1.0 {
                    put(img, x, y, hair);
                }
            }
        }
    }
}

/// One scene: background, distractor blobs, then non-overlapping faces.
fn draw_scene(rng: &mut StdRng, o: &SynthOptions) -> (RgbImage, Vec<FaceBox>) {
    let mut img = background(rng, o.width, o.height);
    for _ in 0..rng.random_range(0..5) {
        let (x, y) = (rng.random_range(0.0..o.width as f32), rng.random_range(0.0..o.height as f32));
        let r = rng.random_range(5.0..50.0);
        let c = rgb(rng);
        ellipse(&mut img, x, y, r, r * rng.random_range(0.5..1.5), c);
    }
    let mut boxes: Vec<FaceBox> = Vec::new();
    let n = rng.random_range(0..=o.max_faces);
    for _ in 0..n * 10 {
        if boxes.len() == n {
            break;
        }
        let w = rng.random_range(o.face_px.0..=o.face_px.1) as f32;
        let h = (w * rng.random_range(1.1..1.35)).round();
        if w >= o.width as f32 || h >= o.height as f32 {
            continue;
        }
        let x0 = rng.random_range(0.0..(o.width as f32 - w)).round();
        let y0 = rng.random_range(0.0..(o.height as f32 - h)).round();
        let b = FaceBox { x0, y0, x1: x0 + w, y1: y0 + h, ignore: false };
        let apart = boxes.iter().all(|o| b.x1 < o.x0 || o.x1 < b.x0 || b.y1 < o.y0 || o.y1 < b.y0);
        if apart {
            face(&mut img, rng, &b);
            boxes.push(b);
        }
    }
    (img, boxes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_scene_and_boxes_inside_the_image() {
        let o = SynthOptions::default();
        let (a, ba) = draw_scene(&mut StdRng::seed_from_u64(5), &o);
        let (b, bb) = draw_scene(&mut StdRng::seed_from_u64(5), &o);
        assert_eq!(a, b);
        assert_eq!(ba, bb);
        let mut total = 0;
        for seed in 0..20 {
            let (_, boxes) = draw_scene(&mut StdRng::seed_from_u64(seed), &o);
            total += boxes.len();
            for f in boxes {
                assert!(f.x0 >= 0.0 && f.y0 >= 0.0 && f.x1 <= 320.0 && f.y1 <= 240.0, "{f:?}");
                assert!(f.width() >= 20.0 && f.height() > f.width());
            }
        }
        assert!(total > 20, "scenes should hold faces, got {total} in 20");
    }

    #[test]
    fn faces_are_drawn_where_the_boxes_say() {
        let mut img = RgbImage::new(100, 100);
        let b = FaceBox { x0: 20.0, y0: 10.0, x1: 80.0, y1: 90.0, ignore: false };
        face(&mut img, &mut StdRng::seed_from_u64(3), &b);
        // Skin at the cheeks (r > g > b), nothing outside the box or in its corners.
        let cheek = img.get_pixel(30, 55).0;
        assert!(cheek[0] > cheek[1] && cheek[1] > cheek[2], "{cheek:?}");
        assert_eq!(img.get_pixel(21, 11).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(90, 50).0, [0, 0, 0]);
        // Dark pupils sit on the eye line, left and right of centre.
        let dark_left = (20..50).any(|x| (30..50).any(|y| img.get_pixel(x, y).0[0] < 70));
        let dark_right = (50..80).any(|x| (30..50).any(|y| img.get_pixel(x, y).0[0] < 70));
        assert!(dark_left && dark_right);
    }
}
