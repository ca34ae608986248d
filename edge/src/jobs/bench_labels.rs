//! `facecam bench --classifier`: what the second stage costs. One face's crop, resize
//! and network in tract, and the detect thread's time per frame (detect + track +
//! label, the loop's slowest stage) on frames holding 1, 3 and 5 faces, without the
//! classifier, with it at its default cadence, and classifying every face every frame.

use crate::classifier::Classifier;
use crate::detector::Detector;
use crate::labels::{LabelConfig, TrackLabeler};
use crate::model::crop_square;
use crate::track::{Tracker, TrackerConfig};
use anyhow::{bail, Context, Result};
use image::RgbImage;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// The classifier's cost on frames with `faces` faces.
#[derive(Debug, Clone, Serialize)]
pub struct FacesRow {
    /// Faces the detector found in the frame (what was classified).
    pub faces: usize,
    /// Detect + track, ms per frame.
    pub without_ms: f64,
    /// Detect + track + label at the default cadence (each face every 10 frames), ms.
    pub default_ms: f64,
    /// Detect + track + label with every face classified every frame, ms.
    pub every_frame_ms: f64,
}

/// Everything the classifier benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct LabelBenchReport {
    /// Path of the classifier model, as given.
    pub classifier: String,
    /// Input side of the classifier.
    pub side: u32,
    /// One face: crop, resize, normalise and network; mean and 95th percentile ms.
    pub per_face_ms: f64,
    /// 95th percentile of the same, ms.
    pub per_face_p95_ms: f64,
    /// One row per frame tried, by the number of faces in it.
    pub rows: Vec<FacesRow>,
}

impl LabelBenchReport {
    /// A Markdown table of the results.
    pub fn table(&self) -> String {
        let mut s = format!(
            "classifier {} ({}x{}): {:.3} ms per face (p95 {:.3})\n\n| faces | detect+track ms | + labels (every 10 frames) | frame-rate cost | + labels (every frame) | frame-rate cost |\n|---|---|---|---|---|---|\n",
            self.classifier, self.side, self.side, self.per_face_ms, self.per_face_p95_ms
        );
        let cut = |base: f64, with: f64| 100.0 * (1.0 - base / with);
        for r in &self.rows {
            s += &format!(
                "| {} | {:.2} | {:.2} | {:.1}% | {:.2} | {:.1}% |\n",
                r.faces,
                r.without_ms,
                r.default_ms,
                cut(r.without_ms, r.default_ms),
                r.every_frame_ms,
                cut(r.without_ms, r.every_frame_ms)
            );
        }
        s
    }
}

/// A 640x480 frame holding `n` copies of the face in `photo` (its surest detection, with
/// context), laid out on a grid.
fn faces_frame(photo: &RgbImage, detector: &mut Detector, n: usize) -> Result<RgbImage> {
    let face = detector.detect(photo)?.into_iter().max_by(|a, b| a.score.total_cmp(&b.score));
    let face = face.context("the sample photo has no face to tile")?;
    let (x, y, side) = crop_square(&face.bbox, 0.6, photo.width(), photo.height()).context("empty face box")?;
    let tile = image::imageops::resize(
        &image::imageops::crop_imm(photo, x, y, side, side).to_image(),
        150,
        150,
        image::imageops::FilterType::Triangle,
    );
    let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([90, 100, 110]));
    for i in 0..n {
        let (col, row) = ((i % 3) as i64, (i / 3) as i64);
        image::imageops::replace(&mut frame, &tile, 40 + col * 200, 60 + row * 220);
    }
    Ok(frame)
}

/// Detect thread time per frame over `frames` frames, with an optional labeler.
fn loop_ms(
    frame: &RgbImage,
    detector: &mut Detector,
    mut labeler: Option<&mut TrackLabeler>,
    frames: u32,
) -> Result<(f64, usize)> {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let (mut times, mut faces) = (Vec::new(), 0);
    for _ in 0..frames {
        let t = Instant::now();
        let mut tracks = tracker.update(&detector.detect(frame)?);
        if let Some(l) = labeler.as_deref_mut() {
            l.label(frame, &mut tracks)?;
        }
        times.push(t.elapsed());
        faces = tracks.len();
    }
    Ok((crate::jobs::bench::stage("detect thread", times).mean_ms, faces))
}

/// Run the benchmark: `detector` and `classifier` files, the face from `photo`.
pub fn run(detector: &Path, classifier: &Path, photo: &Path, frames: u32) -> Result<LabelBenchReport> {
    let mut det = Detector::load(detector)?;
    let photo = crate::source::decode::read_image(photo)?;
    let cls = Classifier::load(classifier)?;
    let side = cls.card().input.width;
    let mut labeler = TrackLabeler::new(cls, LabelConfig::default());
    let mut every = TrackLabeler::new(Classifier::load(classifier)?, LabelConfig { every: 1, ..Default::default() });
    let frames = frames.max(10);
    let mut rows = Vec::new();
    let mut per_face = Vec::new();
    for n in [1, 3, 5] {
        let frame = faces_frame(&photo, &mut det, n)?;
        let (without_ms, faces) = loop_ms(&frame, &mut det, None, frames)?;
        if faces == 0 {
            bail!("the detector finds no face in the {n}-face benchmark frame");
        }
        let (default_ms, _) = loop_ms(&frame, &mut det, Some(&mut labeler), frames)?;
        let (every_frame_ms, _) = loop_ms(&frame, &mut det, Some(&mut every), frames)?;
        rows.push(FacesRow { faces, without_ms, default_ms, every_frame_ms });
        for d in det.detect(&frame)? {
            for _ in 0..frames.min(50) {
                let t = Instant::now();
                every.classifier_mut().classify(&frame, &d.bbox)?;
                per_face.push(t.elapsed());
            }
        }
    }
    let per_face = crate::jobs::bench::stage("classify one face", per_face);
    Ok(LabelBenchReport {
        classifier: classifier.display().to_string(),
        side,
        per_face_ms: per_face.mean_ms,
        per_face_p95_ms: per_face.p95_ms,
        rows,
    })
}
