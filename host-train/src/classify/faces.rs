//! Labelled faces from samples, and the crops a classifier learns from.
//!
//! Every crop starts from the device's rule ([`crop_square`]: the face's square grown by
//! the margin, moved inside the frame). Without augmentation the pixels are exactly the
//! ones `edge::classifier` feeds the network; with it, the square is shifted, scaled,
//! rotated and flipped (sampled bilinearly at the crop's own resolution, edges
//! repeated), then resized by the same filter, and its colours jittered.

use super::ClassifyConfig;
use crate::data::Sample;
use anyhow::{bail, Result};
use edge::model::{crop_square, BBox, InputSpec};
use edge::preprocess::{normalize_into, resize_to_input};
use image::{Rgb, RgbImage};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rayon::prelude::*;
use std::path::PathBuf;

/// One labelled face: the decoded image it is in, its box there, its class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// Index of its image in [`FaceSet::images`].
    pub image: usize,
    /// Its box in that image's pixels.
    pub bbox: BBox,
    /// Index of its class in [`FaceSet::classes`].
    pub class: usize,
}

/// Decoded images and their labelled faces.
pub struct FaceSet {
    /// The file of each image, in the order of `images`.
    pub paths: Vec<PathBuf>,
    /// The decoded images.
    pub images: Vec<RgbImage>,
    /// Every labelled face kept, over all images.
    pub faces: Vec<Face>,
    /// Class names; `Face::class` indexes them.
    pub classes: Vec<String>,
}

impl FaceSet {
    /// Decode the samples (in parallel) and keep their faces with an area, not flagged
    /// ignore, whose longer side is at least `min_face_px`. The classes are `classes`
    /// when given (a face of another class is then an error naming its image), else the
    /// sorted names found. Unreadable images are errors naming the file.
    pub fn load(samples: &[Sample], classes: Option<&[String]>, min_face_px: f32) -> Result<Self> {
        let classes: Vec<String> = match classes {
            Some(c) => c.to_vec(),
            None => {
                let mut names: Vec<String> =
                    samples.iter().flat_map(|s| (0..s.boxes.len()).map(|i| s.label(i).to_string())).collect();
                names.sort();
                names.dedup();
                names
            }
        };
        let images: Vec<Result<RgbImage>> =
            samples.par_iter().map(|s| edge::source::decode::read_image(&s.image)).collect();
        let mut set = FaceSet { paths: Vec::new(), images: Vec::new(), faces: Vec::new(), classes };
        for (s, img) in samples.iter().zip(images) {
            let img = img.map_err(|e| anyhow::anyhow!("{}: {e:#}", s.image.display()))?;
            let index = set.images.len();
            for (i, b) in s.boxes.iter().enumerate() {
                if b.ignore || !b.has_area() || b.width().max(b.height()) < min_face_px {
                    continue;
                }
                let Some(class) = set.classes.iter().position(|c| c == s.label(i)) else {
                    bail!("{}: face {i} is labelled `{}`, not one of {:?}", s.image.display(), s.label(i), set.classes);
                };
                set.faces.push(Face { image: index, bbox: b.bbox(1.0, 1.0), class });
            }
            set.paths.push(s.image.clone());
            set.images.push(img);
        }
        if set.classes.len() < 2 {
            bail!("a classifier needs at least two classes; the data has {:?}", set.classes);
        }
        Ok(set)
    }

    /// Faces per class.
    pub fn counts(&self) -> Vec<usize> {
        let mut n = vec![0; self.classes.len()];
        for f in &self.faces {
            n[f.class] += 1;
        }
        n
    }

    /// "name N, name N, …" for messages.
    pub fn describe(&self) -> String {
        let counts = self.counts();
        self.classes.iter().zip(counts).map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(", ")
    }
}

/// One draw of the augmentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// Horizontal centre shift, as a fraction of the crop's side.
    pub dx: f32,
    /// Vertical shift, as a fraction of the crop's side (`dx` is the horizontal one).
    pub dy: f32,
    /// Side multiplier.
    pub scale: f32,
    /// Rotation in radians.
    pub angle: f32,
    /// Mirror the crop left to right.
    pub flip: bool,
    /// Colour multipliers (1 = unchanged).
    pub brightness: f32,
    /// Contrast multiplier (1 = unchanged).
    pub contrast: f32,
    /// Saturation multiplier (1 = unchanged).
    pub saturation: f32,
}

