//! Axis-aligned boxes, their overlap, and scored detections.

use serde::{Deserialize, Serialize};

/// A box by its corners; `x0 <= x1`, `y0 <= y1`. Units are the caller's: normalised
/// `[0, 1]` image coordinates inside the codec, pixels in detector output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
}

impl BBox {
    /// A box from its corners.
    pub fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        Self { x0, y0, x1, y1 }
    }

    /// Width (never negative).
    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    /// Height (never negative).
    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    /// Area (zero for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// The box scaled by `sx` horizontally and `sy` vertically.
    pub fn scale(&self, sx: f32, sy: f32) -> Self {
        Self::new(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy)
    }

    /// Centre point.
    pub fn center(&self) -> (f32, f32) {
        ((self.x0 + self.x1) * 0.5, (self.y0 + self.y1) * 0.5)
    }
}

/// Area of the overlap of two boxes (0 when they do not overlap).
pub fn intersection(a: &BBox, b: &BBox) -> f32 {
    (a.x1.min(b.x1) - a.x0.max(b.x0)).max(0.0) * (a.y1.min(b.y1) - a.y0.max(b.y0)).max(0.0)
}

/// Intersection over union of two boxes; 0 when either is degenerate.
pub fn iou(a: &BBox, b: &BBox) -> f32 {
    let inter = intersection(a, b);
    let union = a.area() + b.area() - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// Pair the boxes of `a` with those of `b`, each used at most once, best overlap first,
/// among pairs with IoU ≥ `min_iou`: for each box of `a`, the index of its partner in
/// `b`. (Tracks with detections, labelled faces with detected ones.)
pub fn match_greedy(a: &[BBox], b: &[BBox], min_iou: f32) -> Vec<Option<usize>> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            let overlap = iou(x, y);
            if overlap >= min_iou {
                pairs.push((overlap, i, j));
            }
        }
    }
    // Stable: equal overlaps keep `a`-major order.
    pairs.sort_by(|p, q| q.0.total_cmp(&p.0));
    let (mut partner, mut used) = (vec![None; a.len()], vec![false; b.len()]);
    for (_, i, j) in pairs {
        if partner[i].is_none() && !used[j] {
            partner[i] = Some(j);
            used[j] = true;
        }
    }
    partner
}

/// A detected face: its box and its face probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The face's box (its corners are flattened into the detection when serialised).
    #[serde(flatten)]
    pub bbox: BBox,
    /// Face probability, 0 to 1.
    pub score: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_matching_takes_the_best_overlap_first_and_each_box_once() {
        let a = [BBox::new(0.0, 0.0, 10.0, 10.0), BBox::new(1.0, 0.0, 11.0, 10.0), BBox::new(50.0, 50.0, 60.0, 60.0)];
        let b = [BBox::new(1.0, 0.0, 11.0, 10.0), BBox::new(0.0, 0.0, 10.0, 10.0)];
        assert_eq!(match_greedy(&a, &b, 0.3), vec![Some(1), Some(0), None]);
        // One detection between two tracks goes to the closer; the other stays unmatched.
        assert_eq!(match_greedy(&a[..2], &b[..1], 0.3), vec![None, Some(0)]);
        assert_eq!(match_greedy(&a, &[], 0.3), vec![None; 3]);
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 2.0, 2.0);
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &BBox::new(3.0, 3.0, 4.0, 4.0)), 0.0);
        // Overlap 2x1 = 2, union 4 + 4 - 2 = 6.
        let b = BBox::new(0.0, 1.0, 2.0, 3.0);
        assert!((iou(&a, &b) - 2.0 / 6.0).abs() < 1e-6);
    }

    #[test]
    fn degenerate_boxes_have_zero_iou() {
        let z = BBox::new(1.0, 1.0, 1.0, 1.0);
        assert_eq!(iou(&z, &z), 0.0);
    }
}
