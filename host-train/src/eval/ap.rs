//! Average precision on labelled photos, the precision-recall curve, and the rule that
//! picks a model card's threshold from it. The one AP implementation of the project:
//! the WIDER FACE protocol ([`super::wider`]) integrates its curve with [`voc_ap`] too.
//!
//! Each detection, strongest first, takes the best still-free face at IoU ≥ 0.5 (a hit),
//! else is a false positive, unless it lies on an ignore region (then it is neither).

use crate::data::FaceBox;
use edge::model::{iou, BBox, Detection};

/// False positives per image the card rule allows by default (strictly fewer).
pub const MAX_FP_PER_IMAGE: f64 = 0.1;

/// What one detection was, against one image's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It found a face not found before.
    Hit,
    /// It found nothing (or a face already found): a false positive.
    Miss,
    /// It lies on an ignore region: neither right nor wrong.
    Ignored,
}

/// The outcome of each detection in `dets` (in `dets`' order) against `truth`, matched
/// greedily from the highest score at IoU ≥ `threshold`.
pub fn outcomes(dets: &[Detection], truth: &[FaceBox], threshold: f32) -> Vec<Outcome> {
    let boxes: Vec<BBox> = truth.iter().map(|b| b.bbox(1.0, 1.0)).collect();
    let mut taken = vec![false; truth.len()];
    let mut order: Vec<usize> = (0..dets.len()).collect();
    order.sort_by(|&a, &b| dets[b].score.total_cmp(&dets[a].score));
    let mut out = vec![Outcome::Miss; dets.len()];
    for i in order {
        let d = &dets[i].bbox;
        let best = (0..truth.len())
            .filter(|&j| !truth[j].ignore && !taken[j])
            .map(|j| (iou(d, &boxes[j]), j))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        out[i] = match best {
            Some((o, j)) if o >= threshold => {
                taken[j] = true;
                Outcome::Hit
            }
            _ if (0..truth.len()).any(|j| truth[j].ignore && iou(d, &boxes[j]) >= threshold) => Outcome::Ignored,
            _ => Outcome::Miss,
        };
    }
    out
}

/// VOC all-point AP (VOC 2010 and later): the area under the precision envelope (each
/// precision raised to the best at any higher recall) over recall. `curve` holds
/// `(recall, precision)` points in the order the threshold falls.
pub fn voc_ap(curve: &[(f64, f64)]) -> f64 {
    let mut rec = vec![0.0];
    let mut pre = vec![0.0];
    for &(r, p) in curve {
        rec.push(r);
        pre.push(p);
    }
    rec.push(1.0);
    pre.push(0.0);
    for i in (1..pre.len()).rev() {
        pre[i - 1] = pre[i - 1].max(pre[i]);
    }
    (1..rec.len()).filter(|&i| rec[i] != rec[i - 1]).map(|i| (rec[i] - rec[i - 1]) * pre[i]).sum()
}

/// How a card's threshold is chosen from a curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// The lowest threshold with strictly fewer false positives per image than this.
    MaxFpPerImage(f64),
    /// The lowest threshold whose precision reaches this.
    Precision(f64),
}

impl Default for Rule {
    fn default() -> Self {
        Rule::MaxFpPerImage(MAX_FP_PER_IMAGE)
    }
}

impl Rule {
    /// Whether the operating point `p` meets the rule.
    pub fn accepts(&self, p: &Operating) -> bool {
        match *self {
            Rule::MaxFpPerImage(n) => p.fp_per_image < n,
            Rule::Precision(want) => p.precision >= want,
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Rule::MaxFpPerImage(n) => write!(f, "the lowest threshold with under {n} false positives per image"),
            Rule::Precision(p) => write!(f, "the lowest threshold with precision at least {p}"),
        }
    }
}

/// What a model does at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Operating {
    /// The threshold: detections scoring at least this count.
    pub threshold: f32,
    /// Fraction of the faces found.
    pub recall: f64,
    /// Fraction of the counted detections that are hits (1 when there are none).
    pub precision: f64,
    /// False positives per image.
    pub fp_per_image: f64,
}

