//! What the network is taught: every prior of an image is a face (with a regression
//! target), background, or ignored (left out of the loss). One rule, [`MatchRule`]:
//!
//! 1. **Positive**: the prior's best face overlaps it by IoU ≥ `iou`; and every face is
//!    forced onto its single best prior, so no face goes unmatched however small (SSD,
//!    Liu et al. 2016).
//! 2. **Tiny faces** (shorter side under `min_face_px` input pixels, after augmentation)
//!    and faces flagged invalid are *ignore regions*, never positives.
//! 3. **Near misses are ignored, not background**: a prior that is not positive but
//!    lies at least `near` inside a face or an ignore region (intersection over the
//!    prior's area), or covers at least `near` of one (intersection over the box's area)
//!    while being at most [`NEAR_SCALE_FACE`] (faces) or [`NEAR_SCALE_IGNORE`] (ignore
//!    regions) times its size, is ignored. A 5 px face reaches no prior at IoU 0.35, so
//!    under plain IoU matching it stayed background under every small prior that holds
//!    it, and hard-negative mining picked exactly those priors: the network was taught
//!    that faces are background. Priors well larger than a face stay background, so the
//!    network learns that the face is smaller than they are (else they fire as a second,
//!    larger box that NMS does not remove).
//! 4. Everything else is background.

use edge::model::{encode, intersection, iou, BBox, Prior};

/// Per-prior class label: background.
pub const BACKGROUND: i64 = 0;
/// Per-prior class label: face.
pub const FACE: i64 = 1;
/// Per-prior class label: excluded from the loss.
pub const IGNORE: i64 = -1;
/// A prior that covers a face is a near miss only while its side is at most this many
/// times the face's (sides as square roots of areas).
pub const NEAR_SCALE_FACE: f32 = 2.0;
/// The same for ignore regions (faces too small or flagged invalid).
pub const NEAR_SCALE_IGNORE: f32 = 4.0;

/// How faces become labels; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchRule {
    /// IoU at which a prior matches a face.
    pub iou: f32,
    /// Faces whose shorter side is under this many input pixels are ignore regions.
    pub min_face_px: f32,
    /// Coverage at which a non-positive prior near a face or ignore region is ignored
    /// (0 turns the rule off: plain IoU matching).
    pub near: f32,
}

impl Default for MatchRule {
    fn default() -> Self {
        Self { iou: 0.35, min_face_px: 10.0, near: 0.5 }
    }
}

/// A face in normalised coordinates, possibly an ignore region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// The face's box, normalised `[0, 1]` image coordinates.
    pub bbox: BBox,
    /// An ignore region: priors on it are neither face nor background.
    pub ignore: bool,
}

/// Whether prior box `p` is a near miss of truth `t` under coverage `near`.
fn near_miss(p: &BBox, t: &Truth, near: f32) -> bool {
    let (pa, ta) = (p.area(), t.bbox.area());
    if near <= 0.0 || pa <= 0.0 || ta <= 0.0 {
        return false;
    }
    let inter = intersection(p, &t.bbox);
    let scale = if t.ignore { NEAR_SCALE_IGNORE } else { NEAR_SCALE_FACE };
    inter >= near * pa || (inter >= near * ta && pa <= scale * scale * ta)
}

/// What one prior is taught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// Taught as background ([`BACKGROUND`]).
    Background,
    /// Left out of the loss ([`IGNORE`]).
    Ignore,
    /// A positive for truth number `.0`.
    Face(usize),
}

/// The assignment of every prior under `rule` (see the module documentation). `truths`
/// are already marked ignore where rule 2 applies.
pub fn assign(priors: &[Prior], truths: &[Truth], rule: &MatchRule) -> Vec<Assignment> {
    if truths.is_empty() {
        return vec![Assignment::Background; priors.len()];
    }
    let corners: Vec<BBox> = priors.iter().map(Prior::bbox).collect();
    // Best truth per prior, and best prior per (non-ignore) truth.
    let mut best_truth = vec![(0f32, 0usize); priors.len()];
    let mut best_prior = vec![(-1f32, 0usize); truths.len()];
    for (pi, pc) in corners.iter().enumerate() {
        for (ti, t) in truths.iter().enumerate() {
            let o = iou(pc, &t.bbox);
            if o > best_truth[pi].0 {
                best_truth[pi] = (o, ti);
            }
            if !t.ignore && o > best_prior[ti].0 {
                best_prior[ti] = (o, pi);
            }
        }
    }
    for (ti, &(o, pi)) in best_prior.iter().enumerate() {
        if !truths[ti].ignore && o > 0.0 {
            best_truth[pi] = (2.0, ti);
        }
    }
    (best_truth.iter().enumerate())
        .map(|(pi, &(o, ti))| {
            if o >= rule.iou && !truths[ti].ignore {
                Assignment::Face(ti)
            } else if o >= rule.iou || truths.iter().any(|t| near_miss(&corners[pi], t, rule.near)) {
                Assignment::Ignore
            } else {
                Assignment::Background
            }
        })
        .collect()
}

