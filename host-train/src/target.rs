//! Matching ground truth to priors: the trainer's side of the box codec.
//!
//! A prior is positive when its best face overlaps it by at least the match threshold,
//! and every face is forced onto its single best prior so small faces are never
//! unmatched (SSD, Liu et al. 2016). Priors that match an ignore region are neither
//! positive nor negative.

use edge::model::{encode, iou, BBox, Prior};

/// Per-prior class label: background.
pub const BACKGROUND: i64 = 0;
/// Per-prior class label: face.
pub const FACE: i64 = 1;
/// Per-prior class label: excluded from the loss.
pub const IGNORE: i64 = -1;

/// A face in normalised coordinates, possibly an ignore region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    pub bbox: BBox,
    pub ignore: bool,
}

/// Labels (`[P]`) and encoded regression targets (`[P * 4]`, zero for non-positives).
pub fn match_priors(priors: &[Prior], truths: &[Truth], threshold: f32, variances: [f32; 2]) -> (Vec<i64>, Vec<f32>) {
    let mut labels = vec![BACKGROUND; priors.len()];
    let mut targets = vec![0f32; priors.len() * 4];
    if truths.is_empty() {
        return (labels, targets);
    }
    let corners: Vec<BBox> = priors
        .iter()
        .map(|p| BBox::new(p.cx - p.w / 2.0, p.cy - p.h / 2.0, p.cx + p.w / 2.0, p.cy + p.h / 2.0))
        .collect();
    // Best truth per prior, and best prior per (non-ignore) truth.
    let mut best_truth = vec![(0f32, 0usize); priors.len()];
    let mut best_prior = vec![(-1f32, 0usize); truths.len()];
    for (pi, pc) in corners.iter().enumerate() {
        for (ti, t) in truths.iter().enumerate() {
            let o = iou(pc, &t.bbox);
            if o > best_truth[pi].0 {
                best_truth[pi] = (o, ti);
            }
            if o > best_prior[ti].0 {
                best_prior[ti] = (o, pi);
            }
        }
    }
    for (ti, &(o, pi)) in best_prior.iter().enumerate() {
        if !truths[ti].ignore && o > 0.0 {
            best_truth[pi] = (2.0, ti);
        }
    }
    for (pi, &(o, ti)) in best_truth.iter().enumerate() {
        if o < threshold {
            continue;
        }
        if truths[ti].ignore {
            labels[pi] = IGNORE;
            continue;
        }
        labels[pi] = FACE;
        targets[pi * 4..pi * 4 + 4].copy_from_slice(&encode(&truths[ti].bbox, &priors[pi], variances));
    }
    (labels, targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge::model::{decode, PriorConfig};

    fn truth(x0: f32, y0: f32, x1: f32, y1: f32, ignore: bool) -> Truth {
        Truth { bbox: BBox::new(x0, y0, x1, y1), ignore }
    }

    #[test]
    fn positives_decode_back_to_their_face() {
        let cfg = PriorConfig::default();
        let priors = cfg.priors(320, 240);
        let face = truth(0.4, 0.3, 0.55, 0.55, false);
        let (labels, targets) = match_priors(&priors, &[face], 0.35, cfg.variances);
        let pos: Vec<usize> = (0..priors.len()).filter(|&i| labels[i] == FACE).collect();
        assert!(!pos.is_empty());
        for i in pos {
            let t = [targets[i * 4], targets[i * 4 + 1], targets[i * 4 + 2], targets[i * 4 + 3]];
            let d = decode(t, &priors[i], cfg.variances);
            assert!((d.x0 - 0.4).abs() < 1e-4 && (d.y1 - 0.55).abs() < 1e-4, "{d:?}");
        }
    }

    #[test]
    fn a_tiny_face_is_forced_onto_its_best_prior() {
        let priors = PriorConfig::default().priors(320, 240);
        // 4x4 px: no prior reaches IoU 0.35, yet the face gets exactly one positive.
        let tiny = truth(0.5, 0.5, 0.5125, 0.5167, false);
        let (labels, _) = match_priors(&priors, &[tiny], 0.35, [0.1, 0.2]);
        assert_eq!(labels.iter().filter(|&&l| l == FACE).count(), 1);
    }

    #[test]
    fn ignore_regions_are_neither_positive_nor_negative() {
        let priors = PriorConfig::default().priors(320, 240);
        let (labels, _) = match_priors(&priors, &[truth(0.4, 0.3, 0.55, 0.55, true)], 0.35, [0.1, 0.2]);
        assert!(labels.contains(&IGNORE));
        assert!(!labels.contains(&FACE));
    }
}
