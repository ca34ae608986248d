//! From samples to training batches. Images are decoded once, in parallel, and cached in
//! memory at (up to) full resolution; each batch is then augmented, resized and
//! normalised exactly as the device does, and its faces matched to priors — per image
//! in parallel, with a seed per image so runs repeat.

use crate::augment::{augment, AugmentConfig};
use crate::data::{FaceBox, Sample};
use crate::target::{match_priors, Truth};
use edge::model::{ModelCard, Prior};
use edge::preprocess::{normalize_into, resize_to_input};
use image::RgbImage;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rayon::prelude::*;
use std::path::PathBuf;
use tch::{Device, Tensor};

/// A decoded image and its boxes, both in the cached image's pixels.
pub struct Prepared {
    pub image: RgbImage,
    pub boxes: Vec<FaceBox>,
}

/// Decode every sample, shrinking images whose long side exceeds `max_side` (boxes
/// scaled alike) to bound memory. Unreadable images are returned separately
/// (path, reason) rather than failing the whole set.
pub fn prepare(samples: &[Sample], max_side: u32) -> (Vec<Prepared>, Vec<(PathBuf, String)>) {
    let results: Vec<Result<Prepared, (PathBuf, String)>> = samples
        .par_iter()
        .map(|s| {
            let img = image::open(&s.image).map_err(|e| (s.image.clone(), e.to_string()))?.to_rgb8();
            let long = img.width().max(img.height());
            if long <= max_side {
                return Ok(Prepared { image: img, boxes: s.boxes.clone() });
            }
            let k = max_side as f32 / long as f32;
            let (w, h) =
                (((img.width() as f32 * k).round() as u32).max(1), ((img.height() as f32 * k).round() as u32).max(1));
            let boxes = s
                .boxes
                .iter()
                .map(|b| FaceBox { x0: b.x0 * k, y0: b.y0 * k, x1: b.x1 * k, y1: b.y1 * k, ..*b })
                .collect();
            Ok(Prepared { image: resize_to_input(&img, w, h), boxes })
        })
        .collect();
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for r in results {
        match r {
            Ok(p) => ok.push(p),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

/// One training batch, on the training device.
pub struct Batch {
    /// `[B, 3, H, W]` normalised images.
    pub images: Tensor,
    /// `[B, P]` prior labels.
    pub labels: Tensor,
    /// `[B, P, 4]` regression targets.
    pub loc_t: Tensor,
}

/// Turns prepared images into batches for one input size.
pub struct BatchMaker {
    pub card: ModelCard,
    pub priors: Vec<Prior>,
    /// IoU at which a prior matches a face.
    pub match_iou: f32,
    /// Faces whose shorter side is below this (input pixels) are ignore regions.
    pub min_face_px: f32,
}

/// One image ready for the network: its normalised pixels, labels and targets.
struct Item {
    pixels: Vec<f32>,
    labels: Vec<i64>,
    targets: Vec<f32>,
}

impl BatchMaker {
    /// A batch maker for the card's input size.
    pub fn new(card: ModelCard, match_iou: f32, min_face_px: f32) -> Self {
        let priors = card.priors.priors(card.input.width, card.input.height);
        Self { card, priors, match_iou, min_face_px }
    }

    /// Resize one (possibly augmented) image to the input, normalise, match its faces.
    fn item(&self, img: &RgbImage, boxes: &[FaceBox]) -> Item {
        let (w, h) = (self.card.input.width, self.card.input.height);
        let resized = resize_to_input(img, w, h);
        let mut pixels = vec![0f32; (3 * w * h) as usize];
        normalize_into(&resized, &self.card.input, &mut pixels);
        let (sx, sy) = (1.0 / img.width() as f32, 1.0 / img.height() as f32);
        let truths: Vec<Truth> = boxes
            .iter()
            .filter(|b| b.width() > 0.0 && b.height() > 0.0)
            .map(|b| {
                let small = (b.width() * sx * w as f32).min(b.height() * sy * h as f32) < self.min_face_px;
                Truth { bbox: b.bbox(sx, sy), ignore: b.ignore || small }
            })
            .collect();
        let (labels, targets) = match_priors(&self.priors, &truths, self.match_iou, self.card.priors.variances);
        Item { pixels, labels, targets }
    }

    /// Build a batch, augmenting each image with `augment` when given.
    pub fn make(
        &self,
        items: &[&Prepared],
        rng: &mut StdRng,
        augment_cfg: Option<&AugmentConfig>,
        device: Device,
    ) -> Batch {
        let seeds: Vec<u64> = items.iter().map(|_| rng.random()).collect();
        let fill = self.card.input.mean.map(|m| m.round().clamp(0.0, 255.0) as u8);
        let built: Vec<Item> = items
            .par_iter()
            .zip(seeds)
            .map(|(p, seed)| match augment_cfg {
                Some(cfg) => {
                    let (img, boxes) = augment(&p.image, &p.boxes, cfg, fill, &mut StdRng::seed_from_u64(seed));
                    self.item(&img, &boxes)
                }
                None => self.item(&p.image, &p.boxes),
            })
            .collect();
        let (w, h) = (self.card.input.width as i64, self.card.input.height as i64);
        let (b, p) = (items.len() as i64, self.priors.len() as i64);
        let pixels: Vec<f32> = built.iter().flat_map(|i| i.pixels.iter().copied()).collect();
        let labels: Vec<i64> = built.iter().flat_map(|i| i.labels.iter().copied()).collect();
        let targets: Vec<f32> = built.iter().flat_map(|i| i.targets.iter().copied()).collect();
        Batch {
            images: Tensor::from_slice(&pixels).view([b, 3, h, w]).to_device(device),
            labels: Tensor::from_slice(&labels).view([b, p]).to_device(device),
            loc_t: Tensor::from_slice(&targets).view([b, p, 4]).to_device(device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::FACE;
    use edge::model::Provenance;

    #[test]
    fn augmented_batches_keep_faces_matched_and_repeat_with_the_seed() {
        let card = ModelCard::new(64, 48, Provenance::default());
        let maker = BatchMaker::new(card, 0.35, 2.0);
        let item = Prepared {
            image: RgbImage::from_fn(128, 96, |x, y| image::Rgb([x as u8, y as u8, 0])),
            boxes: vec![FaceBox { x0: 8.0, y0: 16.0, x1: 40.0, y1: 56.0, ignore: false }],
        };
        let cfg = AugmentConfig::default();
        let make = |seed| maker.make(&[&item, &item], &mut StdRng::seed_from_u64(seed), Some(&cfg), Device::Cpu);
        for seed in 0..4 {
            let b = make(seed);
            assert_eq!(b.images.size(), vec![2, 3, 48, 64]);
            let positives = b.labels.eq(FACE).sum(tch::Kind::Int64).int64_value(&[]);
            assert!(positives >= 2, "each image keeps its face");
        }
        assert!(make(5).images.equal(&make(5).images), "same seed, same batch");
    }

    #[test]
    fn large_images_are_shrunk_with_their_boxes() {
        let dir = std::env::temp_dir().join(format!("facecam-prepare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.png");
        RgbImage::new(400, 200).save(&path).unwrap();
        let sample =
            Sample { image: path, boxes: vec![FaceBox { x0: 100.0, y0: 50.0, x1: 200.0, y1: 150.0, ignore: false }] };
        let missing = Sample { image: dir.join("missing.png"), boxes: vec![] };
        let (ok, bad) = prepare(&[sample, missing], 200);
        assert_eq!(ok[0].image.dimensions(), (200, 100));
        assert_eq!(ok[0].boxes[0].x1, 100.0);
        assert_eq!(bad.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