/// Scored outcomes of a set of images, the faces they hold: everything AP, the PR curve
/// and the card rule need.
#[derive(Debug, Clone, Default)]
pub struct Curve {
    /// `(score, hit)` of every detection that counts, highest score first.
    dets: Vec<(f32, bool)>,
    /// Faces that count (not ignore regions).
    pub faces: usize,
    /// Images.
    pub images: usize,
}

impl Curve {
    /// Add one image: its detections and their labels.
    pub fn add_image(&mut self, dets: &[Detection], truth: &[FaceBox]) {
        let out = outcomes(dets, truth, 0.5);
        self.dets.extend(
            dets.iter().zip(out).filter(|(_, o)| *o != Outcome::Ignored).map(|(d, o)| (d.score, o == Outcome::Hit)),
        );
        self.faces += truth.iter().filter(|b| !b.ignore).count();
        self.images += 1;
    }

    /// The operating points at each distinct score, highest first (tied scores enter
    /// together: a threshold cannot split them).
    pub fn points(&self) -> Vec<Operating> {
        let mut dets = self.dets.clone();
        dets.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut hits, mut misses, mut out) = (0usize, 0usize, Vec::new());
        for (i, &(score, hit)) in dets.iter().enumerate() {
            (hits, misses) = if hit { (hits + 1, misses) } else { (hits, misses + 1) };
            if dets.get(i + 1).is_some_and(|n| n.0 == score) {
                continue;
            }
            out.push(self.operating(score, hits, misses));
        }
        out
    }

    fn operating(&self, threshold: f32, hits: usize, misses: usize) -> Operating {
        Operating {
            threshold,
            recall: hits as f64 / self.faces.max(1) as f64,
            precision: if hits + misses > 0 { hits as f64 / (hits + misses) as f64 } else { 1.0 },
            fp_per_image: misses as f64 / self.images.max(1) as f64,
        }
    }

    /// `(recall, precision)` at each distinct score, highest first: the PR curve.
    pub fn pr(&self) -> Vec<(f64, f64)> {
        self.points().iter().map(|p| (p.recall, p.precision)).collect()
    }

    /// Average precision at IoU 0.5, all-point interpolated.
    pub fn ap(&self) -> f64 {
        voc_ap(&self.pr())
    }

    /// What the model does at `threshold`.
    pub fn at(&self, threshold: f32) -> Operating {
        let kept = self.dets.iter().filter(|d| d.0 >= threshold);
        let (hits, misses) = kept.fold((0, 0), |(h, m), d| if d.1 { (h + 1, m) } else { (h, m + 1) });
        self.operating(threshold, hits, misses)
    }

    /// The operating point `rule` picks; `None` when no threshold satisfies it.
    pub fn choose(&self, rule: Rule) -> Option<Operating> {
        // Lower thresholds come later: the last point that satisfies the rule.
        self.points().into_iter().rfind(|p| rule.accepts(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32) -> FaceBox {
        FaceBox { x0: x, y0: 0.0, x1: x + 10.0, y1: 10.0, ignore: false }
    }
    fn det(x: f32, score: f32) -> Detection {
        Detection { bbox: BBox::new(x, 0.0, x + 10.0, 10.0), score }
    }

    #[test]
    fn matching_counts_each_face_once_and_ignores_ignore_regions() {
        let ignore = FaceBox { ignore: true, ..face(100.0) };
        let o = outcomes(&[det(0.0, 0.8), det(1.0, 0.9), det(100.0, 0.7), det(200.0, 0.6)], &[face(0.0), ignore], 0.5);
        assert_eq!(o, [Outcome::Miss, Outcome::Hit, Outcome::Ignored, Outcome::Miss]);
    }

    #[test]
    fn ap_of_hand_made_rankings() {
        // Perfect: every face found before any false positive.
        let mut c = Curve::default();
        c.add_image(&[det(0.0, 0.9), det(20.0, 0.8), det(200.0, 0.1)], &[face(0.0), face(20.0)]);
        assert!((c.ap() - 1.0).abs() < 1e-12, "{}", c.ap());
        // Hit, miss, hit over two faces: recall 0.5 at precision 1, recall 1 at 2/3;
        // AP = 0.5 * 1 + 0.5 * 2/3.
        let mut c = Curve::default();
        c.add_image(&[det(0.0, 0.9), det(200.0, 0.8), det(20.0, 0.7)], &[face(0.0), face(20.0)]);
        assert!((c.ap() - (0.5 + 1.0 / 3.0)).abs() < 1e-12, "{}", c.ap());
        // Miss first, then one of the two faces: AP = 0.5 * 1/2 (the envelope at recall 0.5).
        let mut c = Curve::default();
        c.add_image(&[det(200.0, 0.9), det(0.0, 0.8)], &[face(0.0), face(20.0)]);
        assert!((c.ap() - 0.25).abs() < 1e-12, "{}", c.ap());
        // The envelope: miss, hit, hit over three faces; precision at recall 1/3 is 1/2,
        // raised to 2/3 by the later point: AP = 2/3 * 2/3.
        let mut c = Curve::default();
        c.add_image(&[det(200.0, 0.9), det(0.0, 0.8), det(20.0, 0.7)], &[face(0.0), face(20.0), face(40.0)]);
        assert!((c.ap() - 4.0 / 9.0).abs() < 1e-12, "{}", c.ap());
        // No detections, or no faces: AP 0.
        assert_eq!(Curve::default().ap(), 0.0);
    }

    #[test]
    fn tied_scores_enter_together() {
        let mut c = Curve::default();
        c.add_image(&[det(0.0, 0.5), det(200.0, 0.5)], &[face(0.0)]);
        let p = c.points();
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].recall, p[0].precision), (1.0, 0.5));
    }

    #[test]
    fn the_card_rule_picks_the_lowest_threshold_within_bounds() {
        // Ten images, ten faces; hits at 0.9, 0.8, 0.7, 0.6 and 0.5, false positives at
        // 0.85, 0.45 and 0.3.
        let mut c = Curve::default();
        let scores = [(0.9, true), (0.85, false), (0.8, true), (0.7, true), (0.6, true), (0.5, true), (0.45, false)];
        for (i, (s, hit)) in scores.iter().enumerate() {
            c.add_image(&[det(if *hit { 0.0 } else { 200.0 }, *s)], &[face(0.0)]);
            assert_eq!(c.images, i + 1);
        }
        c.add_image(&[det(200.0, 0.3)], &[face(0.0)]);
        (0..2).for_each(|_| c.add_image(&[], &[face(0.0)]));
        assert_eq!((c.images, c.faces), (10, 10));
        // Under 0.1 FP per image on ten images: no false positive: only 0.9 qualifies.
        assert_eq!(c.choose(Rule::default()).unwrap().threshold, 0.9);
        // Under 0.15: one false positive: down to 0.5, recall 0.5.
        let p = c.choose(Rule::MaxFpPerImage(0.15)).unwrap();
        assert_eq!(p.threshold, 0.5);
        assert!((p.recall - 0.5).abs() < 1e-12 && (p.fp_per_image - 0.1).abs() < 1e-12, "{p:?}");
        // Under 0.25: two, down to 0.45 (a third at 0.3 is 0.3 per image).
        assert_eq!(c.choose(Rule::MaxFpPerImage(0.25)).unwrap().threshold, 0.45);
        // Precision 0.75: 1 of 2 at 0.85, 5 of 6 at 0.5, 5 of 7 at 0.45: the lowest is 0.5.
        assert_eq!(c.choose(Rule::Precision(0.75)).unwrap().threshold, 0.5);
        assert_eq!(c.at(0.5), p);
        // A rule nothing meets.
        let mut bad = Curve::default();
        bad.add_image(&[det(200.0, 0.9)], &[face(0.0)]);
        assert_eq!(bad.choose(Rule::default()), None);
    }
}
