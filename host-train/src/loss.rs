//! The multibox loss: smooth-L1 on matched offsets, cross-entropy on positives and the
//! hardest negatives (3:1 by default), both normalised by the number of positives; and
//! an optional Distance-IoU term on the matched boxes ([`diou_loss`]).

use crate::target::{BACKGROUND, FACE};
use tch::{Kind, Reduction, Tensor};

/// The two parts of the loss, as scalar tensors (the sum is what is optimised).
pub struct Loss {
    /// Cross-entropy on positives and mined hard negatives, over the number of positives.
    pub class: Tensor,
    /// Box regression (smooth-L1, plus the DIoU term when asked) over the number of positives.
    pub boxes: Tensor,
}

/// Hard-negative mining: per image, the `neg_ratio` x `num_pos` (at least `neg_ratio`,
/// so images without faces still contribute a few) background priors with the highest
/// background loss. `conf`: `[B, P, C]` logits; `labels`: `[B, P]`; `num_pos`: `[B, 1]`
/// positives per image. Returns a `[B, P]` mask.
pub fn hard_negatives(conf: &Tensor, labels: &Tensor, num_pos: &Tensor, neg_ratio: i64) -> Tensor {
    tch::no_grad(|| {
        let bg_loss = -conf.log_softmax(2, Kind::Float).select(2, BACKGROUND);
        let candidates = labels.eq(BACKGROUND);
        let bg_loss = bg_loss.masked_fill(&candidates.logical_not(), f64::NEG_INFINITY);
        let (_, order) = bg_loss.sort(1, true);
        let (_, rank) = order.sort(1, false);
        let num_neg = (num_pos * neg_ratio).clamp_min(neg_ratio);
        rank.lt_tensor(&num_neg).logical_and(&candidates)
    })
}

/// `conf`: `[B, P, C]` logits; `loc`: `[B, P, 4]`; `labels`: `[B, P]` (−1 ignore,
/// 0 background, 1 face); `loc_t`: `[B, P, 4]` encoded targets.
pub fn multibox_loss(conf: &Tensor, loc: &Tensor, labels: &Tensor, loc_t: &Tensor, neg_ratio: i64) -> Loss {
    let classes = conf.size()[2];
    let pos = labels.ge(FACE);
    let num_pos = pos.sum_dim_intlist(1, true, Kind::Int64);
    let neg = hard_negatives(conf, labels, &num_pos, neg_ratio);
    let chosen = pos.logical_or(&neg);
    let n = num_pos.sum(Kind::Float).clamp_min(1.0);
    let logits = conf.masked_select(&chosen.unsqueeze(2)).view([-1, classes]);
    let targets = labels.masked_select(&chosen);
    let class = logits.cross_entropy_loss::<Tensor>(&targets, None, Reduction::Sum, -100, 0.0) / &n;
    let pos4 = pos.unsqueeze(2);
    let boxes = loc.masked_select(&pos4).smooth_l1_loss(&loc_t.masked_select(&pos4), Reduction::Sum, 1.0) / &n;
    Loss { class, boxes }
}

