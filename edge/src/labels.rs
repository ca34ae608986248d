//! Labels on tracked faces: each track is classified when it appears, again every few
//! frames or when its box has changed enough, and its label is the most probable class
//! of the probabilities averaged over the track, so labels do not flicker.

use crate::classifier::Classifier;
use crate::model::{iou, BBox, ClassifierCard};
pub use crate::track::Label;
use crate::track::Track;
use anyhow::Result;
use image::RgbImage;
use std::collections::HashMap;

/// When a track is classified again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelConfig {
    /// Every this many frames (1 = every frame).
    pub every: u32,
    /// Or as soon as the box's IoU with the one last classified falls below this.
    pub min_iou: f32,
}

impl Default for LabelConfig {
    fn default() -> Self {
        Self { every: 10, min_iou: 0.6 }
    }
}

struct TrackState {
    sum: Vec<f32>,
    count: u32,
    last_box: BBox,
    since: u32,
}

/// Classifies tracked faces; see the module docs.
pub struct TrackLabeler {
    classifier: Classifier,
    /// The classifier's card (a copy: the classifier is borrowed mutably per face).
    card: ClassifierCard,
    /// When tracks are classified again.
    pub config: LabelConfig,
    tracks: HashMap<u64, TrackState>,
    /// Crops classified so far (for the run's statistics).
    pub classified: u64,
}

impl TrackLabeler {
    /// A labeler with no tracks yet.
    pub fn new(classifier: Classifier, config: LabelConfig) -> Self {
        let card = classifier.card().clone();
        Self { classifier, card, config, tracks: HashMap::new(), classified: 0 }
    }

    /// The classifier it runs.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// The classifier it runs, to classify outside the tracks (benchmarks).
    pub fn classifier_mut(&mut self) -> &mut Classifier {
        &mut self.classifier
    }

    /// Classify what is due on this frame and set every track's label; tracks no longer
    /// present are forgotten.
    pub fn label(&mut self, frame: &RgbImage, tracks: &mut [Track]) -> Result<()> {
        self.tracks.retain(|id, _| tracks.iter().any(|t| t.id == *id));
        for t in tracks.iter_mut() {
            let due = match self.tracks.get(&t.id) {
                None => true,
                Some(s) => s.since + 1 >= self.config.every || iou(&s.last_box, &t.bbox) < self.config.min_iou,
            };
            if due {
                if let Some(probs) = self.classifier.classify(frame, &t.bbox)? {
                    self.classified += 1;
                    let s = self.tracks.entry(t.id).or_insert_with(|| TrackState {
                        sum: vec![0.0; probs.len()],
                        count: 0,
                        last_box: t.bbox,
                        since: 0,
                    });
                    s.sum.iter_mut().zip(&probs).for_each(|(a, p)| *a += p);
                    (s.count, s.last_box, s.since) = (s.count + 1, t.bbox, 0);
                }
            } else if let Some(s) = self.tracks.get_mut(&t.id) {
                s.since += 1;
            }
            t.label = self.tracks.get(&t.id).and_then(|s| {
                let mean: Vec<f32> = s.sum.iter().map(|v| v / s.count.max(1) as f32).collect();
                Label::from_probs(&mean, &self.card)
            });
        }
        Ok(())
    }
}
