//! The WIDER FACE evaluation protocol (Yang et al., CVPR 2016), as its official
//! evaluation code defines it:
//!
//! - scores min-max normalised over the whole prediction set;
//! - per image, predictions in descending score order each take the ground-truth box
//!   they overlap most (IoU with the "+1 pixel" convention, against *all* faces); at
//!   IoU ≥ 0.5 a face outside the setting (easy/medium/hard) voids the prediction
//!   (ignored, neither right nor wrong), a face inside it is recalled;
//! - 1,000 score thresholds; per threshold, proposals and recalled faces summed over
//!   images; precision = recalled / proposals, recall = recalled / faces in the setting;
//! - VOC all-point AP over that curve ([`voc_ap`], shared with [`super::ap`]).
//!
//! Ground truth comes from the official `wider_face_val.mat` and
//! `wider_{easy,medium,hard}_val.mat` files.

use super::{ap::voc_ap, mat};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;

/// The three official settings.
pub const SETTINGS: [&str; 3] = ["easy", "medium", "hard"];
/// Score thresholds of the PR curve.
const THRESHOLDS: usize = 1000;
const IOU: f64 = 0.5;

/// One val image's ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct GtImage {
    /// File name without `.jpg`, as in the .mat files.
    pub name: String,
    /// Faces as `[x, y, w, h]` pixels.
    pub boxes: Vec<[f64; 4]>,
    /// Per setting, the 0-based indices of the faces that count.
    pub keep: [Vec<usize>; 3],
}

/// One event (scene class) of the val set.
#[derive(Debug, Clone, PartialEq)]
pub struct GtEvent {
    /// The event's name, e.g. `0--Parade`.
    pub name: String,
    /// Its images and their faces.
    pub images: Vec<GtImage>,
}

/// The official val ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct WiderGt {
    /// Every event, in the order of the .mat files.
    pub events: Vec<GtEvent>,
}

/// Predictions per `(event, image name)`: `[x, y, w, h, score]` in pixels.
pub type Predictions = HashMap<(String, String), Vec<[f64; 5]>>;

/// AP and PR curve of each setting.
#[derive(Debug, Clone)]
pub struct WiderResult {
    /// Average precision of each setting: easy, medium, hard.
    pub ap: [f64; 3],
    /// Per setting, `(recall, precision)` at each threshold, highest threshold first.
    pub curves: [Vec<(f64, f64)>; 3],
}

impl WiderGt {
    /// Load `wider_face_val.mat` and the three setting files from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let all = mat::read(&dir.join("wider_face_val.mat"))?;
        let field = |vars: &HashMap<String, mat::Mat>, name: &str, file: &str| -> Result<mat::Mat> {
            vars.get(name).cloned().with_context(|| format!("{file}: no variable `{name}`"))
        };
        let events = field(&all, "event_list", "wider_face_val.mat")?;
        let files = field(&all, "file_list", "wider_face_val.mat")?;
        let boxes = field(&all, "face_bbx_list", "wider_face_val.mat")?;
        let mut keeps = Vec::new();
        for s in SETTINGS {
            let file = format!("wider_{s}_val.mat");
            keeps.push(field(&mat::read(&dir.join(&file))?, "gt_list", &file)?);
        }
        let mut out = Vec::new();
        for (e, event) in events.cells()?.iter().enumerate() {
            let name = event.text().with_context(|| format!("event_list[{e}]"))?.to_string();
            let names = files.cells()?.get(e).context("file_list is shorter than event_list")?.cells()?;
            let bbs = boxes.cells()?.get(e).context("face_bbx_list is shorter than event_list")?.cells()?;
            let ks: Vec<&[mat::Mat]> = keeps
                .iter()
                .map(|k| k.cells()?.get(e).context("gt_list is shorter than event_list")?.cells())
                .collect::<Result<_>>()?;
            let mut images = Vec::new();
            for (i, img) in names.iter().enumerate() {
                let ctx = || format!("event {name}, image {i}");
                let boxes: Vec<[f64; 4]> = bbs
                    .get(i)
                    .with_context(ctx)?
                    .rows()
                    .with_context(ctx)?
                    .into_iter()
                    .map(|r| {
                        if r.len() >= 4 {
                            Ok([r[0], r[1], r[2], r[3]])
                        } else {
                            bail!("a box row has {} values", r.len())
                        }
                    })
                    .collect::<Result<_>>()
                    .with_context(ctx)?;
                let mut keep: [Vec<usize>; 3] = Default::default();
                for (s, k) in ks.iter().enumerate() {
                    keep[s] = k
                        .get(i)
                        .with_context(ctx)?
                        .numbers()
                        .with_context(ctx)?
                        .iter()
                        .map(|&v| v as usize - 1)
                        .collect();
                    if keep[s].iter().any(|&j| j >= boxes.len()) {
                        bail!("{}: {} index beyond its {} boxes", ctx(), SETTINGS[s], boxes.len());
                    }
                }
                images.push(GtImage { name: img.text().with_context(ctx)?.to_string(), boxes, keep });
            }
            out.push(GtEvent { name, images });
        }
        Ok(Self { events: out })
    }

    /// Number of images.
    pub fn image_count(&self) -> usize {
        self.events.iter().map(|e| e.images.len()).sum()
    }

    /// A fixed slice: every `stride`-th image in event order (the first always), for
    /// quick proxy measurements under the same protocol.
    pub fn every(&self, stride: usize) -> WiderGt {
        let stride = stride.max(1);
        let mut n = 0usize;
        let events = (self.events.iter())
            .map(|e| {
                let images = (e.images.iter())
                    .filter(|_| {
                        n += 1;
                        (n - 1).is_multiple_of(stride)
                    })
                    .cloned()
                    .collect();
                GtEvent { name: e.name.clone(), images }
            })
            .filter(|e: &GtEvent| !e.images.is_empty())
            .collect();
        WiderGt { events }
    }
}

