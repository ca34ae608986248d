//! Detection quality of an exported model, measured through the edge detector (the
//! same code the board runs): recall at IoU 0.5 and false positives per image here, AP,
//! the PR curve and the card's threshold rule in [`ap`] (run on labelled photos by
//! [`val`]), and the official WIDER FACE protocol in [`wider`] (ground truth read by [`mat`]).

pub mod ap;
pub mod mat;
pub mod run_wider;
pub mod val;
pub mod wider;

use crate::data::{FaceBox, Sample};
use anyhow::Result;
use edge::detector::Detector;
use edge::model::Detection;

/// Counts over a set of images.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Score {
    /// Images evaluated.
    pub images: usize,
    /// Faces that count (not ignore regions).
    pub faces: usize,
    /// Detections matching a face that counts at the IoU threshold, highest score first, each face once.
    pub true_pos: usize,
    /// Detections matching no such face (those on ignore regions count as neither).
    pub false_pos: usize,
}

impl Score {
    /// Fraction of faces found.
    pub fn recall(&self) -> f64 {
        self.true_pos as f64 / self.faces.max(1) as f64
    }
    /// False positives per image.
    pub fn fp_per_image(&self) -> f64 {
        self.false_pos as f64 / self.images.max(1) as f64
    }
    /// Add another image's counts.
    pub fn add(&mut self, other: Score) {
        self.images += other.images;
        self.faces += other.faces;
        self.true_pos += other.true_pos;
        self.false_pos += other.false_pos;
    }
}

/// Score one image: detections in descending score order each take the best unmatched
/// face at IoU ≥ `threshold`; one that only hits an ignore region is neither TP nor FP
/// (the matching of [`ap::outcomes`]).
pub fn score_image(dets: &[Detection], truth: &[FaceBox], threshold: f32) -> Score {
    let mut s = Score { images: 1, faces: truth.iter().filter(|b| !b.ignore).count(), ..Default::default() };
    for o in ap::outcomes(dets, truth, threshold) {
        match o {
            ap::Outcome::Hit => s.true_pos += 1,
            ap::Outcome::Miss => s.false_pos += 1,
            ap::Outcome::Ignored => {}
        }
    }
    s
}

/// Run the detector over labelled samples and score it at IoU 0.5.
pub fn evaluate(detector: &mut Detector, samples: &[Sample]) -> Result<Score> {
    let mut total = Score::default();
    for s in samples {
        let img = edge::source::decode::read_image(&s.image)?;
        let dets = detector.detect(&img)?;
        total.add(score_image(&dets, &s.boxes, 0.5));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge::model::BBox;

    fn face(x: f32, ignore: bool) -> FaceBox {
        FaceBox { x0: x, y0: 0.0, x1: x + 10.0, y1: 10.0, ignore }
    }
    fn det(x: f32, score: f32) -> Detection {
        Detection { bbox: BBox::new(x, 0.0, x + 10.0, 10.0), score }
    }

    #[test]
    fn counts_hits_misses_duplicates_and_ignores() {
        let truth = [face(0.0, false), face(50.0, false), face(100.0, true)];
        // Hit face 0, a duplicate on face 0, a stray box, a box on the ignore region.
        let dets = [det(1.0, 0.9), det(0.0, 0.8), det(200.0, 0.7), det(100.0, 0.6)];
        let s = score_image(&dets, &truth, 0.5);
        assert_eq!(s, Score { images: 1, faces: 2, true_pos: 1, false_pos: 2 });
        assert_eq!(s.recall(), 0.5);
        assert_eq!(s.fp_per_image(), 2.0);
    }
}
