//! What the trainer teaches, as a picture and as counts: augmented samples at the model
//! input, with every face and ignore region, the priors taught as faces, the priors
//! ignored, and — given a network — the background priors that hard-negative mining picks
//! (the ones the loss actually pushes toward "background"). Counts by face size show how
//! many faces are taught at all, and how many mined negatives land on labelled faces:
//! the sign of a labelling rule that teaches faces as background.

use crate::augment::{augment, AugmentConfig};
use crate::loader::{BatchMaker, Prepared};
use crate::loss::hard_negatives;
use crate::net::Net;
use crate::target::{assign, Assignment, BACKGROUND, FACE, IGNORE};
use anyhow::Result;
use edge::model::BBox;
use edge::overlay::{draw_box, ImageTarget};
use embedded_graphics::pixelcolor::Rgb888;
use image::{imageops, Rgb, RgbImage};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tch::{Device, Tensor};

/// Tiles are drawn at this multiple of the input size, so 1-pixel marks stay visible.
const ZOOM: u32 = 2;
/// Upper bounds (input pixels, shorter side) of the size classes counted.
pub const SIZE_CLASSES: [f32; 6] = [5.0, 10.0, 20.0, 40.0, 80.0, f32::INFINITY];

/// Counts for one face-size class.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SizeCounts {
    /// Labelled faces in the class (flagged-invalid ones excluded).
    pub faces: usize,
    /// Of them, taught as ignore regions (under `min_face_px`).
    pub ignored: usize,
    /// Positive priors given to the taught faces.
    pub positives: usize,
    /// Mined negatives whose centre lies inside a face of this class.
    pub mined_inside: usize,
}

/// The picture and the counts.
pub struct Teaching {
    /// Augmented samples at the model input, tiled, with faces, ignore regions and taught priors drawn.
    pub grid: RgbImage,
    /// Counts per face-size class, the bounds of [`SIZE_CLASSES`] in order.
    pub by_size: [SizeCounts; SIZE_CLASSES.len()],
    /// All mined negatives (0 without a network).
    pub mined: usize,
}

fn size_class(px: f32) -> usize {
    SIZE_CLASSES.iter().position(|&hi| px < hi).unwrap_or(SIZE_CLASSES.len() - 1)
}

/// The priors the loss's own hard-negative mining picks for one image.
fn mine(conf: &Tensor, labels: &[Assignment], neg_ratio: i64) -> Result<Vec<usize>> {
    let codes: Vec<i64> = (labels.iter())
        .map(|a| match a {
            Assignment::Background => BACKGROUND,
            Assignment::Ignore => IGNORE,
            Assignment::Face(_) => FACE,
        })
        .collect();
    let num_pos = codes.iter().filter(|&&c| c == FACE).count() as i64;
    let labels = Tensor::from_slice(&codes).view([1, -1]);
    let mask =
        hard_negatives(&conf.to_device(Device::Cpu), &labels, &Tensor::from_slice(&[num_pos]).view([1, 1]), neg_ratio);
    let mask = Vec::<bool>::try_from(mask.flatten(0, -1))?;
    Ok((0..mask.len()).filter(|&i| mask[i]).collect())
}

/// Draw `count` augmented samples (or unaugmented, with `aug` `None`) as `maker` labels
/// them; with `net`, also the negatives that mining picks under its current weights.
pub fn teach(
    samples: &[Prepared],
    maker: &BatchMaker,
    aug: Option<&AugmentConfig>,
    net: Option<&Net>,
    neg_ratio: i64,
    count: usize,
    rng: &mut StdRng,
) -> Result<Teaching> {
    let (w, h) = (maker.card.input.width, maker.card.input.height);
    let fill = maker.card.input.mean.map(|m| m.round().clamp(0.0, 255.0) as u8);
    let mut by_size = [SizeCounts::default(); SIZE_CLASSES.len()];
    let mut mined_total = 0;
    let mut tiles = Vec::new();
    for _ in 0..count {
        let p = &samples[rng.random_range(0..samples.len())];
        let mut local = StdRng::seed_from_u64(rng.random());
        let (img, boxes) = match aug {
            Some(cfg) => augment(&p.image, &p.boxes, cfg, fill, &mut local),
            None => (p.image.clone(), p.boxes.clone()),
        };
        // Only boxes with area become truths, so truth `i` is box `i` below.
        let boxes: Vec<_> = boxes.into_iter().filter(|b| b.has_area()).collect();
        let truths = maker.truths(img.dimensions(), &boxes);
        let labels = assign(&maker.priors, &truths, &maker.rule);
        let resized = edge::preprocess::resize_to_input(&img, w, h);
        let mined = match net {
            Some(net) => {
                let mut pixels = vec![0f32; (3 * w * h) as usize];
                edge::preprocess::normalize_into(&resized, &maker.card.input, &mut pixels);
                let x = Tensor::from_slice(&pixels).view([1, 3, h as i64, w as i64]);
                let (conf, _) = tch::no_grad(|| net.forward_t(&x, false));
                mine(&conf, &labels, neg_ratio)?
            }
            None => Vec::new(),
        };
        mined_total += mined.len();
        // Counts by face size (input pixels, shorter side).
        let (fw, fh) = (w as f32, h as f32);
        for (ti, t) in truths.iter().enumerate() {
            if boxes[ti].ignore {
                continue; // flagged invalid in the data, not a size question
            }
            let px = (t.bbox.width() * fw).min(t.bbox.height() * fh);
            let c = &mut by_size[size_class(px)];
            c.faces += 1;
            c.ignored += t.ignore as usize;
            c.positives += labels.iter().filter(|&&a| a == Assignment::Face(ti)).count();
            c.mined_inside += (mined.iter())
                .filter(|&&i| {
                    let pr = &maker.priors[i];
                    t.bbox.x0 <= pr.cx && pr.cx <= t.bbox.x1 && t.bbox.y0 <= pr.cy && pr.cy <= t.bbox.y1
                })
                .count();
        }
        tiles.push(draw_tile(&resized, maker, &truths, &labels, &mined));
    }
    let grid = crate::plot::tile_grid(&tiles, (count as f64).sqrt().ceil().max(1.0) as usize);
    Ok(Teaching { grid, by_size, mined: mined_total })
}