/// IoU of two `[x, y, w, h]` boxes with the "+1 pixel" convention of the official code
/// (a box covers `x .. x + w` inclusive).
fn iou_plus_one(a: &[f64], b: &[f64]) -> f64 {
    let (ax2, ay2, bx2, by2) = (a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]);
    let iw = ax2.min(bx2) - a[0].max(b[0]) + 1.0;
    let ih = ay2.min(by2) - a[1].max(b[1]) + 1.0;
    if iw <= 0.0 || ih <= 0.0 {
        return 0.0;
    }
    let inter = iw * ih;
    let area = |x: &[f64], x2: f64, y2: f64| (x2 - x[0] + 1.0) * (y2 - x[1] + 1.0);
    inter / (area(a, ax2, ay2) + area(b, bx2, by2) - inter)
}

/// Per-threshold (proposals, recalled faces) of one image; `preds` sorted by descending
/// normalised score.
fn image_pr(preds: &[[f64; 5]], gt: &[[f64; 4]], counts: &[bool], pr: &mut [[f64; 2]]) {
    let mut state = vec![0i8; gt.len()]; // 0 unseen, 1 recalled, -1 voided (outside the setting)
    let mut is_proposal = vec![true; preds.len()];
    let mut recalled_after = vec![0usize; preds.len()];
    let mut recalled = 0;
    for (h, p) in preds.iter().enumerate() {
        // The first box with the largest overlap, as argmax does.
        let (mut best, mut best_i) = (f64::NEG_INFINITY, 0);
        for (i, g) in gt.iter().enumerate() {
            let o = iou_plus_one(p, g);
            if o > best {
                (best, best_i) = (o, i);
            }
        }
        if best >= IOU {
            if !counts[best_i] {
                state[best_i] = -1;
                is_proposal[h] = false;
            } else if state[best_i] == 0 {
                state[best_i] = 1;
                recalled += 1;
            }
        }
        recalled_after[h] = recalled;
    }
    let mut proposals_upto = Vec::with_capacity(preds.len());
    let mut n = 0;
    for &p in &is_proposal {
        n += p as usize;
        proposals_upto.push(n);
    }
    for (t, slot) in pr.iter_mut().enumerate() {
        let thresh = 1.0 - (t + 1) as f64 / THRESHOLDS as f64;
        let above = preds.partition_point(|p| p[4] >= thresh);
        if above > 0 {
            slot[0] += proposals_upto[above - 1] as f64;
            slot[1] += recalled_after[above - 1] as f64;
        }
    }
}

