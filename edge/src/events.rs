//! Face events: what a headless camera tells the world, derived from the tracks.
//!
//! A track becomes a *face* once it has been in view for `min_duration` (one flicker of
//! a false detection is no event): that is `face_appeared`. When the tracker drops a
//! face, `face_left` carries how long it stayed and its best score. A `count` message
//! goes out whenever the number of faces changes and every `count_every` seconds, so a
//! subscriber that joins late (or missed a message) soon knows the state.
//!
//! Sinks receive the events with their frame (`FrameReport::events` in the sink module); the
//! `json` sink, the web view's `/events` and MQTT all carry the same JSON (docs/JSON.md).
//!
//! With `--snapshots DIR`, [`crate::snapshots`] adds a `face_snapshot` event per face once
//! its picture is on disk: the frame where it scored best in its first seconds.

use crate::track::Track;
use serde::Serialize;
use std::collections::HashMap;

/// Event settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventConfig {
    /// Seconds a track must stay in view before it is announced (0: at once).
    pub min_duration: f64,
    /// Seconds between periodic `count` messages (`None`: only on changes).
    pub count_every: Option<f64>,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self { min_duration: 0.5, count_every: Some(10.0) }
    }
}

/// One event. Serialised with a `type` field naming the kind, and the face as the same
/// object a frame line carries (docs/JSON.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaceEvent {
    /// A face has been in view for the minimum duration.
    FaceAppeared {
        /// The face when announced: its track id, box (frame pixels), score and label.
        face: Track,
        /// Its time on the frame's clock, seconds since the Unix epoch ([`crate::source::clock`]).
        time: f64,
    },
    /// An announced face is gone.
    FaceLeft {
        /// The face as last seen.
        face: Track,
        /// Seconds from first sight to last sight.
        duration_s: f64,
        /// The best detection score it had.
        best_score: f32,
        /// The time it was found gone, seconds since the Unix epoch.
        time: f64,
    },
    /// The pictures of an announced face are saved ([`crate::snapshots`]): sent once per
    /// face, when its best frame is final and both files are in place.
    FaceSnapshot {
        /// The face on the saved frame (the best of its first seconds): the track id
        /// announced in [`FaceEvent::FaceAppeared`], its box there, score and label.
        face: Track,
        /// Where the pictures are.
        snapshot: SnapshotRef,
        /// Wall-clock time of the saved frame, seconds since the Unix epoch.
        time: f64,
    },
    /// How many announced faces are in view.
    Count {
        /// Announced faces in view now.
        faces: usize,
        /// Seconds since the Unix epoch.
        time: f64,
    },
}

/// The saved pictures of one face event: their id and URLs on the web view (the file
/// names in the snapshot folder are the URLs' last parts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotRef {
    /// The event's id, unique across runs (see `edge::snapshots::store`).
    pub id: String,
    /// The whole frame, the face's box drawn: `/events/ID.jpg`.
    pub frame: String,
    /// The face with a margin: `/events/ID-face.jpg`.
    pub face: String,
    /// The frame's JPEG, for sinks that send the picture itself (MQTT); not in the JSON.
    #[serde(skip)]
    pub jpeg: Option<std::sync::Arc<[u8]>>,
}

struct Seen {
    first: f64,
    last: f64,
    best: f32,
    /// The face as last seen, with the last label it had.
    face: Track,
    announced: bool,
}

/// Turns each frame's tracks into events; see the module docs.
pub struct FaceEvents {
    config: EventConfig,
    seen: HashMap<u64, Seen>,
    last_count: Option<(usize, f64)>,
}

impl FaceEvents {
    /// No faces seen yet.
    pub fn new(config: EventConfig) -> Self {
        Self { config, seen: HashMap::new(), last_count: None }
    }

    /// Faces announced and still in view.
    pub fn faces(&self) -> usize {
        self.seen.values().filter(|s| s.announced).count()
    }