/// Labels (`[P]`) and encoded regression targets (`[P * 4]`, zero for non-positives):
/// [`assign`] in the form the loss reads.
pub fn match_priors(priors: &[Prior], truths: &[Truth], rule: &MatchRule, variances: [f32; 2]) -> (Vec<i64>, Vec<f32>) {
    let mut labels = vec![BACKGROUND; priors.len()];
    let mut targets = vec![0f32; priors.len() * 4];
    for (pi, a) in assign(priors, truths, rule).into_iter().enumerate() {
        match a {
            Assignment::Background => {}
            Assignment::Ignore => labels[pi] = IGNORE,
            Assignment::Face(ti) => {
                labels[pi] = FACE;
                targets[pi * 4..pi * 4 + 4].copy_from_slice(&encode(&truths[ti].bbox, &priors[pi], variances));
            }
        }
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

    /// A box of `w`x`h` input pixels at pixel `(x, y)` of a 320x240 input.
    fn px(x: f32, y: f32, w: f32, h: f32, ignore: bool) -> Truth {
        truth(x / 320.0, y / 240.0, (x + w) / 320.0, (y + h) / 240.0, ignore)
    }

    fn side_px(p: &Prior) -> f32 {
        p.w * 320.0
    }

    #[test]
    fn positives_decode_back_to_their_face() {
        let cfg = PriorConfig::default();
        let priors = cfg.priors(320, 240);
        let face = truth(0.4, 0.3, 0.55, 0.55, false);
        let (labels, targets) = match_priors(&priors, &[face], &MatchRule::default(), cfg.variances);
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
        let tiny = px(160.0, 120.0, 4.0, 4.0, false);
        let (labels, _) = match_priors(&priors, &[tiny], &MatchRule::default(), [0.1, 0.2]);
        assert_eq!(labels.iter().filter(|&&l| l == FACE).count(), 1);
    }

    #[test]
    fn a_tiny_ignored_face_is_ignored_by_the_small_priors_that_hold_it_and_only_those() {
        let priors = PriorConfig::default().priors(320, 240);
        // 5x6 px, under any min_face_px worth having: an ignore region.
        let tiny = px(101.0, 61.0, 5.0, 6.0, true);
        let (labels, _) = match_priors(&priors, &[tiny], &MatchRule::default(), [0.1, 0.2]);
        let holding: Vec<usize> = (0..priors.len())
            .filter(|&i| intersection(&priors[i].bbox(), &tiny.bbox) >= 0.5 * tiny.bbox.area())
            .collect();
        assert!(holding.len() > 3, "several priors hold the face");
        for &i in &holding {
            let expect =
                if side_px(&priors[i]) <= NEAR_SCALE_IGNORE * (5f32 * 6.0).sqrt() { IGNORE } else { BACKGROUND };
            assert_eq!(labels[i], expect, "prior {i} of {} px", side_px(&priors[i]));
        }
        assert!(holding.iter().any(|&i| labels[i] == IGNORE) && holding.iter().any(|&i| labels[i] == BACKGROUND));
        // Nothing else changed, and no face was invented.
        assert!(!labels.contains(&FACE));
        assert_eq!(
            labels.iter().filter(|&&l| l == IGNORE).count(),
            holding.iter().filter(|&&i| labels[i] == IGNORE).count()
        );
        // Under plain IoU matching (the old rule) every one of them was background.
        let plain = MatchRule { near: 0.0, ..MatchRule::default() };
        let (labels, _) = match_priors(&priors, &[tiny], &plain, [0.1, 0.2]);
        assert!(labels.iter().all(|&l| l == BACKGROUND));
    }

    #[test]
    fn near_misses_of_a_real_face_are_ignored_not_background() {
        let priors = PriorConfig::default().priors(320, 240);
        let face = px(100.0, 60.0, 30.0, 36.0, false);
        let (labels, _) = match_priors(&priors, &[face], &MatchRule::default(), [0.1, 0.2]);
        assert!(labels.contains(&FACE));
        for (i, p) in priors.iter().enumerate() {
            let pb = p.bbox();
            let inside = intersection(&pb, &face.bbox) >= 0.5 * pb.area();
            if labels[i] != FACE && inside {
                assert_eq!(labels[i], IGNORE, "a {} px prior inside the face", side_px(p));
            }
            if iou(&pb, &face.bbox) == 0.0 {
                assert_eq!(labels[i], BACKGROUND);
            }
            // Priors over twice the face's size that hold it stay background.
            let holds = intersection(&pb, &face.bbox) >= 0.5 * face.bbox.area();
            if holds && pb.area() > 4.0 * face.bbox.area() && labels[i] != FACE {
                assert_eq!(labels[i], BACKGROUND, "a {} px prior around a 33 px face", side_px(p));
            }
        }
    }

    #[test]
    fn priors_inside_a_crowd_region_are_ignored() {
        let priors = PriorConfig::default().priors(320, 240);
        let crowd = px(40.0, 40.0, 120.0, 80.0, true);
        let (labels, _) = match_priors(&priors, &[crowd], &MatchRule::default(), [0.1, 0.2]);
        // Every small prior centred well inside the region is ignored; far ones are not.
        for (i, p) in priors.iter().enumerate() {
            let (x, y) = (p.cx * 320.0, p.cy * 240.0);
            if side_px(p) <= 48.0 && (50.0..150.0).contains(&x) && (50.0..110.0).contains(&y) {
                assert_eq!(labels[i], IGNORE, "prior of {} px at ({x}, {y})", side_px(p));
            }
            let pb = p.bbox();
            if intersection(&pb, &crowd.bbox) == 0.0 {
                assert_eq!(labels[i], BACKGROUND);
            }
        }
        assert!(!labels.contains(&FACE));
    }
}