/// One tile at [`ZOOM`]x: ignored priors as grey dots at their centres, positive priors
/// as green boxes, mined negatives as red boxes, faces magenta, ignore regions yellow.
fn draw_tile(
    resized: &RgbImage,
    maker: &BatchMaker,
    truths: &[crate::target::Truth],
    labels: &[Assignment],
    mined: &[usize],
) -> RgbImage {
    let (w, h) = ((resized.width() * ZOOM) as f32, (resized.height() * ZOOM) as f32);
    let mut tile = imageops::resize(resized, w as u32, h as u32, imageops::FilterType::Nearest);
    // Dim the photo so the marks stand out.
    for px in tile.pixels_mut() {
        *px = Rgb(px.0.map(|v| (v as u16 * 3 / 5) as u8));
    }
    for (i, a) in labels.iter().enumerate() {
        if *a == Assignment::Ignore {
            let p = &maker.priors[i];
            let (x, y) = ((p.cx * w) as u32, (p.cy * h) as u32);
            if x < tile.width() && y < tile.height() {
                tile.put_pixel(x, y, Rgb([170, 170, 170]));
            }
        }
    }
    let mut target = ImageTarget(&mut tile);
    let mut draw = |b: BBox, c: Rgb888| draw_box(&mut target, &b, c, 1).expect("drawing into memory cannot fail");
    for &i in mined {
        draw(maker.priors[i].bbox().scale(w, h), Rgb888::new(255, 40, 40));
    }
    for (i, a) in labels.iter().enumerate() {
        if matches!(a, Assignment::Face(_)) {
            draw(maker.priors[i].bbox().scale(w, h), Rgb888::new(40, 230, 40));
        }
    }
    for t in truths {
        let c = if t.ignore { Rgb888::new(255, 220, 0) } else { Rgb888::new(255, 0, 255) };
        draw(t.bbox.scale(w, h), c);
    }
    tile
}

/// The counts as a table, one row per size class.
pub fn table(t: &Teaching) -> String {
    let mut out = String::from("face size (input px)  faces  ignored  positives/taught face  mined negatives inside\n");
    let mut lo = 0.0;
    for (c, hi) in t.by_size.iter().zip(SIZE_CLASSES) {
        let range = if hi.is_finite() { format!("{lo:>3}-{hi:<3}") } else { format!("{lo:>3}+   ") };
        let taught = c.faces - c.ignored;
        let per = if taught > 0 { format!("{:.2}", c.positives as f64 / taught as f64) } else { "-".into() };
        out += &format!("{range:<21} {:>5}  {:>7}  {per:>21}  {:>22}\n", c.faces, c.ignored, c.mined_inside);
        lo = hi;
    }
    if t.mined > 0 {
        let inside: usize = t.by_size.iter().map(|c| c.mined_inside).sum();
        out += &format!(
            "{inside} of {} mined negatives ({:.1}%) lie inside a labelled face\n",
            t.mined,
            100.0 * inside as f64 / t.mined as f64
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FaceBox;
    use crate::target::MatchRule;
    use edge::model::{ModelCard, Provenance};

    #[test]
    fn counts_follow_the_rule_and_mining_is_seen() {
        let maker = BatchMaker::new(ModelCard::new(160, 120, Provenance::default()), MatchRule::default());
        let face = |x: f32, s: f32| FaceBox { x0: x, y0: 20.0, x1: x + s, y1: 20.0 + s, ignore: false };
        // At 2x the input: a 4 px face (ignored), a 30 px face (taught).
        let sample = Prepared { image: RgbImage::new(320, 240), boxes: vec![face(10.0, 8.0), face(100.0, 60.0)] };
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), crate::net::NetSpec::slim(0.25, &[3, 2, 2, 3], 2));
        let t = teach(&[sample], &maker, None, Some(&net), 3, 1, &mut StdRng::seed_from_u64(1)).unwrap();
        assert_eq!((t.by_size[0].faces, t.by_size[0].ignored), (1, 1));
        assert_eq!((t.by_size[3].faces, t.by_size[3].ignored), (1, 0));
        assert!(t.by_size[3].positives >= 1);
        assert_eq!(t.mined, 3 * t.by_size[3].positives);
        assert!(t.grid.width() >= 320 && t.grid.height() >= 240, "one tile at 2x the input");
        let text = table(&t);
        assert!(text.contains("mined negatives"), "{text}");
    }
}
