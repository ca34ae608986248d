//! The multibox loss: smooth-L1 on matched offsets, cross-entropy on positives and the
//! hardest negatives (3:1 by default), both normalised by the number of positives.

use crate::target::{BACKGROUND, FACE};
use tch::{Kind, Reduction, Tensor};

/// The two parts of the loss, as scalar tensors (the sum is what is optimised).
pub struct Loss {
    pub class: Tensor,
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

#[cfg(test)]
mod tests {
    use super::*;

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
