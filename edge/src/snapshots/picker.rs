//! Which frame a face's snapshot is: the one where it scored best in its first
//! `window` seconds. A face gets one snapshot, taken once it is announced
//! (`face_appeared`) and its window has passed, or when it leaves; a track that leaves
//! before it is announced (a flicker) gets none.

use crate::track::Track;
use image::RgbImage;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The frame chosen for one face.
#[derive(Debug, Clone)]
pub struct Pick {
    /// The face on that frame: track id, box, score, label and zones then.
    pub face: Track,
    /// The frame as shown, shared with later picks of the same frame.
    pub frame: Arc<RgbImage>,
    /// Wall-clock time of the frame.
    pub time: f64,
}

struct Candidate {
    first: f64,
    best: Pick,
}

/// Follows the tracks of each frame and hands out each face's best frame once final.
pub struct Picker {
    window: f64,
    pending: HashMap<u64, Candidate>,
    /// Tracks already picked (or given up on) and still in view: never picked again.
    done: HashSet<u64>,
}

impl Picker {
    /// A picker looking `window` seconds from each face's first sight.
    pub fn new(window: f64) -> Self {
        Self { window, pending: HashMap::new(), done: HashSet::new() }
    }

    /// Feed one frame's tracks; `announced` holds the faces announced so far and still in
    /// view. Returns the picks that became final on this frame.
    pub fn update(&mut self, frame: &RgbImage, faces: &[Track], time: f64, announced: &HashSet<u64>) -> Vec<Pick> {
        // The frame is copied at most once, and only when some face scores its best on it.
        let mut shared: Option<Arc<RgbImage>> = None;
        for t in faces.iter().filter(|t| !self.done.contains(&t.id)) {
            let better =
                self.pending.get(&t.id).is_none_or(|c| time - c.first <= self.window && t.score > c.best.face.score);
            if !better {
                continue;
            }
            let frame = shared.get_or_insert_with(|| Arc::new(frame.clone())).clone();
            let pick = Pick { face: t.clone(), frame, time };
            self.pending
                .entry(t.id)
                .and_modify(|c| c.best = pick.clone())
                .or_insert(Candidate { first: time, best: pick });
        }
        let in_view: HashSet<u64> = faces.iter().map(|t| t.id).collect();
        self.done.retain(|id| in_view.contains(id));
        let final_ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(id, c)| !in_view.contains(id) || (time - c.first >= self.window && announced.contains(id)))
            .map(|(id, _)| *id)
            .collect();
        let mut picks = Vec::new();
        for id in final_ids {
            let c = self.pending.remove(&id).expect("listed above");
            // Gone before it was announced: a flicker, no event to picture.
            if announced.contains(&id) {
                picks.push(c.best);
            }
            if in_view.contains(&id) {
                self.done.insert(id);
            }
        }
        picks.sort_by_key(|p| p.face.id);
        picks
    }

    /// The end of a run: the announced faces still waiting get their best frame so far.
    pub fn finish(&mut self, announced: &HashSet<u64>) -> Vec<Pick> {
        let mut picks: Vec<Pick> =
            self.pending.drain().filter(|(id, _)| announced.contains(id)).map(|(_, c)| c.best).collect();
        self.done.clear();
        picks.sort_by_key(|p| p.face.id);
        picks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BBox;

    fn track(id: u64, score: f32) -> Track {
        Track { id, bbox: BBox::new(10.0, 10.0, 50.0, 60.0), score, label: None, zones: vec![] }
    }

    /// A 1x1 frame whose red value tells the frames apart.
    fn frame(n: u8) -> RgbImage {
        RgbImage::from_pixel(1, 1, image::Rgb([n, 0, 0]))
    }

    fn ids(set: &[u64]) -> HashSet<u64> {
        set.iter().copied().collect()
    }

    #[test]
    fn the_best_frame_of_the_window_is_picked_once_the_window_has_passed() {
        let mut p = Picker::new(2.0);
        let yes = ids(&[1]);
        assert!(p.update(&frame(0), &[track(1, 0.6)], 0.0, &ids(&[])).is_empty());
        assert!(p.update(&frame(1), &[track(1, 0.9)], 0.5, &yes).is_empty());
        assert!(p.update(&frame(2), &[track(1, 0.7)], 1.0, &yes).is_empty());
        // Better, but after the window: not taken.
        let picks = p.update(&frame(3), &[track(1, 0.99)], 2.5, &yes);
        assert_eq!(picks.len(), 1);
        assert_eq!((picks[0].face.id, picks[0].face.score, picks[0].time), (1, 0.9, 0.5));
        assert_eq!(picks[0].frame.get_pixel(0, 0)[0], 1, "the frame of the best score");
        assert!(p.update(&frame(4), &[track(1, 0.99)], 5.0, &yes).is_empty(), "one snapshot per face");
        assert!(p.update(&frame(5), &[], 6.0, &ids(&[])).is_empty(), "and none when it leaves");
    }

    #[test]
    fn a_face_that_leaves_early_is_picked_and_a_flicker_is_not() {
        let mut p = Picker::new(2.0);
        p.update(&frame(0), &[track(1, 0.8), track(2, 0.9)], 0.0, &ids(&[1]));
        let picks = p.update(&frame(1), &[], 0.5, &ids(&[1]));
        assert_eq!(picks.len(), 1, "track 2 was never announced");
        assert_eq!(picks[0].face.id, 1);
    }

    #[test]
    fn a_window_shorter_than_the_announcement_waits_for_it() {
        let mut p = Picker::new(0.1);
        assert!(p.update(&frame(0), &[track(7, 0.8)], 0.0, &ids(&[])).is_empty());
        assert!(p.update(&frame(1), &[track(7, 0.9)], 0.3, &ids(&[])).is_empty());
        let picks = p.update(&frame(2), &[track(7, 0.9)], 0.6, &ids(&[7]));
        assert_eq!((picks.len(), picks[0].face.score, picks[0].time), (1, 0.8, 0.0));
    }

    #[test]
    fn the_end_of_a_run_gives_the_announced_faces_their_best_so_far() {
        let mut p = Picker::new(2.0);
        p.update(&frame(0), &[track(1, 0.8), track(2, 0.5)], 0.0, &ids(&[1]));
        p.update(&frame(1), &[track(1, 0.95), track(2, 0.6)], 0.2, &ids(&[1]));
        let picks = p.finish(&ids(&[1]));
        assert_eq!(picks.len(), 1);
        assert_eq!((picks[0].face.id, picks[0].face.score), (1, 0.95));
        assert!(p.finish(&ids(&[1])).is_empty(), "nothing twice");
    }
}
