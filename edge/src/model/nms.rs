//! Greedy non-maximum suppression, plain or with box voting, and containment
//! suppression: a box lying mostly inside a better kept box is dropped too.

use super::{intersection, iou, BBox, Detection};

/// The default containment threshold: a box with at least this share of its own area
/// inside a higher-scored kept box is dropped. IoU alone keeps such a box (a face's
/// inner box overlaps the whole face by about 0.25), so the camera drew two boxes on one
/// face; 0.7 still keeps a small face beside or partly behind a larger one.
pub const CONTAINMENT: f32 = 0.7;

/// Whether `inner` lies inside `outer` by at least `threshold` of its own area.
pub fn contained(inner: &BBox, outer: &BBox, threshold: f32) -> bool {
    let area = inner.area();
    area > 0.0 && intersection(inner, outer) >= threshold * area
}

/// Whether `d` is dropped beside `kept` by containment (`None`: never).
fn inside_any<'a>(d: &Detection, mut kept: impl Iterator<Item = &'a Detection>, containment: Option<f32>) -> bool {
    containment.is_some_and(|c| kept.any(|k| contained(&d.bbox, &k.bbox, c)))
}

/// Keep the highest-scoring detections, dropping any that overlaps a kept one by more
/// than `iou_threshold` or lies inside one by `containment` of its own area (see
/// [`CONTAINMENT`]; `None` turns it off); at most `top_k` survive, by descending score.
pub fn nms(mut dets: Vec<Detection>, iou_threshold: f32, containment: Option<f32>, top_k: usize) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::new();
    for d in dets {
        if keep.len() >= top_k {
            break;
        }
        if keep.iter().all(|k| iou(&k.bbox, &d.bbox) <= iou_threshold) && !inside_any(&d, keep.iter(), containment) {
            keep.push(d);
        }
    }
    keep
}

/// Greedy NMS with box voting: the same faces survive as [`nms`] keeps, each with its
/// score, but each box becomes the score-weighted mean of itself and the boxes it
/// suppressed (each suppressed box votes for the kept box it overlaps most). Neighbouring
/// priors' boxes scatter around the face, so their mean is a better box than the top one.
/// A box dropped only by containment does not vote (it is a different, smaller box).
pub fn nms_vote(
    mut dets: Vec<Detection>,
    iou_threshold: f32,
    containment: Option<f32>,
    top_k: usize,
) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Per kept face: the top box (what later boxes are compared with), the weighted sum
    // of the voters' corners, and the sum of their weights.
    let mut keep: Vec<(Detection, [f32; 4], f32)> = Vec::new();
    for d in dets {
        let best = keep
            .iter()
            .enumerate()
            .map(|(i, k)| (i, iou(&k.0.bbox, &d.bbox)))
            .filter(|&(_, o)| o > iou_threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let b = d.bbox;
        let corners = [b.x0, b.y0, b.x1, b.y1].map(|c| c * d.score);
        match best {
            Some((i, _)) => {
                let k = &mut keep[i];
                k.1.iter_mut().zip(corners).for_each(|(s, c)| *s += c);
                k.2 += d.score;
            }
            None if inside_any(&d, keep.iter().map(|k| &k.0), containment) => {}
            None if keep.len() < top_k => keep.push((d, corners, d.score)),
            None => {}
        }
    }
    keep.into_iter()
        .map(|(d, s, w)| {
            let bbox = if w > 0.0 { BBox::new(s[0] / w, s[1] / w, s[2] / w, s[3] / w) } else { d.bbox };
            Detection { bbox, score: d.score }
        })
        .collect()
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
        let out = nms(vec![det(0.0, 0.8), det(1.0, 0.9), det(50.0, 0.7)], 0.3, None, 10);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        assert_eq!(out[1].score, 0.7);
    }

    #[test]
    fn respects_top_k() {
        let out = nms(vec![det(0.0, 0.5), det(20.0, 0.6), det(40.0, 0.7)], 0.3, None, 2);
        assert_eq!(out.iter().map(|d| d.score).collect::<Vec<_>>(), vec![0.7, 0.6]);
    }

    #[test]
    fn voting_keeps_the_same_faces_and_averages_their_boxes() {
        let dets = vec![det(0.0, 0.6), det(2.0, 0.9), det(50.0, 0.7), det(4.0, 0.3)];
        let plain = nms(dets.clone(), 0.3, None, 10);
        let voted = nms_vote(dets, 0.3, None, 10);
        assert_eq!(
            voted.iter().map(|d| d.score).collect::<Vec<_>>(),
            plain.iter().map(|d| d.score).collect::<Vec<_>>()
        );
        // (0.6 * 0 + 0.9 * 2 + 0.3 * 4) / 1.8 = 1.667
        assert!((voted[0].bbox.x0 - 3.0 / 1.8).abs() < 1e-5, "{:?}", voted[0].bbox);
        assert!((voted[0].bbox.x1 - (10.0 + 3.0 / 1.8)).abs() < 1e-5);
        assert_eq!(voted[1].bbox, plain[1].bbox);
        assert_eq!(nms_vote(vec![det(0.0, 0.5), det(20.0, 0.6), det(40.0, 0.7)], 0.3, None, 2).len(), 2);
    }

    #[test]
    fn containment_drops_a_box_inside_a_better_one_only() {
        let face = Detection { bbox: BBox::new(0.0, 0.0, 100.0, 100.0), score: 0.99 };
        // Its inner box: IoU 0.25 passes plain NMS at 0.3, but it lies wholly inside.
        let inner = Detection { bbox: BBox::new(25.0, 25.0, 75.0, 75.0), score: 0.8 };
        // A small face at the edge, 60% of it inside: kept.
        let edge = Detection { bbox: BBox::new(88.0, 40.0, 108.0, 60.0), score: 0.7 };
        // A bigger, weaker box around the face: not inside it, and IoU 0.25: kept.
        let outer = Detection { bbox: BBox::new(-50.0, -50.0, 150.0, 150.0), score: 0.6 };
        let dets = vec![inner, face, edge, outer];
        for off in [nms(dets.clone(), 0.3, None, 10), nms_vote(dets.clone(), 0.3, None, 10)] {
            assert_eq!(off.len(), 4, "{off:?}");
        }
        for on in [nms(dets.clone(), 0.3, Some(CONTAINMENT), 10), nms_vote(dets, 0.3, Some(CONTAINMENT), 10)] {
            assert_eq!(on.iter().map(|d| d.score).collect::<Vec<_>>(), vec![0.99, 0.7, 0.6], "{on:?}");
            // The dropped inner box did not vote: the face's box is unchanged.
            assert_eq!(on[0].bbox, face.bbox);
        }
        assert!(!contained(&BBox::new(5.0, 5.0, 5.0, 9.0), &face.bbox, CONTAINMENT), "an empty box is in nothing");
    }
}
