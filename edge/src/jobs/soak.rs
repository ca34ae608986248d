//! `facecam soak`: a long run of the whole loop to show that memory stays flat.
//!
//! An endless MJPEG stream (the bench's pan across the sample photos, with a truncated
//! frame and a garbage frame every 100) goes through the threaded loop with the detector,
//! tracker, overlays (boxes, a sticker, the HUD), a framebuffer file and the JSON sink.
//! Every `every` frames shown, the resident memory (VmRSS) is recorded. The report is
//! the peak and the slope of a least-squares line through the samples after warm-up.

use crate::detector::{Detector, LoadOptions};
use crate::jobs::bench::{make_stream, STREAM_SIZE};
use crate::overlay::{sticker::Sticker, PerClass, Style};
use crate::pipeline::{self, RunOptions, RunParts};
use crate::sink::fbdev::{Framebuffer, Geometry};
use crate::sink::files::JsonLines;
use crate::sink::{FrameReport, Sink, Tee};
use crate::source::mjpeg::MjpegSource;
use crate::track::{Tracker, TrackerConfig};
use anyhow::{Context, Result};
use image::RgbImage;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// What a soak measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakReport {
    /// Frames shown.
    pub frames: u64,
    /// Frames the source reported corrupt (and the loop skipped).
    pub corrupt: u64,
    /// `(frames shown, VmRSS MiB)` every `every` frames.
    pub samples: Vec<(u64, f64)>,
    /// Highest VmRSS sampled, MiB.
    pub peak_mib: f64,
    /// Least-squares slope of VmRSS over the samples after the first fifth, MiB per
    /// 10,000 frames (0 when there are fewer than 3).
    pub slope_mib_per_10k: f64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// The current resident set of this process, MiB (VmRSS).
pub fn rss_mib() -> f64 {
    crate::jobs::bench::status_mib("VmRSS:")
}

/// An endless byte stream: `frames` JPEGs over and over, with a truncated frame and a
/// garbage frame every 100, until `limit` frames were given.
struct Endless {
    frames: Vec<Vec<u8>>,
    next: u64,
    limit: u64,
    current: Vec<u8>,
    pos: usize,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.current.len() {
            if self.next >= self.limit {
                return Ok(0);
            }
            let jpeg = &self.frames[(self.next % self.frames.len() as u64) as usize];
            self.current = match self.next % 100 {
                // Cut before its end: the splitter sees the next SOI first.
                37 => jpeg[..jpeg.len() / 2].to_vec(),
                // A frame whose entropy data is noise.
                71 => [&jpeg[..jpeg.len() / 3], &vec![0x5a; jpeg.len() / 3][..], &[0xFF, 0xD9][..]].concat(),
                _ => jpeg.clone(),
            };
            self.pos = 0;
            self.next += 1;
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Forwards to the real sinks and samples VmRSS every `every` frames shown.
struct Sampling<S> {
    inner: S,
    every: u64,
    shown: u64,
    samples: Arc<Mutex<Vec<(u64, f64)>>>,
}

impl<S: Sink> Sink for Sampling<S> {
    fn show(&mut self, frame: &RgbImage, report: &FrameReport) -> Result<()> {
        self.inner.show(frame, report)?;
        self.shown += 1;
        if self.shown.is_multiple_of(self.every) {
            let rss = rss_mib();
            self.samples.lock().expect("not poisoned").push((self.shown, rss));
            log::info!("{} frames: VmRSS {rss:.1} MiB", self.shown);
        }
        Ok(())
    }
    fn events(&mut self, events: &[crate::events::FaceEvent]) -> Result<()> {
        self.inner.events(events)
    }
    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }
}

/// Least-squares slope of `y` over `x`.
pub fn slope(points: &[(u64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 3 {
        return 0.0;
    }
    let (mx, my) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + x as f64 / n, b + y / n));
    let (sxy, sxx) =
        points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + (x as f64 - mx) * (y - my), b + (x as f64 - mx).powi(2)));
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// Run `frames` frames (1..) through the loop with the model loaded by `load`, drawing
/// `sticker` on the faces, sampling memory every `every` frames; the JSON lines go to
/// `json_out`. The stream is made from the photos in `samples`.
pub fn soak(
    model: &Path,
    load: &LoadOptions,
    sticker: Option<Sticker>,
    samples_dir: &Path,
    (frames, every): (u64, u64),
    json_out: &Path,
) -> Result<SoakReport> {
    let detector = Detector::load_with(model, load)?;
    let stream = make_stream(samples_dir, 60)?;
    let source = MjpegSource::from_reader(
        Box::new(Endless { frames: stream, next: 0, limit: frames, current: Vec::new(), pos: 0 }),
        "soak stream",
    )?;
    let screen_file = std::env::temp_dir().join(format!("facecam-soak-fb-{}", std::process::id()));
    let geometry = Geometry::xrgb8888(STREAM_SIZE.0, STREAM_SIZE.1);
    std::fs::write(&screen_file, vec![0u8; geometry.required_len().context("framebuffer size")?])?;
    let screen = Framebuffer::open_file(&screen_file, geometry)?;
    let json = std::fs::File::create(json_out).with_context(|| format!("{}: cannot create", json_out.display()))?;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(screen), Box::new(JsonLines::new(std::io::BufWriter::new(json)))];
    let mut sink = Sampling { inner: Tee(sinks), every: every.max(1), shown: 0, samples: samples.clone() };
    let sticker = sticker.map(PerClass::all).unwrap_or_default();
    let mut style = Style { boxes: true, hud: true, sticker, ..Default::default() };
    let options = RunOptions { every_frame: true, report_every: None, ..Default::default() };
    let tracker = Tracker::new(TrackerConfig::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stats = pipeline::run(
        RunParts { source: Box::new(source), detector, tracker, labeler: None },
        &mut style,
        &mut sink,
        &options,
        stop,
    );
    let _ = std::fs::remove_file(&screen_file);
    let stats = stats?;
    let samples = samples.lock().expect("not poisoned").clone();
    let settled: Vec<(u64, f64)> = samples.iter().skip(samples.len() / 5).copied().collect();
    Ok(SoakReport {
        frames: stats.shown,
        corrupt: stats.corrupt,
        peak_mib: samples.iter().map(|s| s.1).fold(0.0, f64::max),
        slope_mib_per_10k: slope(&settled) * 10_000.0,
        samples,
        seconds: stats.seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_a_flat_series() {
        let line: Vec<(u64, f64)> = (0..10).map(|i| (i * 1000, 50.0 + i as f64 * 0.5)).collect();
        assert!((slope(&line) * 10_000.0 - 5.0).abs() < 1e-9);
        let flat: Vec<(u64, f64)> = (0..10).map(|i| (i * 1000, 42.0)).collect();
        assert_eq!(slope(&flat), 0.0);
        assert_eq!(slope(&line[..2]), 0.0);
    }

    #[test]
    fn the_stream_has_corrupt_frames_and_ends() {
        let jpeg = vec![0xFF, 0xD8, 1, 2, 3, 4, 5, 6, 0xFF, 0xD9];
        let mut s = Endless { frames: vec![jpeg.clone()], next: 0, limit: 100, current: Vec::new(), pos: 0 };
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        assert!(all.len() < 100 * jpeg.len() && all.starts_with(&jpeg), "{}", all.len());
    }
}
