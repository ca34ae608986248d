//! From samples to training batches. Images are decoded once, in parallel, and cached in
//! memory at (up to) full resolution — or, for sets larger than memory, read from disk
//! each time a batch needs them ([`ImageSet`]); each batch is then augmented, resized and
//! normalised exactly as the device does, and its faces matched to priors — per image
//! in parallel, with a seed per image so runs repeat.

use crate::augment::{augment, AugmentConfig};
use crate::data::{FaceBox, Sample};
use crate::target::{match_priors, MatchRule, Truth};
use edge::model::{ModelCard, Prior};
use edge::preprocess::{normalize_into, resize_to_input};
use image::RgbImage;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rayon::prelude::*;
use std::borrow::Cow;
use std::path::PathBuf;
use tch::{Device, Tensor};

/// A decoded image and its boxes, both in the cached image's pixels.
#[derive(Clone)]
pub struct Prepared {
    /// The decoded image, perhaps shrunk.
    pub image: RgbImage,
    /// Its faces and ignore regions, in the image's pixels.
    pub boxes: Vec<FaceBox>,
}

/// Decode one sample, shrinking an image whose long side exceeds `max_side` (boxes
/// scaled alike) to bound memory; an unreadable image is `(path, reason)`.
pub fn load(s: &Sample, max_side: u32) -> Result<Prepared, (PathBuf, String)> {
    let img = edge::source::decode::read_image(&s.image).map_err(|e| (s.image.clone(), format!("{e:#}")))?;
    let long = img.width().max(img.height());
    if long <= max_side {
        return Ok(Prepared { image: img, boxes: s.boxes.clone() });
    }
    let k = max_side as f32 / long as f32;
    let (w, h) = (((img.width() as f32 * k).round() as u32).max(1), ((img.height() as f32 * k).round() as u32).max(1));
    let boxes =
        s.boxes.iter().map(|b| FaceBox { x0: b.x0 * k, y0: b.y0 * k, x1: b.x1 * k, y1: b.y1 * k, ..*b }).collect();
    Ok(Prepared { image: resize_to_input(&img, w, h), boxes })
}

