//! Prior boxes, generated from the card's [`PriorConfig`] for any input size.

use super::card::PriorConfig;
use super::BBox;

/// One prior: centre and size in normalised `[0, 1]` image coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    /// Centre, x.
    pub cx: f32,
    /// Centre, y.
    pub cy: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Prior {
    /// The prior as a box by its corners, in the same normalised coordinates.
    pub fn bbox(&self) -> BBox {
        BBox::new(self.cx - self.w / 2.0, self.cy - self.h / 2.0, self.cx + self.w / 2.0, self.cy + self.h / 2.0)
    }
}

impl PriorConfig {
    /// Feature-map size `(columns, rows)` of each detection level at this input size.
    ///
    /// Each level halves its input with stride-2 padded convolutions, so a level of
    /// stride `s` sees `ceil(width / s)` columns: the network and the priors agree on
    /// every input size, not only on multiples of the largest stride.
    pub fn feature_maps(&self, width: u32, height: u32) -> Vec<(u32, u32)> {
        self.steps.iter().map(|&s| (width.div_ceil(s), height.div_ceil(s))).collect()
    }

    /// Number of priors per feature-map cell for each level.
    pub fn anchors_per_cell(&self) -> Vec<usize> {
        self.min_sizes.iter().map(Vec::len).collect()
    }

    /// How many priors [`Self::priors`] makes for a `width` x `height` input, without
    /// making them; `None` when the count overflows.
    pub fn count(&self, width: u32, height: u32) -> Option<usize> {
        self.feature_maps(width, height).into_iter().zip(&self.min_sizes).try_fold(0usize, |n, ((c, r), sizes)| {
            (c as usize).checked_mul(r as usize)?.checked_mul(sizes.len())?.checked_add(n)
        })
    }

    /// All priors for a `width` x `height` input, in the order the network emits them:
    /// level by level, then row-major cells, then the level's min sizes.
    pub fn priors(&self, width: u32, height: u32) -> Vec<Prior> {
        let (w, h) = (width as f32, height as f32);
        let mut out = Vec::new();
        for ((cols, rows), (&step, sizes)) in
            self.feature_maps(width, height).into_iter().zip(self.steps.iter().zip(&self.min_sizes))
        {
            for row in 0..rows {
                for col in 0..cols {
                    let cx = (col as f32 + 0.5) * step as f32 / w;
                    let cy = (row as f32 + 0.5) * step as f32 / h;
                    for &size in sizes {
                        let mut p = Prior { cx, cy, w: size / w, h: size / h };
                        if self.clip {
                            p = Prior {
                                cx: p.cx.clamp(0.0, 1.0),
                                cy: p.cy.clamp(0.0, 1.0),
                                w: p.w.clamp(0.0, 1.0),
                                h: p.h.clamp(0.0, 1.0),
                            };
                        }
                        out.push(p);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_design_prior_counts() {
        let cfg = PriorConfig::default();
        assert_eq!(cfg.priors(320, 240).len(), 4420);
        assert_eq!(cfg.priors(320, 256).len(), 4700);
    }

    #[test]
    fn feature_maps_round_up() {
        let cfg = PriorConfig::default();
        assert_eq!(cfg.feature_maps(320, 240), vec![(40, 30), (20, 15), (10, 8), (5, 4)]);
    }

    #[test]
    fn count_matches_the_priors_made_and_overflow_is_none() {
        let cfg = PriorConfig::default();
        assert_eq!(cfg.count(320, 240), Some(cfg.priors(320, 240).len()));
        assert_eq!(cfg.count(101, 77), Some(cfg.priors(101, 77).len()));
        let many = PriorConfig { steps: vec![1], min_sizes: vec![vec![1.0; 3]], ..cfg };
        assert_eq!(many.count(u32::MAX, u32::MAX), None);
    }

    #[test]
    fn first_prior_sits_in_the_first_cell() {
        let p = PriorConfig::default().priors(320, 240)[0];
        assert!((p.cx - 4.0 / 320.0).abs() < 1e-6);
        assert!((p.cy - 4.0 / 240.0).abs() < 1e-6);
        assert!((p.w - 10.0 / 320.0).abs() < 1e-6);
        assert!((p.h - 10.0 / 240.0).abs() < 1e-6);
    }
}
