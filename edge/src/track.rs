//! Tracking faces across frames so boxes and stickers hold still.
//!
//! Detections are matched to live tracks greedily by IoU. A matched track moves toward
//! its new detection by an adaptive amount: little when the change is as small as
//! detector noise, all the way when the face really moved, so boxes stop jittering
//! without lagging behind motion. A track survives a few missed frames (no flicker when
//! one frame's score dips) and gets a new id only when a face is truly new.

use crate::classifier::top;
use crate::model::{match_greedy, BBox, ClassifierCard, Detection};
use serde::{Deserialize, Serialize};

/// A face followed from frame to frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    /// Stable identity while the face stays in view.
    pub id: u64,
    /// Smoothed box, frame pixels.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Latest detection score.
    pub score: f32,
    /// The classifier's label, averaged over the track (with `--classifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// The named zones its box centre lies in (config file `[[zone]]`), none by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
}

/// A face's class and its (averaged) probability: the classifier's label on a track
/// (averaged over the track by the `labels` module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The class id (the data's label, e.g. `sin_mascarilla`): what `--privacy CLASS=`
    /// and scripts match on.
    pub class: String,
    /// The class's display name, what a person reads (`no mask`; the id when the card
    /// names none).
    #[serde(default)]
    pub class_name: String,
    /// Its probability, 0 to 1.
    pub probability: f32,
}

impl Label {
    /// The most probable class of `probs` over the classes of `card`.
    pub fn from_probs(probs: &[f32], card: &ClassifierCard) -> Option<Self> {
        let (i, p) = top(probs)?;
        let class = card.classes.get(i)?.clone();
        Some(Label { class, class_name: card.display_name(i).to_string(), probability: p })
    }

    /// What a person reads: the display name, else (a label read from old JSON) the id.
    pub fn shown(&self) -> &str {
        if self.class_name.is_empty() {
            &self.class
        } else {
            &self.class_name
        }
    }
}

/// Tracker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Minimum IoU between a track and a detection to be the same face.
    pub min_iou: f32,
    /// Weight of a new detection when it differs from the track by noise only (0..1;
    /// 1 = no smoothing).
    pub smoothing: f32,
    /// Frames a track is kept (at its last box) without a matching detection.
    pub max_misses: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self { min_iou: 0.3, smoothing: 0.3, max_misses: 3 }
    }
}

struct Live {
    track: Track,
    misses: u32,
}

/// Follows faces across frames; see the module docs.
pub struct Tracker {
    /// Settings; change them freely between frames.
    pub config: TrackerConfig,
    live: Vec<Live>,
    next_id: u64,
}

impl Tracker {
    /// A tracker with no faces yet.
    pub fn new(config: TrackerConfig) -> Self {
        Self { config, live: Vec::new(), next_id: 1 }
    }

    /// Forget every face (the scene changed); ids keep counting up.
    pub fn reset(&mut self) {
        self.live.clear();
    }

    /// Feed one frame's detections; returns the faces to show on it.
    pub fn update(&mut self, detections: &[Detection]) -> Vec<Track> {
        let tracked: Vec<BBox> = self.live.iter().map(|l| l.track.bbox).collect();
        let found: Vec<BBox> = detections.iter().map(|d| d.bbox).collect();
        let partner = match_greedy(&tracked, &found, self.config.min_iou);
        let mut det_used = vec![false; detections.len()];
        for (live, d) in self.live.iter_mut().zip(&partner) {
            let Some(d) = *d else { continue };
            det_used[d] = true;
            live.track.bbox = follow(&live.track.bbox, &detections[d].bbox, self.config.smoothing);
            live.track.score = detections[d].score;
            live.misses = 0;
        }
        let track_used: Vec<bool> = partner.iter().map(Option::is_some).collect();
        for (live, used) in self.live.iter_mut().zip(&track_used) {
            if !used {
                live.misses += 1;
            }
        }
        let max_misses = self.config.max_misses;
        self.live.retain(|l| l.misses <= max_misses);
        for (det, used) in detections.iter().zip(det_used) {
            if !used {
                let track = Track { id: self.next_id, bbox: det.bbox, score: det.score, label: None, zones: vec![] };
                self.next_id += 1;
                self.live.push(Live { track, misses: 0 });
            }
        }
        self.live.iter().map(|l| l.track.clone()).collect()
    }
}