impl Jitter {
    /// No change: the device's crop.
    pub const NONE: Jitter = Jitter {
        dx: 0.0,
        dy: 0.0,
        scale: 1.0,
        angle: 0.0,
        flip: false,
        brightness: 1.0,
        contrast: 1.0,
        saturation: 1.0,
    };

    /// A random draw within `cfg`'s ranges.
    pub fn draw(cfg: &ClassifyConfig, rng: &mut impl Rng) -> Self {
        let mut sym = |r: f32| if r > 0.0 { rng.random_range(-r..=r) } else { 0.0 };
        Jitter {
            dx: sym(cfg.shift),
            dy: sym(cfg.shift),
            scale: 1.0 + sym(cfg.scale),
            angle: sym(cfg.rotate).to_radians(),
            flip: false,
            brightness: 1.0 + sym(cfg.colour),
            contrast: 1.0 + sym(cfg.colour),
            saturation: 1.0 + sym(cfg.colour),
        }
        .flipped(rng.random_bool(cfg.flip))
    }

    fn flipped(self, flip: bool) -> Self {
        Jitter { flip, ..self }
    }
}

/// The crop of face `b` in `img` at `side` x `side`, changed by `j`; `None` for an empty box.
pub fn crop(img: &RgbImage, b: &BBox, margin: f32, side: u32, j: &Jitter) -> Option<RgbImage> {
    let (x, y, s) = crop_square(b, margin, img.width(), img.height())?;
    let square = if j.dx == 0.0 && j.dy == 0.0 && j.scale == 1.0 && j.angle == 0.0 {
        let mut square = image::imageops::crop_imm(img, x, y, s, s).to_image();
        if j.flip {
            image::imageops::flip_horizontal_in_place(&mut square);
        }
        square
    } else {
        let s = s as f32;
        let (cx, cy) = (x as f32 + s / 2.0 + j.dx * s, y as f32 + s / 2.0 + j.dy * s);
        let side_src = s * j.scale;
        // Sampled at the source's own scale (at most 1024 px), then resized like the
        // device's crops, so the network sees the same filtering either way.
        let n = side_src.round().clamp(1.0, 1024.0) as u32;
        let (sin, cos) = j.angle.sin_cos();
        RgbImage::from_fn(n, n, |u, v| {
            let mut px = ((u as f32 + 0.5) / n as f32 - 0.5) * side_src;
            let py = ((v as f32 + 0.5) / n as f32 - 0.5) * side_src;
            if j.flip {
                px = -px;
            }
            bilinear(img, cx + cos * px - sin * py, cy + sin * px + cos * py)
        })
    };
    let mut out = resize_to_input(&square, side, side);
    recolour(&mut out, j);
    Some(out)
}

/// The pixel at continuous position `(x, y)` (pixel centres at `+0.5`), edges repeated.
fn bilinear(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (fx, fy) = (x - 0.5, y - 0.5);
    let (x0, y0) = (fx.floor(), fy.floor());
    let (ax, ay) = (fx - x0, fy - y0);
    let at = |xi: i64, yi: i64| img.get_pixel(xi.clamp(0, w - 1) as u32, yi.clamp(0, h - 1) as u32).0;
    let (x0, y0) = (x0 as i64, y0 as i64);
    let (p00, p10, p01, p11) = (at(x0, y0), at(x0 + 1, y0), at(x0, y0 + 1), at(x0 + 1, y0 + 1));
    Rgb(std::array::from_fn(|c| {
        let top = p00[c] as f32 * (1.0 - ax) + p10[c] as f32 * ax;
        let bottom = p01[c] as f32 * (1.0 - ax) + p11[c] as f32 * ax;
        (top * (1.0 - ay) + bottom * ay).round().clamp(0.0, 255.0) as u8
    }))
}

