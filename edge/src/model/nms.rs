//! Greedy non-maximum suppression.

use super::{iou, Detection};

/// Keep the highest-scoring detections, dropping any that overlaps a kept one by more
/// than `iou_threshold`; at most `top_k` survive, sorted by descending score.
pub fn nms(mut dets: Vec<Detection>, iou_threshold: f32, top_k: usize) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::new();
    for d in dets {
        if keep.len() >= top_k {
            break;
        }
        if keep.iter().all(|k| iou(&k.bbox, &d.bbox) <= iou_threshold) {
            keep.push(d);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BBox;

    fn det(x: f32, score: f32) -> Detection {
        Detection { bbox: BBox::new(x, 0.0, x + 10.0, 10.0), score }
    }

    #[test]
    fn suppresses_overlaps_and_keeps_separate_faces() {
        let out = nms(vec![det(0.0, 0.8), det(1.0, 0.9), det(50.0, 0.7)], 0.3, 10);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        assert_eq!(out[1].score, 0.7);
    }

    #[test]
    fn respects_top_k() {
        let out = nms(vec![det(0.0, 0.5), det(20.0, 0.6), det(40.0, 0.7)], 0.3, 2);
        assert_eq!(out.iter().map(|d| d.score).collect::<Vec<_>>(), vec![0.7, 0.6]);
    }
}
