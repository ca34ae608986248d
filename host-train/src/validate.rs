//! Validation during training: the loss on held-out images (no augmentation, the
//! network in inference mode) and a picture of what the network finds on a few of
//! them, predictions beside ground truth.

use crate::loader::{BatchMaker, Prepared};
use crate::loss::multibox_loss;
use crate::net::Net;
use anyhow::Result;
use edge::model::{detections, DetectOptions};
use edge::overlay::{draw_box, draw_detections, ImageTarget};
use embedded_graphics::pixelcolor::Rgb888;
use image::RgbImage;
use rand::{rngs::StdRng, SeedableRng};
use std::path::Path;
use tch::{Device, Kind};

/// Validation images shown in the prediction grid.
pub const SHOWN: usize = 8;

/// Mean validation loss and its parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValLoss {
    /// Mean validation loss, class and box parts together.
    pub loss: f64,
    /// Its classification part.
    pub class: f64,
    /// Its box part.
    pub boxes: f64,
}

/// Validate `net` on `images` in batches of `batch`; with `grid`, also draw the first
/// [`SHOWN`] images at the input size there: ground truth in magenta (ignore regions
/// grey), detections above `threshold` as the camera draws them (green, with scores).
pub fn validate(
    net: &Net,
    maker: &BatchMaker,
    images: &[Prepared],
    batch: usize,
    neg_ratio: i64,
    device: Device,
    grid: Option<(&Path, f32)>,
) -> Result<ValLoss> {
    // No augmentation draws from this RNG; it only feeds `make`'s per-image seeds.
    let mut rng = StdRng::seed_from_u64(0);
    let (mut sum, mut count) = ([0.0; 3], 0.0);
    let mut tiles = Vec::new();
    for chunk in images.chunks(batch.max(1)) {
        let items: Vec<&Prepared> = chunk.iter().collect();
        let b = maker.make(&items, &mut rng, None, device);
        let (conf, loc) = tch::no_grad(|| net.forward_t(&b.images, false));
        let loss = multibox_loss(&conf, &loc, &b.labels, &b.loc_t, neg_ratio);
        let (c, x) = (loss.class.double_value(&[]), loss.boxes.double_value(&[]));
        let n = chunk.len() as f64;
        sum = [sum[0] + (c + x) * n, sum[1] + c * n, sum[2] + x * n];
        count += n;
        if let Some((_, threshold)) = grid.filter(|_| tiles.len() < SHOWN) {
            let scores = Vec::<f32>::try_from(conf.softmax(2, Kind::Float).to_device(Device::Cpu).flatten(0, -1))?;
            let boxes = Vec::<f32>::try_from(loc.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))?;
            for (k, p) in chunk.iter().enumerate().take(SHOWN - tiles.len()) {
                tiles.push(tile(maker, p, &scores, &boxes, k, threshold));
            }
        }
    }
    if let Some((path, _)) = grid {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        edge::atomic::write_png(path, &crate::plot::tile_grid(&tiles, 4))?;
    }
    let mean = |v: f64| v / count.max(1.0);
    Ok(ValLoss { loss: mean(sum[0]), class: mean(sum[1]), boxes: mean(sum[2]) })
}

/// Image `k` of a batch at the input size, with its truth and its detections drawn.
fn tile(maker: &BatchMaker, p: &Prepared, scores: &[f32], boxes: &[f32], k: usize, threshold: f32) -> RgbImage {
    let (w, h) = (maker.card.input.width, maker.card.input.height);
    let (classes, priors) = (maker.card.classes.len(), maker.priors.len());
    let mut img = edge::preprocess::resize_to_input(&p.image, w, h);
    let (sx, sy) = (w as f32 / p.image.width() as f32, h as f32 / p.image.height() as f32);
    let opts = DetectOptions { score_threshold: threshold, ..Default::default() };
    let s = &scores[k * priors * classes..(k + 1) * priors * classes];
    let b = &boxes[k * priors * 4..(k + 1) * priors * 4];
    let found = detections(s, b, classes, &maker.priors, maker.card.priors.variances, &opts, (w, h));
    let mut target = ImageTarget(&mut img);
    for f in &p.boxes {
        let color = if f.ignore { Rgb888::new(160, 160, 160) } else { Rgb888::new(255, 0, 255) };
        draw_box(&mut target, &f.bbox(sx, sy), color, 1).expect("drawing into memory cannot fail");
    }
    draw_detections(&mut target, &found).expect("drawing into memory cannot fail");
    img
}