/// Brightness, contrast (around the crop's mean grey) and saturation (around each
/// pixel's grey).
fn recolour(img: &mut RgbImage, j: &Jitter) {
    if j.brightness == 1.0 && j.contrast == 1.0 && j.saturation == 1.0 {
        return;
    }
    let grey = |p: &[u8; 3]| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
    let mean = img.pixels().map(|p| grey(&p.0)).sum::<f32>() / (img.width() * img.height()).max(1) as f32;
    for p in img.pixels_mut() {
        let g = grey(&p.0);
        for c in 0..3 {
            let v = g + (p.0[c] as f32 - g) * j.saturation;
            let v = mean + (v - mean) * j.contrast;
            p.0[c] = (v * j.brightness).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// The crops of `faces` (indices into `set.faces`), normalised by `spec` into one NCHW
/// buffer, with their class indices. `augment` draws one jitter per face from a seed,
/// so a batch is the same whatever the thread count.
pub fn batch(
    set: &FaceSet,
    faces: &[usize],
    cfg: &ClassifyConfig,
    spec: &InputSpec,
    augment: Option<u64>,
) -> (Vec<f32>, Vec<i64>) {
    let side = cfg.side;
    let plane = (3 * side * side) as usize;
    let mut data = vec![0f32; faces.len() * plane];
    data.par_chunks_mut(plane).zip(faces.par_iter().enumerate()).for_each(|(out, (k, &i))| {
        let f = &set.faces[i];
        let j = match augment {
            Some(seed) => Jitter::draw(cfg, &mut StdRng::seed_from_u64(seed ^ (k as u64).wrapping_mul(0x9E37_79B9))),
            None => Jitter::NONE,
        };
        // A face with area always has a crop; a blank one keeps the batch's shape.
        let img =
            crop(&set.images[f.image], &f.bbox, cfg.margin, side, &j).unwrap_or_else(|| RgbImage::new(side, side));
        normalize_into(&img, spec, out);
    });
    (data, faces.iter().map(|&i| set.faces[i].class as i64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient() -> RgbImage {
        RgbImage::from_fn(120, 90, |x, y| Rgb([(x * 2) as u8, (y * 2) as u8, 100]))
    }

    #[test]
    fn an_unjittered_crop_is_the_devices() {
        let img = gradient();
        let b = BBox::new(30.0, 20.0, 70.0, 66.0);
        let mine = crop(&img, &b, 0.2, 32, &Jitter::NONE).unwrap();
        // What `edge::classifier::Classifier::crop` computes, step by step.
        let (x, y, s) = crop_square(&b, 0.2, 120, 90).unwrap();
        let device = resize_to_input(&image::imageops::crop_imm(&img, x, y, s, s).to_image(), 32, 32);
        assert_eq!(mine, device);
    }

    #[test]
    fn jitter_moves_and_flips_the_crop() {
        let img = gradient();
        let b = BBox::new(30.0, 20.0, 70.0, 60.0);
        let plain = crop(&img, &b, 0.0, 40, &Jitter::NONE).unwrap();
        // A zero-angle resample at scale 1 lands on the same pixels.
        let resampled = crop(&img, &b, 0.0, 40, &Jitter { scale: 1.0 + 1e-7, ..Jitter::NONE }).unwrap();
        let diff = plain.pixels().zip(resampled.pixels()).map(|(a, b)| (a.0[0] as i32 - b.0[0] as i32).abs()).max();
        assert!(diff <= Some(1), "{diff:?}");
        let flipped = crop(&img, &b, 0.0, 40, &Jitter { flip: true, ..Jitter::NONE }).unwrap();
        assert_eq!(flipped.get_pixel(0, 5), plain.get_pixel(39, 5));
        let right = crop(&img, &b, 0.0, 40, &Jitter { dx: 0.25, ..Jitter::NONE }).unwrap();
        assert!(right.get_pixel(0, 5).0[0] > plain.get_pixel(0, 5).0[0] + 10, "shifted right, so redder");
        let rotated = crop(&img, &b, 0.0, 40, &Jitter { angle: 0.5, ..Jitter::NONE }).unwrap();
        assert_ne!(rotated, plain);
    }

    #[test]
    fn faces_keep_their_classes_and_small_ones_are_left_out() {
        use crate::data::FaceBox;
        let dir = std::env::temp_dir().join(format!("facecam-faceset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.png");
        gradient().save(&path).unwrap();
        let fb = |x0, x1| FaceBox { x0, y0: 10.0, x1, y1: 40.0, ignore: false };
        let sample = Sample {
            image: path.clone(),
            boxes: vec![fb(10.0, 40.0), FaceBox { y1: 13.0, ..fb(50.0, 52.0) }, fb(60.0, 90.0)],
            labels: vec!["mask".into(), "mask".into(), "bare".into()],
        };
        let set = FaceSet::load(std::slice::from_ref(&sample), None, 6.0).unwrap();
        assert_eq!(set.classes, ["bare", "mask"]);
        assert_eq!(set.counts(), [1, 1], "the 2 px face is left out");
        let err = FaceSet::load(&[sample], Some(&["mask".into(), "x".into()]), 6.0).err().unwrap().to_string();
        assert!(err.contains("a.png") && err.contains("bare"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
