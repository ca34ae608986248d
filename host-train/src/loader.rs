//! From samples to training batches: decode and resize once (in parallel, cached in
//! memory), then per batch augment, normalise exactly as the device does, and match
//! faces to priors.

use crate::data::{FaceBox, Sample};
use crate::target::{match_priors, Truth};
use edge::model::{BBox, ModelCard, Prior};
use edge::preprocess::{normalize_into, resize_to_input};
use image::RgbImage;
use rand::{rngs::StdRng, Rng};
use rayon::prelude::*;
use std::path::PathBuf;
use tch::{Device, Tensor};

/// An image decoded and resized to the model input, with its boxes in input pixels.
pub struct Prepared {
    pub image: RgbImage,
    pub boxes: Vec<FaceBox>,
}

/// Decode and resize every sample to `width` x `height`. Unreadable images are
/// returned separately (path, reason) rather than failing the whole set.
pub fn prepare(samples: &[Sample], width: u32, height: u32) -> (Vec<Prepared>, Vec<(PathBuf, String)>) {
    let results: Vec<Result<Prepared, (PathBuf, String)>> = samples
        .par_iter()
        .map(|s| {
            let img = image::open(&s.image).map_err(|e| (s.image.clone(), e.to_string()))?.to_rgb8();
            let (sx, sy) = (width as f32 / img.width() as f32, height as f32 / img.height() as f32);
            let boxes = s
                .boxes
                .iter()
                .map(|b| FaceBox { x0: b.x0 * sx, y0: b.y0 * sy, x1: b.x1 * sx, y1: b.y1 * sy, ignore: b.ignore })
                .collect();
            Ok(Prepared { image: resize_to_input(&img, width, height), boxes })
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

impl BatchMaker {
    /// A batch maker for the card's input size.
    pub fn new(card: ModelCard, match_iou: f32, min_face_px: f32) -> Self {
        let priors = card.priors.priors(card.input.width, card.input.height);
        Self { card, priors, match_iou, min_face_px }
    }

    /// Build a batch; with `augment`, each image is randomly mirrored and its brightness
    /// and contrast jittered.
    pub fn make(&self, items: &[&Prepared], rng: &mut StdRng, augment: bool, device: Device) -> Batch {
        let (w, h) = (self.card.input.width, self.card.input.height);
        let plane = (w * h) as usize;
        let mut pixels = vec![0f32; items.len() * 3 * plane];
        let mut labels = Vec::with_capacity(items.len() * self.priors.len());
        let mut targets = Vec::with_capacity(items.len() * self.priors.len() * 4);
        for (item, chunk) in items.iter().zip(pixels.chunks_mut(3 * plane)) {
            let flip = augment && rng.random_bool(0.5);
            let mut img = if flip { image::imageops::flip_horizontal(&item.image) } else { item.image.clone() };
            if augment {
                jitter(&mut img, rng);
            }
            normalize_into(&img, &self.card.input, chunk);
            let truths: Vec<Truth> = item
                .boxes
                .iter()
                .map(|b| {
                    let (x0, x1) = if flip { (w as f32 - b.x1, w as f32 - b.x0) } else { (b.x0, b.x1) };
                    let small = b.width().min(b.height()) < self.min_face_px;
                    Truth {
                        bbox: BBox::new(x0 / w as f32, b.y0 / h as f32, x1 / w as f32, b.y1 / h as f32),
                        ignore: b.ignore || small,
                    }
                })
                .collect();
            let (l, t) = match_priors(&self.priors, &truths, self.match_iou, self.card.priors.variances);
            labels.extend(l);
            targets.extend(t);
        }
        let (b, p) = (items.len() as i64, self.priors.len() as i64);
        Batch {
            images: Tensor::from_slice(&pixels).view([b, 3, h as i64, w as i64]).to_device(device),
            labels: Tensor::from_slice(&labels).view([b, p]).to_device(device),
            loc_t: Tensor::from_slice(&targets).view([b, p, 4]).to_device(device),
        }
    }
}

/// Random brightness and contrast, applied in place.
fn jitter(img: &mut RgbImage, rng: &mut StdRng) {
    let contrast = rng.random_range(0.7..1.3f32);
    let brightness = rng.random_range(-32.0..32.0f32);
    for v in img.iter_mut() {
        *v = ((*v as f32 - 128.0) * contrast + 128.0 + brightness).clamp(0.0, 255.0) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::FACE;
    use edge::model::Provenance;
    use rand::SeedableRng;

    #[test]
    fn mirrored_batches_keep_faces_matched() {
        let card = ModelCard::new(64, 48, Provenance::default());
        let maker = BatchMaker::new(card, 0.35, 2.0);
        let item = Prepared {
            image: RgbImage::new(64, 48),
            boxes: vec![FaceBox { x0: 4.0, y0: 8.0, x1: 20.0, y1: 28.0, ignore: false }],
        };
        let mut rng = StdRng::seed_from_u64(0);
        for _ in 0..4 {
            let b = maker.make(&[&item, &item], &mut rng, true, Device::Cpu);
            assert_eq!(b.images.size(), vec![2, 3, 48, 64]);
            let positives = b.labels.eq(FACE).sum(tch::Kind::Int64).int64_value(&[]);
            assert!(positives >= 2, "each image keeps its face");
        }
    }
}
