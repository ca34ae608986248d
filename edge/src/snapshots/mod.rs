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
                FaceEvent::FaceAppeared { id, .. } => {
                    self.announced.insert(*id);
                }
                FaceEvent::FaceLeft { id, .. } => {
                    self.announced.remove(id);
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