/// Decode every sample in parallel (see [`load`]). Unreadable images are returned
/// separately (path, reason) rather than failing the whole set.
pub fn prepare(samples: &[Sample], max_side: u32) -> (Vec<Prepared>, Vec<(PathBuf, String)>) {
    let results: Vec<Result<Prepared, (PathBuf, String)>> = samples.par_iter().map(|s| load(s, max_side)).collect();
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

/// The training images: decoded once and kept in memory (fast; memory grows with the
/// set), or decoded from their files each time a batch uses them (slower; for sets
/// that do not fit).
pub enum ImageSet {
    /// Every image decoded once and kept.
    Memory(Vec<Prepared>),
    /// The samples, each decoded from its file when used.
    Disk {
        /// The samples whose image headers could be read.
        samples: Vec<Sample>,
        /// Longer side, pixels, to which larger images are shrunk when decoded.
        max_side: u32,
    },
}

impl ImageSet {
    /// Open `samples`, cached in memory or not. Unreadable images are left out and
    /// returned (path, reason); without the cache only their headers are read here.
    pub fn open(samples: &[Sample], max_side: u32, cache: bool) -> (Self, Vec<(PathBuf, String)>) {
        if cache {
            let (ok, bad) = prepare(samples, max_side);
            return (ImageSet::Memory(ok), bad);
        }
        let checked: Vec<Result<Sample, (PathBuf, String)>> = (samples.par_iter())
            .map(|s| match edge::source::decode::read_size(&s.image) {
                Ok(_) => Ok(s.clone()),
                Err(e) => Err((s.image.clone(), format!("{e:#}"))),
            })
            .collect();
        let (ok, bad): (Vec<_>, Vec<_>) = checked.into_iter().partition(Result::is_ok);
        let samples = ok.into_iter().filter_map(Result::ok).collect();
        (ImageSet::Disk { samples, max_side }, bad.into_iter().filter_map(Result::err).collect())
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        match self {
            ImageSet::Memory(v) => v.len(),
            ImageSet::Disk { samples, .. } => samples.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image `i`, borrowed from the cache or decoded now.
    pub fn get(&self, i: usize) -> anyhow::Result<Cow<'_, Prepared>> {
        match self {
            ImageSet::Memory(v) => Ok(Cow::Borrowed(&v[i])),
            ImageSet::Disk { samples, max_side } => load(&samples[i], *max_side)
                .map(Cow::Owned)
                .map_err(|(path, why)| anyhow::anyhow!("{}: cannot read training image: {why}", path.display())),
        }
    }

    /// Bytes of decoded pixels held in memory.
    pub fn cached_bytes(&self) -> usize {
        match self {
            ImageSet::Memory(v) => v.iter().map(|p| p.image.as_raw().len()).sum(),
            ImageSet::Disk { .. } => 0,
        }
    }

    /// A batch of the images at `indices` (decoded in parallel when not cached).
    pub fn batch(
        &self,
        maker: &BatchMaker,
        indices: &[usize],
        rng: &mut StdRng,
        augment_cfg: Option<&AugmentConfig>,
    ) -> anyhow::Result<HostBatch> {
        let loaded: Vec<Cow<Prepared>> = indices.par_iter().map(|&i| self.get(i)).collect::<anyhow::Result<_>>()?;
        let items: Vec<&Prepared> = loaded.iter().map(|c| c.as_ref()).collect();
        Ok(maker.make_host(&items, rng, augment_cfg))
    }
}

/// One batch in host memory, built off the training thread: row-major
/// `[B, 3, H, W]` pixels, `[B, P]` labels and `[B, P, 4]` targets.
pub struct HostBatch {
    /// `[B, 3, H, W]`: batch size, channels, input height and width.
    pub dims: [i64; 4],
    /// Priors per image, `P`.
    pub priors: i64,
    /// `[B, 3, H, W]` normalised pixels.
    pub pixels: Vec<f32>,
    /// `[B, P]` prior labels: −1 ignore, 0 background, 1 face.
    pub labels: Vec<i64>,
    /// `[B, P, 4]` encoded box offsets (zero where the prior is no face).
    pub targets: Vec<f32>,
}

impl HostBatch {
    /// The batch as tensors on `device`.
    pub fn to_device(&self, device: Device) -> Batch {
        let (b, p) = (self.dims[0], self.priors);
        Batch {
            images: Tensor::from_slice(&self.pixels).view(self.dims).to_device(device),
            labels: Tensor::from_slice(&self.labels).view([b, p]).to_device(device),
            loc_t: Tensor::from_slice(&self.targets).view([b, p, 4]).to_device(device),
        }
    }
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
    /// The model card at this input size: normalisation and prior layout.
    pub card: ModelCard,
    /// The priors of this input size, in the network's output order.
    pub priors: Vec<Prior>,
    /// How faces become positives, ignores and background.
    pub rule: MatchRule,
}

/// One image ready for the network: its normalised pixels, labels and targets.
struct Item {
    pixels: Vec<f32>,
    labels: Vec<i64>,
    targets: Vec<f32>,
}

impl BatchMaker {
    /// A batch maker for the card's input size.
    pub fn new(card: ModelCard, rule: MatchRule) -> Self {
        let priors = card.priors.priors(card.input.width, card.input.height);
        Self { card, priors, rule }
    }

    /// The faces of an image of `size` pixels in normalised input coordinates, tiny ones
    /// marked ignore (rule 2 of [`MatchRule`]); boxes without area are left out.
    pub fn truths(&self, size: (u32, u32), boxes: &[FaceBox]) -> Vec<Truth> {
        let (w, h) = (self.card.input.width as f32, self.card.input.height as f32);
        let (sx, sy) = (1.0 / size.0 as f32, 1.0 / size.1 as f32);
        boxes
            .iter()
            .filter(|b| b.has_area())
            .map(|b| {
                let small = (b.width() * sx * w).min(b.height() * sy * h) < self.rule.min_face_px;
                Truth { bbox: b.bbox(sx, sy), ignore: b.ignore || small }
            })
            .collect()
    }

    /// Prior labels and regression targets for an image of `size` pixels.
    pub fn labels(&self, size: (u32, u32), boxes: &[FaceBox]) -> (Vec<i64>, Vec<f32>) {
        match_priors(&self.priors, &self.truths(size, boxes), &self.rule, self.card.priors.variances)
    }

    /// Resize one (possibly augmented) image to the input, change its colours when
    /// `photometric` says so (probability, RNG), normalise, match its faces.
    fn item(&self, img: &RgbImage, boxes: &[FaceBox], photometric: Option<(f64, &mut StdRng)>) -> Item {
        let (w, h) = (self.card.input.width, self.card.input.height);
        let mut resized = resize_to_input(img, w, h);
        if let Some((p, rng)) = photometric.filter(|(p, _)| *p > 0.0) {
            crate::augment::photometric(&mut resized, p, rng);
        }
        let mut pixels = vec![0f32; (3 * w * h) as usize];
        normalize_into(&resized, &self.card.input, &mut pixels);
        let (labels, targets) = self.labels(img.dimensions(), boxes);
        Item { pixels, labels, targets }
    }

    /// Build a batch on `device`, augmenting each image with `augment` when given.
    pub fn make(
        &self,
        items: &[&Prepared],
        rng: &mut StdRng,
        augment_cfg: Option<&AugmentConfig>,
        device: Device,
    ) -> Batch {
        self.make_host(items, rng, augment_cfg).to_device(device)
    }

    /// Build a batch in host memory (any thread), augmenting each image with `augment`
    /// when given. Draws one seed per image from `rng`, so batches repeat with it.
    pub fn make_host(&self, items: &[&Prepared], rng: &mut StdRng, augment_cfg: Option<&AugmentConfig>) -> HostBatch {
        let seeds: Vec<u64> = items.iter().map(|_| rng.random()).collect();
        let fill = self.card.input.mean.map(|m| m.round().clamp(0.0, 255.0) as u8);
        let built: Vec<Item> = items
            .par_iter()
            .zip(seeds)
            .map(|(p, seed)| match augment_cfg {
                Some(cfg) => {
                    let mut rng = StdRng::seed_from_u64(seed);
                    let (img, boxes) = augment(&p.image, &p.boxes, cfg, fill, &mut rng);
                    self.item(&img, &boxes, Some((cfg.photometric, &mut rng)))
                }
                None => self.item(&p.image, &p.boxes, None),
            })
            .collect();
        let (w, h) = (self.card.input.width as i64, self.card.input.height as i64);
        let (b, p) = (items.len() as i64, self.priors.len() as i64);
        HostBatch {
            dims: [b, 3, h, w],
            priors: p,
            pixels: built.iter().flat_map(|i| i.pixels.iter().copied()).collect(),
            labels: built.iter().flat_map(|i| i.labels.iter().copied()).collect(),
            targets: built.iter().flat_map(|i| i.targets.iter().copied()).collect(),
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
        let maker = BatchMaker::new(card, MatchRule { min_face_px: 2.0, ..MatchRule::default() });
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
    fn cached_and_uncached_sets_make_the_same_batches() {
        let dir = std::env::temp_dir().join(format!("facecam-imageset-{}", std::process::id()));
        let opts = crate::data::SynthOptions { count: 5, width: 96, height: 72, ..Default::default() };
        let mut samples = crate::data::generate_synthetic(&dir, &opts).unwrap();
        std::fs::write(dir.join("broken.jpg"), b"not a jpeg").unwrap();
        samples.push(Sample::faces(dir.join("broken.jpg"), vec![]));
        let maker = BatchMaker::new(
            ModelCard::new(64, 48, Provenance::default()),
            MatchRule { min_face_px: 2.0, ..MatchRule::default() },
        );
        let (memory, bad_m) = ImageSet::open(&samples, 128, true);
        let (disk, bad_d) = ImageSet::open(&samples, 128, false);
        assert_eq!((memory.len(), disk.len(), bad_m.len(), bad_d.len()), (5, 5, 1, 1));
        assert!(memory.cached_bytes() >= 5 * 96 * 72 * 3 && disk.cached_bytes() == 0);
        let cfg = AugmentConfig::default();
        let a = memory.batch(&maker, &[4, 0, 2], &mut StdRng::seed_from_u64(3), Some(&cfg)).unwrap();
        let b = disk.batch(&maker, &[4, 0, 2], &mut StdRng::seed_from_u64(3), Some(&cfg)).unwrap();
        assert!(a.pixels == b.pixels && a.labels == b.labels && a.targets == b.targets);
        // A file that breaks after the start is an error naming it, not a panic.
        std::fs::write(&samples[0].image, b"truncated").unwrap();
        let err = disk.batch(&maker, &[0], &mut StdRng::seed_from_u64(3), None).err().expect("an error").to_string();
        assert!(err.contains(&samples[0].image.display().to_string()), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn large_images_are_shrunk_with_their_boxes() {
        let dir = std::env::temp_dir().join(format!("facecam-prepare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.png");
        RgbImage::new(400, 200).save(&path).unwrap();
        let sample = Sample::faces(path, vec![FaceBox { x0: 100.0, y0: 50.0, x1: 200.0, y1: 150.0, ignore: false }]);
        let missing = Sample::faces(dir.join("missing.png"), vec![]);
        let (ok, bad) = prepare(&[sample, missing], 200);
        assert_eq!(ok[0].image.dimensions(), (200, 100));
        assert_eq!(ok[0].boxes[0].x1, 100.0);
        assert_eq!(bad.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
