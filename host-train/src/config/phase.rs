//! A run's schedule in phases: stretches of epochs with their own augmentation (e.g.
//! SSD crops first, then whole images at the evaluation's scale, as stage 6 found).

use crate::augment::AugmentConfig;

/// One phase of a run: `epochs` epochs trained with `augment`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// A name for logs (the recipe's, else `phase N`).
    pub name: String,
    /// Epochs in this phase, 1 or more.
    pub epochs: u32,
    /// The augmentation of its epochs.
    pub augment: AugmentConfig,
}

/// The phase that epoch `epoch` (numbered from 1) falls in; epochs past the listed
/// phases (a longer `--epochs`) stay in the last one. `None` without phases.
pub fn phase_at(phases: &[Phase], epoch: u32) -> Option<&Phase> {
    let mut end = 0u32;
    for p in phases {
        end = end.saturating_add(p.epochs);
        if epoch <= end {
            return Some(p);
        }
    }
    phases.last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_fall_in_their_phase_and_later_ones_in_the_last() {
        let p = |name: &str, epochs| Phase { name: name.into(), epochs, augment: AugmentConfig::none() };
        let phases = [p("a", 2), p("b", 3)];
        let names: Vec<_> = (1..=7).map(|e| phase_at(&phases, e).unwrap().name.as_str()).collect();
        assert_eq!(names, ["a", "a", "b", "b", "b", "b", "b"]);
        assert!(phase_at(&[], 1).is_none());
    }
}