/// Evaluate predictions against the ground truth in all three settings. Images with no
/// prediction count their faces as missed.
pub fn evaluate(gt: &WiderGt, preds: &Predictions) -> WiderResult {
    let all_scores = preds.values().flatten().map(|p| p[4]);
    let (lo, hi) = all_scores.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let norm = |s: f64| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 };
    let mut ap = [0.0; 3];
    let mut curves: [Vec<(f64, f64)>; 3] = Default::default();
    for s in 0..3 {
        let mut pr = vec![[0.0f64; 2]; THRESHOLDS];
        let mut faces = 0usize;
        for event in &gt.events {
            for img in &event.images {
                faces += img.keep[s].len();
                let Some(p) = preds.get(&(event.name.clone(), img.name.clone())) else { continue };
                if img.boxes.is_empty() || p.is_empty() {
                    continue;
                }
                let mut sorted: Vec<[f64; 5]> = p.iter().map(|b| [b[0], b[1], b[2], b[3], norm(b[4])]).collect();
                sorted.sort_by(|a, b| b[4].total_cmp(&a[4]));
                let mut counts = vec![false; img.boxes.len()];
                for &k in &img.keep[s] {
                    counts[k] = true;
                }
                image_pr(&sorted, &img.boxes, &counts, &mut pr);
            }
        }
        // 0/0 (no proposal above a threshold) is taken as precision 0.
        curves[s] = pr
            .iter()
            .map(|&[props, hits]| (hits / faces.max(1) as f64, if props > 0.0 { hits / props } else { 0.0 }))
            .collect();
        ap[s] = voc_ap(&curves[s]);
    }
    WiderResult { ap, curves }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_image(boxes: Vec<[f64; 4]>, keep: Vec<usize>) -> WiderGt {
        let keep = [keep.clone(), keep.clone(), keep];
        WiderGt { events: vec![GtEvent { name: "e".into(), images: vec![GtImage { name: "i".into(), boxes, keep }] }] }
    }

    fn preds(p: Vec<[f64; 5]>) -> Predictions {
        HashMap::from([(("e".to_string(), "i".to_string()), p)])
    }

    #[test]
    fn plus_one_iou() {
        // Identical boxes: 1. Boxes [0,0,9,9] and [5,0,9,9]: 11x10 and 6x10... see below.
        assert_eq!(iou_plus_one(&[0.0, 0.0, 9.0, 9.0], &[0.0, 0.0, 9.0, 9.0]), 1.0);
        // x 0..9 and 5..14 (inclusive): overlap 5 columns of 10 rows over 15x10.
        assert!((iou_plus_one(&[0.0, 0.0, 9.0, 9.0], &[5.0, 0.0, 9.0, 9.0]) - 50.0 / 150.0).abs() < 1e-12);
    }

    #[test]
    fn perfect_predictions_score_one_and_none_score_zero() {
        let gt = one_image(vec![[0.0, 0.0, 20.0, 20.0], [50.0, 50.0, 20.0, 20.0]], vec![0, 1]);
        let r = evaluate(&gt, &preds(vec![[0.0, 0.0, 20.0, 20.0, 0.9], [50.0, 50.0, 20.0, 20.0, 0.8]]));
        assert!((r.ap[0] - 1.0).abs() < 1e-9, "{:?}", r.ap);
        let r = evaluate(&gt, &HashMap::new());
        assert_eq!(r.ap, [0.0; 3]);
    }

    #[test]
    fn a_hit_on_a_face_outside_the_setting_is_neither_right_nor_wrong() {
        // Face 1 does not count; a confident box on it must not lower precision.
        let gt = one_image(vec![[0.0, 0.0, 20.0, 20.0], [50.0, 50.0, 20.0, 20.0]], vec![0]);
        let r = evaluate(&gt, &preds(vec![[50.0, 50.0, 20.0, 20.0, 0.95], [0.0, 0.0, 20.0, 20.0, 0.9]]));
        assert!((r.ap[0] - 1.0).abs() < 1e-9, "{:?}", r.ap);
        // A false positive above the true one halves precision at full recall.
        let r = evaluate(&gt, &preds(vec![[200.0, 200.0, 20.0, 20.0, 0.95], [0.0, 0.0, 20.0, 20.0, 0.9]]));
        assert!((r.ap[0] - 0.5).abs() < 1e-9, "{:?}", r.ap);
    }
}