/// Move `from` toward `to`: by `smoothing` while the change is noise-sized (up to a tenth
/// of the face size), by more as it grows, all the way from 30% of the face size on.
fn follow(from: &BBox, to: &BBox, smoothing: f32) -> BBox {
    let size = ((from.width() + from.height()) * 0.5).max(1.0);
    let change =
        [to.x0 - from.x0, to.y0 - from.y0, to.x1 - from.x1, to.y1 - from.y1].iter().fold(0.0f32, |m, d| m.max(d.abs()))
            / size;
    let alpha = smoothing + (1.0 - smoothing) * ((change - NOISE) / (JUMP - NOISE)).clamp(0.0, 1.0);
    let mix = |a: f32, b: f32| a + alpha * (b - a);
    BBox::new(mix(from.x0, to.x0), mix(from.y0, to.y0), mix(from.x1, to.x1), mix(from.y1, to.y1))
}

/// Box changes up to this fraction of the face size are treated as detector noise.
const NOISE: f32 = 0.1;
/// Changes from this fraction on are real motion, followed without smoothing.
const JUMP: f32 = 0.3;

/// Jitter of a box sequence in pixels: the mean absolute second difference of its
/// corners. Steady or constant-velocity motion scores 0; frame-to-frame wobble does not.
pub fn jitter_px(boxes: &[BBox]) -> f32 {
    if boxes.len() < 3 {
        return 0.0;
    }
    let corners = |b: &BBox| [b.x0, b.y0, b.x1, b.y1];
    let mut sum = 0.0;
    for w in boxes.windows(3) {
        let (a, b, c) = (corners(&w[0]), corners(&w[1]), corners(&w[2]));
        sum += (0..4).map(|i| (a[i] - 2.0 * b[i] + c[i]).abs()).sum::<f32>() / 4.0;
    }
    sum / (boxes.len() - 2) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, s: f32) -> Detection {
        Detection { bbox: BBox::new(x, y, x + s, y + s), score: 0.9 }
    }

    /// A face drifting right at 1 px/frame, seen through ±3 px of detector noise.
    fn noisy_walk(frames: usize) -> Vec<Detection> {
        let mut state = 12345u32;
        let mut noise = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((state >> 16) % 7) as f32 - 3.0
        };
        (0..frames).map(|i| det(100.0 + i as f32 + noise(), 80.0 + noise(), 60.0 + noise())).collect()
    }

    #[test]
    fn smoothing_cuts_jitter_on_a_noisy_walk() {
        let dets = noisy_walk(60);
        let raw: Vec<BBox> = dets.iter().map(|d| d.bbox).collect();
        let mut tracker = Tracker::new(TrackerConfig::default());
        let tracked: Vec<BBox> = dets.iter().map(|d| tracker.update(&[*d])[0].bbox).collect();
        let ids: Vec<u64> = {
            let mut t = Tracker::new(TrackerConfig::default());
            dets.iter().map(|d| t.update(&[*d])[0].id).collect()
        };
        assert!(ids.iter().all(|&id| id == 1), "one face, one id");
        let (jr, jt) = (jitter_px(&raw), jitter_px(&tracked));
        assert!(jt < 0.5 * jr, "tracked jitter {jt} vs raw {jr}");
        // It keeps up with the motion: after 60 frames the box is near the true place.
        let last = tracked.last().unwrap();
        assert!((last.x0 - 159.0).abs() < 6.0, "lagging: {}", last.x0);
    }

    #[test]
    fn big_moves_are_followed_at_once() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(&[det(100.0, 100.0, 60.0)]);
        let moved = tracker.update(&[det(130.0, 100.0, 60.0)]);
        assert_eq!(moved[0].id, 1);
        assert!((moved[0].bbox.x0 - 130.0).abs() < 0.01);
    }

    #[test]
    fn misses_are_bridged_then_dropped_and_new_faces_get_new_ids() {
        let mut tracker = Tracker::new(TrackerConfig { max_misses: 2, ..Default::default() });
        tracker.update(&[det(10.0, 10.0, 40.0)]);
        assert_eq!(tracker.update(&[]).len(), 1);
        assert_eq!(tracker.update(&[]).len(), 1);
        assert_eq!(tracker.update(&[]).len(), 0);
        let two = tracker.update(&[det(10.0, 10.0, 40.0), det(200.0, 10.0, 40.0)]);
        let ids: Vec<u64> = two.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![2, 3]);
        tracker.reset();
        assert_eq!(tracker.update(&[]).len(), 0, "a scene cut forgets faces at once");
        assert_eq!(tracker.update(&[det(10.0, 10.0, 40.0)])[0].id, 4);
    }

    #[test]
    fn jitter_of_steady_motion_is_zero() {
        let walk: Vec<BBox> = (0..10).map(|i| BBox::new(i as f32, 0.0, i as f32 + 5.0, 5.0)).collect();
        assert_eq!(jitter_px(&walk), 0.0);
    }
}
