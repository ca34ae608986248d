//! Sinks that leave records rather than light up a screen: PNG files and JSON lines.

use super::{FrameReport, Sink};
use crate::atomic;
use crate::events::FaceEvent;
use anyhow::{Context, Result};
use image::RgbImage;
use std::io::Write;
use std::path::PathBuf;

/// One PNG per frame, `DIR/frame-000042.png`, each written atomically.
pub struct PngSink {
    dir: PathBuf,
    /// Write only every n-th frame shown (1 = all).
    pub every: u64,
    shown: u64,
}

impl PngSink {
    /// Create (if needed) the folder the frames go to.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
        Ok(Self { dir, every: 1, shown: 0 })
    }
}

impl Sink for PngSink {
    fn show(&mut self, frame: &RgbImage, report: &FrameReport) -> Result<()> {
        self.shown += 1;
        if (self.shown - 1).is_multiple_of(self.every.max(1)) {
            atomic::write_png(&self.dir.join(format!("frame-{:06}.png", report.seq)), frame)?;
        }
        Ok(())
    }
}

/// One JSON object per frame (`FrameReport`), and one per face event, on a writer, stdout by default: for
/// piping detections into other programs.
pub struct JsonLines<W: Write + Send> {
    out: W,
}

impl JsonLines<std::io::Stdout> {
    /// JSON lines on standard output.
    pub fn stdout() -> Self {
        Self { out: std::io::stdout() }
    }
}

impl<W: Write + Send> JsonLines<W> {
    /// JSON lines on any writer.
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// The writer back (tests read what was written).
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn show(&mut self, _frame: &RgbImage, report: &FrameReport) -> Result<()> {
        serde_json::to_writer(&mut self.out, report)?;
        self.out.write_all(b"\n").context("cannot write JSON lines")?;
        self.events(&report.events)
    }

    fn events(&mut self, events: &[FaceEvent]) -> Result<()> {
        for e in events {
            serde_json::to_writer(&mut self.out, e)?;
            self.out.write_all(b"\n").context("cannot write JSON lines")?;
        }
        // Flushed per frame so a reader sees each frame and event as it happens.
        self.out.flush().context("cannot write JSON lines")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{model::BBox, track::Track};

    fn report(seq: u64) -> FrameReport {
        let face = Track { id: 7, bbox: BBox::new(1.0, 2.0, 30.0, 40.0), score: 0.9, label: None, zones: vec![] };
        FrameReport { seq, time: 1.5, width: 64, height: 48, latency_ms: 12.0, faces: vec![face], events: Vec::new() }
    }

    #[test]
    fn json_lines_carry_boxes_scores_and_track_ids() {
        let mut sink = JsonLines::new(Vec::new());
        sink.show(&RgbImage::new(2, 2), &report(3)).unwrap();
        sink.show(&RgbImage::new(2, 2), &report(4)).unwrap();
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["seq"], 4);
        assert_eq!(
            (&lines[1]["type"], &lines[1]["width"], &lines[1]["height"]),
            (&"frame".into(), &64.into(), &48.into())
        );
        assert_eq!(lines[0]["faces"][0]["id"], 7);
        assert_eq!(lines[0]["faces"][0]["box"]["x1"], 30.0);
        assert!((lines[0]["faces"][0]["score"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    }

    #[test]
    fn png_sink_writes_every_nth_frame() {
        let dir = std::env::temp_dir().join(format!("facecam-png-sink-{}", std::process::id()));
        let mut sink = PngSink::new(&dir).unwrap();
        sink.every = 2;
        for seq in 0..4 {
            sink.show(&RgbImage::new(3, 3), &report(seq)).unwrap();
        }
        let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, vec!["frame-000000.png", "frame-000002.png"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