    /// Feed the tracks shown on one frame at `time` (the frame's clock); returns its events.
    pub fn update(&mut self, tracks: &[Track], time: f64) -> Vec<FaceEvent> {
        let mut events = Vec::new();
        for t in tracks {
            let s = self.seen.entry(t.id).or_insert(Seen {
                first: time,
                last: time,
                best: t.score,
                face: t.clone(),
                announced: false,
            });
            let label = t.label.clone().or(s.face.label.take());
            (s.last, s.best, s.face) = (time, s.best.max(t.score), Track { label, ..t.clone() });
            if !s.announced && time - s.first >= self.config.min_duration {
                s.announced = true;
                events.push(FaceEvent::FaceAppeared { face: t.clone(), time });
            }
        }
        let mut gone: Vec<u64> = self.seen.keys().filter(|id| !tracks.iter().any(|t| t.id == **id)).copied().collect();
        gone.sort_unstable();
        for id in gone {
            let s = self.seen.remove(&id).expect("listed above");
            if s.announced {
                let (face, duration_s, best_score) = (s.face, s.last - s.first, s.best);
                events.push(FaceEvent::FaceLeft { face, duration_s, best_score, time });
            }
        }
        let faces = self.faces();
        let due = match self.last_count {
            None => true,
            Some((n, at)) => n != faces || self.config.count_every.is_some_and(|every| time - at >= every),
        };
        if due {
            self.last_count = Some((faces, time));
            events.push(FaceEvent::Count { faces, time });
        }
        events
    }

    /// Events for the end of a run: every announced face leaves, and a final count.
    pub fn finish(&mut self, time: f64) -> Vec<FaceEvent> {
        self.update(&[], time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BBox;

    fn track(id: u64, score: f32) -> Track {
        Track { id, bbox: BBox::new(10.0, 10.0, 50.0, 60.0), score, label: None, zones: vec![] }
    }

    fn kinds(events: &[FaceEvent]) -> Vec<String> {
        events.iter().map(|e| serde_json::to_value(e).unwrap()["type"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn a_face_is_announced_after_the_minimum_duration_and_leaves_with_its_stay() {
        let mut ev = FaceEvents::new(EventConfig { min_duration: 0.5, count_every: None });
        assert_eq!(kinds(&ev.update(&[track(1, 0.8)], 0.0)), ["count"], "not yet a face: count 0");
        assert!(ev.update(&[track(1, 0.9)], 0.3).is_empty());
        let appeared = ev.update(&[track(1, 0.7)], 0.6);
        assert_eq!(kinds(&appeared), ["face_appeared", "count"]);
        assert_eq!(appeared[1], FaceEvent::Count { faces: 1, time: 0.6 });
        let left = ev.update(&[], 2.0);
        match &left[0] {
            FaceEvent::FaceLeft { face, duration_s, best_score, .. } => {
                assert_eq!((face.id, *duration_s, *best_score), (1, 0.6, 0.9));
            }
            other => panic!("expected face_left, got {other:?}"),
        }
        assert_eq!(left[1], FaceEvent::Count { faces: 0, time: 2.0 });
    }

    #[test]
    fn a_flicker_shorter_than_the_minimum_is_no_event() {
        let mut ev = FaceEvents::new(EventConfig { min_duration: 0.5, count_every: None });
        ev.update(&[], 0.0);
        assert!(ev.update(&[track(4, 0.9)], 0.1).is_empty());
        assert!(ev.update(&[], 0.2).is_empty(), "it never appeared, so it does not leave");
    }

    #[test]
    fn counts_repeat_periodically_and_the_json_names_the_kind() {
        let mut ev = FaceEvents::new(EventConfig { min_duration: 0.0, count_every: Some(10.0) });
        assert_eq!(kinds(&ev.update(&[track(2, 0.9)], 0.0)), ["face_appeared", "count"]);
        assert!(ev.update(&[track(2, 0.9)], 5.0).is_empty());
        assert_eq!(kinds(&ev.update(&[track(2, 0.9)], 10.5)), ["count"]);
        let json = serde_json::to_value(&ev.finish(11.0)[0]).unwrap();
        assert_eq!(json["type"], "face_left");
        assert_eq!(json["face"]["id"], 2);
        assert_eq!(json["face"]["box"]["x1"], 50.0);
        assert_eq!(json["duration_s"], 10.5, "first to last sight");
    }
}
