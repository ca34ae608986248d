//! From raw network outputs to face boxes: threshold, decode against the priors, clip,
//! and suppress overlaps. The device runs it on tract's outputs; the trainer runs it on
//! tch's, to draw what a checkpoint sees.

use super::{decode, nms, nms_vote, BBox, Detection, Prior, CONTAINMENT};

/// Post-processing knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectOptions {
    /// Minimum face probability.
    pub score_threshold: f32,
    /// NMS overlap above which the weaker box is dropped.
    pub nms_iou: f32,
    /// At most this many faces per frame.
    pub top_k: usize,
    /// At most this many strongest candidates enter NMS: it bounds the work on noisy
    /// frames (NMS is quadratic), since only strong candidates can survive anyway.
    pub candidates: usize,
    /// Box voting in NMS ([`nms_vote`]): each face's box is the score-weighted mean of
    /// the boxes it suppressed.
    pub vote: bool,
    /// Drop a box lying inside a better kept one by this share of its own area
    /// ([`CONTAINMENT`] by default; `None`: IoU alone decides).
    pub containment: Option<f32>,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            score_threshold: 0.6,
            nms_iou: 0.3,
            top_k: 200,
            candidates: 1000,
            vote: true,
            containment: Some(CONTAINMENT),
        }
    }
}

/// Faces in a `frame_w` x `frame_h` frame from one image's outputs: `scores` is
/// `[priors, classes]` probabilities (class 1 is "face"), `boxes` `[priors, 4]` offsets,
/// both row-major and in the order of `priors`.
pub fn detections(
    scores: &[f32],
    boxes: &[f32],
    classes: usize,
    priors: &[Prior],
    variances: [f32; 2],
    options: &DetectOptions,
    (frame_w, frame_h): (u32, u32),
) -> Vec<Detection> {
    let (sx, sy) = (frame_w as f32, frame_h as f32);
    let mut cands: Vec<Detection> = Vec::new();
    for (i, prior) in priors.iter().enumerate() {
        let score = scores[i * classes + 1];
        // A NaN score fails every comparison: refuse it explicitly, or it would pass.
        if score.is_nan() || score < options.score_threshold {
            continue;
        }
        let t = [boxes[i * 4], boxes[i * 4 + 1], boxes[i * 4 + 2], boxes[i * 4 + 3]];
        // Non-finite offsets decode to corners that clipping would turn into the frame's edges.
        if !t.iter().all(|v| v.is_finite()) {
            continue;
        }
        let b = decode(t, prior, variances);
        let clipped = BBox::new(b.x0.max(0.0), b.y0.max(0.0), b.x1.min(1.0), b.y1.min(1.0));
        if clipped.area() > 0.0 {
            cands.push(Detection { bbox: clipped.scale(sx, sy), score });
        }
    }
    if cands.len() > options.candidates {
        cands.select_nth_unstable_by(options.candidates, |a, b| b.score.total_cmp(&a.score));
        cands.truncate(options.candidates);
    }
    if options.vote {
        nms_vote(cands, options.nms_iou, options.containment, options.top_k)
    } else {
        nms(cands, options.nms_iou, options.containment, options.top_k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_scores_and_non_finite_offsets_are_no_faces() {
        let priors = [Prior { cx: 0.5, cy: 0.5, w: 0.2, h: 0.2 }; 3];
        let scores = [0.0, f32::NAN, 0.0, 0.9, 0.0, 0.95];
        let boxes = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, f32::INFINITY, 0.0, f32::NAN, 0.0];
        let options = DetectOptions { score_threshold: 0.5, ..Default::default() };
        let faces = detections(&scores, &boxes, 2, &priors, [0.1, 0.2], &options, (100, 100));
        // Prior 0: NaN score; prior 2: infinite and NaN offsets. Only prior 1 is a face.
        assert_eq!(faces.len(), 1, "{faces:?}");
        assert!((faces[0].score - 0.9).abs() < 1e-6);
        assert!(faces.iter().all(|f| f.bbox.x1 - f.bbox.x0 < 50.0), "{faces:?}");
    }

    #[test]
    fn thresholds_decodes_and_suppresses() {
        let priors = [
            Prior { cx: 0.25, cy: 0.5, w: 0.2, h: 0.2 },
            Prior { cx: 0.26, cy: 0.5, w: 0.2, h: 0.2 },
            Prior { cx: 0.75, cy: 0.5, w: 0.2, h: 0.2 },
        ];
        // Two overlapping confident priors, one weak one.
        let scores = [0.1, 0.9, 0.2, 0.8, 0.7, 0.3];
        let boxes = [0.0; 12];
        let plain = DetectOptions { score_threshold: 0.5, vote: false, ..Default::default() };
        let dets = detections(&scores, &boxes, 2, &priors, [0.1, 0.2], &plain, (200, 100));
        assert_eq!(dets.len(), 1, "{dets:?}");
        assert_eq!(dets[0].score, 0.9);
        let b = dets[0].bbox;
        assert!((b.x0 - 30.0).abs() < 1e-3 && (b.x1 - 70.0).abs() < 1e-3 && (b.y0 - 40.0).abs() < 1e-3, "{b:?}");
        // The default votes: the same face and score, its box the score-weighted mean of
        // the two priors' boxes (x0 30 and 32).
        let voted = DetectOptions { score_threshold: 0.5, ..Default::default() };
        let dets = detections(&scores, &boxes, 2, &priors, [0.1, 0.2], &voted, (200, 100));
        assert_eq!(dets.len(), 1, "{dets:?}");
        assert_eq!(dets[0].score, 0.9);
        let (b, x0) = (dets[0].bbox, (0.9 * 30.0 + 0.8 * 32.0) / 1.7);
        assert!((b.x0 - x0).abs() < 1e-3 && (b.x1 - (x0 + 40.0)).abs() < 1e-3 && (b.y0 - 40.0).abs() < 1e-3, "{b:?}");
    }
}
