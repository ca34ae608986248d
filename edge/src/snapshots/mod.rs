//! A snapshot of every face event (`facecam run --snapshots DIR`): for each announced
//! face, the frame where it scored best in its first `--snapshot-window` seconds, saved
//! as two JPEGs — the whole frame with its box drawn, and the face with a margin.
//!
//! - [`picker`] chooses the frame; [`writer`] draws, encodes and saves it on its own
//!   thread; [`store`] keeps the folder (atomic files, ids unique across runs, retention
//!   by count and bytes).
//! - Once both pictures are on disk a `face_snapshot` event goes out with the next frame
//!   ([`crate::events::FaceEvent::FaceSnapshot`], with `"snapshot": {"id", "frame",
//!   "face"}` URLs), so a subscriber that follows a URL always finds the file: the web
//!   view serves them (`/events/ID.jpg`, `/events.json`) and MQTT sends the frame on
//!   `PREFIX/snapshot`.
//!
//! [`SnapshotTap`] wraps the run's sinks: it sees each frame as shown — overlays and
//! privacy masks included, so a camera that blurs faces never stores them unblurred —
//! and adds the `face_snapshot` events to what the sinks get.

#[cfg(feature = "cli")]
pub mod flags;
pub mod picker;
pub mod store;
pub mod writer;

use crate::events::FaceEvent;
use crate::sink::{FrameReport, Sink};
use anyhow::Result;
use image::RgbImage;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

/// How long the end of a run waits for the card to take the last snapshots.
pub const FINISH_GRACE: Duration = Duration::from_secs(10);

/// Snapshot settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotConfig {
    /// The folder.
    pub dir: PathBuf,
    /// Seconds from a face's first sight in which its best frame is chosen.
    pub window: f64,
    /// What the folder keeps.
    pub retention: store::Retention,
}

/// The run's sinks with snapshots taken on the way; see the module docs.
pub struct SnapshotTap {
    inner: Box<dyn Sink>,
    picker: picker::Picker,
    writer: writer::Writer,
    /// Faces announced and not yet gone.
    announced: HashSet<u64>,
}

impl SnapshotTap {
    /// Open the folder (see [`store::Store::open`]) and start the writer.
    pub fn start(config: &SnapshotConfig, inner: Box<dyn Sink>) -> Result<Self> {
        let store = store::Store::open(&config.dir, config.retention)?;
        Ok(Self {
            inner,
            picker: picker::Picker::new(config.window),
            writer: writer::Writer::start(store)?,
            announced: HashSet::new(),
        })
    }

    fn note(&mut self, events: &[FaceEvent]) {
        for e in events {
            match e {
                FaceEvent::FaceAppeared { face, .. } => {
                    self.announced.insert(face.id);
                }
                FaceEvent::FaceLeft { face, .. } => {
                    self.announced.remove(&face.id);
                }
                _ => {}
            }
        }
    }
}

impl Sink for SnapshotTap {
    fn show(&mut self, frame: &RgbImage, report: &FrameReport) -> Result<()> {
        // Appearances count before the picker looks; departures after (a face that
        // leaves on this frame still gets its picture).
        let before = self.announced.clone();
        self.note(&report.events);
        let announced: HashSet<u64> = before.union(&self.announced).copied().collect();
        for pick in self.picker.update(frame, &report.faces, report.time, &announced) {
            self.writer.submit(pick);
        }
        let saved = self.writer.saved();
        if saved.is_empty() {
            return self.inner.show(frame, report);
        }
        let mut report = report.clone();
        report.events.extend(saved);
        self.inner.show(frame, &report)
    }

    fn events(&mut self, events: &[FaceEvent]) -> Result<()> {
        self.inner.events(events)
    }

    fn close(&mut self) -> Result<()> {
        // The faces still in view at the end keep their best frame so far.
        for pick in self.picker.finish(&self.announced) {
            self.writer.submit(pick);
        }
        let last = self.writer.finish(FINISH_GRACE);
        let sent = self.inner.events(&last);
        let closed = self.inner.close();
        sent.and(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BBox;
    use crate::track::Track;
    use std::sync::{Arc, Mutex};

    /// A sink that records the kinds of the events it gets.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Sink for Recorder {
        fn show(&mut self, _frame: &RgbImage, report: &FrameReport) -> Result<()> {
            self.events(&report.events)
        }

        fn events(&mut self, events: &[FaceEvent]) -> Result<()> {
            let kinds = events.iter().map(|e| serde_json::to_value(e).unwrap()["type"].as_str().unwrap().to_string());
            self.0.lock().unwrap().extend(kinds);
            Ok(())
        }
    }

    #[test]
    fn the_sinks_get_a_face_snapshot_per_announced_face_by_the_end_of_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let got = Arc::default();
        let config = SnapshotConfig { dir: dir.path().join("snaps"), window: 0.5, retention: Default::default() };
        let mut tap = SnapshotTap::start(&config, Box::new(Recorder(Arc::clone(&got)))).unwrap();
        let mut events =
            crate::events::FaceEvents::new(crate::events::EventConfig { min_duration: 0.2, count_every: None });
        let frame = RgbImage::new(64, 48);
        let face = |id| Track { id, bbox: BBox::new(8.0, 8.0, 30.0, 40.0), score: 0.9, label: None, zones: vec![] };
        // Face 1 stays; face 2 flickers for one frame.
        for (i, faces) in [vec![face(1), face(2)], vec![face(1)], vec![face(1)], vec![face(1)]].into_iter().enumerate()
        {
            let time = 1000.0 + i as f64 * 0.3;
            let report = FrameReport {
                seq: i as u64,
                time,
                width: 64,
                height: 48,
                latency_ms: 0.0,
                events: events.update(&faces, time),
                faces,
            };
            tap.show(&frame, &report).unwrap();
        }
        tap.events(&events.finish(1002.0)).unwrap();
        tap.close().unwrap();
        let kinds = got.lock().unwrap().clone();
        assert_eq!(kinds.iter().filter(|k| *k == "face_snapshot").count(), 1, "{kinds:?}");
        assert_eq!(store::newest(&config.dir, 10).unwrap().len(), 1);
    }
}