/// Distance-IoU loss (Zheng et al., "Distance-IoU Loss", AAAI 2020) of the positives'
/// decoded boxes against their targets: `1 − IoU + d² / c²` (`d` the centre distance,
/// `c` the diagonal of the enclosing box), summed and normalised by the number of
/// positives. Smooth-L1 on offsets weighs a box's corners apart; the WIDER protocol
/// counts a face found only at IoU ≥ 0.5, which this term optimises directly.
///
/// Both boxes are decoded in their shared prior's units (centre offset over the
/// prior's size): IoU does not change under that scaling, and priors are square in
/// pixels, so the distance term is the pixel one too. No priors are needed.
pub fn diou_loss(loc: &Tensor, loc_t: &Tensor, labels: &Tensor, variances: [f32; 2]) -> Tensor {
    let pos4 = labels.ge(FACE).unsqueeze(2);
    let n = labels.ge(FACE).sum(Kind::Float).clamp_min(1.0);
    let corners = |t: &Tensor| {
        let t = t.masked_select(&pos4).view([-1, 4]).to_kind(Kind::Float);
        let c = t.narrow(1, 0, 2) * variances[0] as f64;
        // The clamp keeps an untrained head's exp finite, as decoding does.
        let half = (t.narrow(1, 2, 2) * variances[1] as f64).clamp_max(4.0).exp() * 0.5;
        (&c - &half, &c + &half, c)
    };
    let (a0, a1, ac) = corners(loc);
    let (b0, b1, bc) = corners(loc_t);
    let area = |lo: &Tensor, hi: &Tensor| {
        let d = (hi - lo).clamp_min(0.0);
        d.select(1, 0) * d.select(1, 1)
    };
    let inter = area(&a0.maximum(&b0), &a1.minimum(&b1));
    let union = area(&a0, &a1) + area(&b0, &b1) - &inter;
    let iou = &inter / union.clamp_min(1e-9);
    let enclose = (a1.maximum(&b1) - a0.minimum(&b0)).square().sum_dim_intlist(1, false, Kind::Float);
    let dist = (ac - bc).square().sum_dim_intlist(1, false, Kind::Float);
    let per_box: Tensor = (-iou + 1.0) + dist / enclose.clamp_min(1e-9);
    per_box.sum(Kind::Float) / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diou_is_zero_for_exact_boxes_and_grows_with_misplacement() {
        let labels = Tensor::from_slice(&[1i64, 0, 1]).view([1, 3]);
        let t = Tensor::from_slice(&[0.5f32, -0.5, 0.2, 0.1, 9.0, 9.0, 9.0, 9.0, 0.0, 0.0, 0.0, 0.0]).view([1, 3, 4]);
        let v = [0.1, 0.2];
        assert!(diou_loss(&t, &t, &labels, v).double_value(&[]).abs() < 1e-6);
        // Shifting every positive by half its width (offset 5 at variance 0.1):
        // unit squares overlapping by half, IoU 1/3, d² = 0.25, c² = 1.5² + 1 = 3.25.
        let shift = Tensor::from_slice(&[5.0f32, 0.0, 0.0, 0.0]).view([1, 1, 4]);
        let z = Tensor::from_slice(&[0.0f32; 12]).view([1, 3, 4]);
        let l = diou_loss(&(&z + &shift), &z, &labels, v).double_value(&[]);
        let want = 1.0 - 1.0 / 3.0 + 0.25 / 3.25;
        assert!((l - want).abs() < 1e-5, "{l} vs {want}");
        // The background prior's wild offsets are not counted.
        assert!(l.is_finite());
    }

    #[test]
    fn confident_correct_predictions_cost_little_and_wrong_ones_a_lot() {
        let labels = Tensor::from_slice(&[1i64, 0, 0, 0, 0, 0, 0, 0, -1]).view([1, 9]);
        let loc_t = Tensor::zeros([1, 9, 4], (Kind::Float, tch::Device::Cpu));
        let good: Vec<f32> = (0..9).flat_map(|i| if i == 0 { [-8.0, 8.0] } else { [8.0, -8.0] }).collect();
        let good = Tensor::from_slice(&good).view([1, 9, 2]);
        let l = multibox_loss(&good, &loc_t, &labels, &loc_t, 3);
        assert!(l.class.double_value(&[]) < 1e-3);
        assert!(l.boxes.double_value(&[]).abs() < 1e-9);
        let bad = -&good;
        let l = multibox_loss(&bad, &(&loc_t + 1.0), &labels, &loc_t, 3);
        // One positive + three mined negatives, each ~16 nats, over one positive.
        assert!((l.class.double_value(&[]) - 64.0).abs() < 0.1, "{}", l.class.double_value(&[]));
        // Smooth-L1 of 1.0 offsets: 0.5 per coordinate, 4 coordinates.
        assert!((l.boxes.double_value(&[]) - 2.0).abs() < 1e-5);
    }
}
