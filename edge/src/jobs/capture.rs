//! `facecam capture`: collect a dataset with the device camera. Frames stream
//! continuously (so exposure keeps adapting); a trigger — a timer, the Enter key, or a
//! GPIO button — saves the newest one as `UUID.jpg` with a labelme `UUID.json` beside
//! it, pre-labelled with the current model's faces when one is given, ready to correct
//! in labelme and train on with `facecam-train train --data labelme:DIR`.
//!
//! With `--crops --class NAME` it collects a face classifier's data instead: each face
//! the model finds is saved as a square crop in `OUT/NAME/UUID-face<N>.jpg`, the layout
//! `facecam-train`'s `crops:OUT` source reads (crops of one picture share its UUID, so a
//! split never puts them on both sides).

use crate::atomic;
use crate::detector::Detector;
use crate::model::Detection;
use crate::source::{FrameSource, SourceError};
use anyhow::{Context, Result};
use image::RgbImage;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Something that says "take a picture now".
pub trait Trigger: Send {
    /// Whether to save the current frame; polled once per frame.
    fn fired(&mut self, now: Instant) -> Result<bool>;
}

/// Fires every `interval` (zero: every frame).
pub struct Every {
    interval: Duration,
    last: Option<Instant>,
}

impl Every {
    /// A timer trigger.
    pub fn new(interval: Duration) -> Self {
        Self { interval, last: None }
    }
}

impl Trigger for Every {
    fn fired(&mut self, now: Instant) -> Result<bool> {
        if self.last.is_none_or(|t| now.duration_since(t) >= self.interval) {
            self.last = Some(now);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Fires once per line read from a reader: Enter on the terminal (stdin).
pub struct KeyPress {
    lines: mpsc::Receiver<()>,
}

impl KeyPress {
    /// Read lines from `input` on a background thread.
    pub fn new(input: impl std::io::BufRead + Send + 'static) -> Self {
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in input.lines() {
                if line.is_err() || tx.send(()).is_err() {
                    break;
                }
            }
        });
        Self { lines }
    }
}

impl Trigger for KeyPress {
    fn fired(&mut self, _now: Instant) -> Result<bool> {
        Ok(self.lines.try_recv().is_ok())
    }
}

#[cfg(all(target_os = "linux", feature = "board"))]
impl<P: embedded_hal::digital::InputPin + Send> Trigger for crate::button::Button<P> {
    fn fired(&mut self, now: Instant) -> Result<bool> {
        self.poll(now)
    }
}

/// What a capture session saved.
#[derive(Debug, Default)]
pub struct CaptureSummary {
    /// Pictures saved.
    pub saved: Vec<PathBuf>,
    /// Faces pre-labelled, summed.
    pub faces: usize,
    /// Frames the source could not decode.
    pub corrupt: u64,
}

/// Capture until `count` pictures are saved, the source ends, or `stop` is set.
pub fn capture(
    source: &mut dyn FrameSource,
    trigger: &mut dyn Trigger,
    out: &Path,
    count: Option<usize>,
    mut labeller: Option<&mut Detector>,
    stop: &AtomicBool,
) -> Result<CaptureSummary> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create folder", out.display()))?;
    let mut summary = CaptureSummary::default();
    each_fired_frame(source, trigger, stop, &mut summary, count, |image, summary| {
        let faces = match labeller.as_deref_mut() {
            Some(detector) => detector.detect(image)?,
            None => Vec::new(),
        };
        let name = uuid::Uuid::new_v4().to_string();
        let jpg = out.join(format!("{name}.jpg"));
        save(image, &faces, &jpg)?;
        summary.faces += faces.len();
        log::info!("saved {} ({} face(s) pre-labelled)", jpg.display(), faces.len());
        summary.saved.push(jpg);
        Ok(())
    })?;
    Ok(summary)
}

/// How face crops are cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropOptions {
    /// Context kept around the face on each side, as a fraction of its longer side.
    pub margin: f32,
    /// Faces whose longer side is under this many pixels are skipped (too few pixels to
    /// tell classes apart).
    pub min_face_px: f32,
}

impl Default for CropOptions {
    fn default() -> Self {
        Self { margin: 0.2, min_face_px: 16.0 }
    }
}

/// Capture face crops of class `class` into `out/class/` until `count` crops are saved,
/// the source ends, or `stop` is set.
#[allow(clippy::too_many_arguments)]
pub fn capture_crops(
    source: &mut dyn FrameSource,
    trigger: &mut dyn Trigger,
    out: &Path,
    class: &str,
    opts: CropOptions,
    count: Option<usize>,
    detector: &mut Detector,
    stop: &AtomicBool,
) -> Result<CaptureSummary> {
    if class.is_empty() || class.contains(['/', '\\']) || class.starts_with('.') {
        anyhow::bail!("class `{class}` cannot be a folder name (empty, a path, or hidden)");
    }
    let dir = out.join(class);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
    let mut summary = CaptureSummary::default();
    each_fired_frame(source, trigger, stop, &mut summary, count, |image, summary| {
        let name = uuid::Uuid::new_v4().to_string();
        let faces = detector.detect(image)?;
        for (i, face) in faces.iter().enumerate() {
            if count.is_some_and(|c| summary.saved.len() >= c) {
                break;
            }
            let Some(crop) = square_crop(image, face, opts) else { continue };
            let jpg = dir.join(format!("{name}-face{i}.jpg"));
            atomic::write(&jpg, &jpeg(&crop, &jpg)?)?;
            summary.faces += 1;
            summary.saved.push(jpg);
        }
        log::info!("{} face crop(s) of `{class}` saved ({} in this picture)", summary.saved.len(), faces.len());
        Ok(())
    })?;
    Ok(summary)
}

/// The square around `face` grown by the margin, moved inside the image where it fits;
/// `None` for a face under the minimum size.
pub fn square_crop(image: &RgbImage, face: &Detection, opts: CropOptions) -> Option<RgbImage> {
    let b = &face.bbox;
    if (b.x1 - b.x0).max(b.y1 - b.y0) < opts.min_face_px {
        return None;
    }
    // The classifier's own crop rule, so captured crops are what a classifier will see.
    let (x, y, side) = crate::model::crop_square(b, opts.margin, image.width(), image.height())?;
    Some(image::imageops::crop_imm(image, x, y, side, side).to_image())
}

fn jpeg(image: &RgbImage, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
        .encode_image(image)
        .with_context(|| format!("{}: JPEG encoding failed", path.display()))?;
    Ok(bytes)
}

/// Run `on_fire` on every frame the trigger picks, until `count` things are saved, the
/// source ends, or `stop` is set.
fn each_fired_frame(
    source: &mut dyn FrameSource,
    trigger: &mut dyn Trigger,
    stop: &AtomicBool,
    summary: &mut CaptureSummary,
    count: Option<usize>,
    mut on_fire: impl FnMut(&RgbImage, &mut CaptureSummary) -> Result<()>,
) -> Result<()> {
    // A file's frames fire the trigger on the file's timeline, a camera's on the wall clock.
    let clock = crate::source::clock::Clock::new();
    while !stop.load(Ordering::Relaxed) && count.is_none_or(|c| summary.saved.len() < c) {
        let frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(SourceError::Corrupt(_)) => {
                summary.corrupt += 1;
                continue;
            }
            Err(SourceError::Timeout(_)) => continue,
            Err(SourceError::Fatal(e)) => return Err(e.context(format!("capture from {}", source.describe()))),
        };
        if trigger.fired(clock.instant_of(&frame))? {
            let saved = summary.saved.len();
            on_fire(&frame.image, summary)
                .with_context(|| format!("capture stopped after {saved} file(s) saved in this run"))?;
        }
    }
    Ok(())
}

/// Write the picture as JPEG and its labelme JSON beside it, each atomically, the JSON
/// last so a labelme folder never lists a picture that is not there.
/// A picture whose JSON cannot be written (a full disk) is removed again: a pair or nothing.
pub fn save(image: &RgbImage, faces: &[Detection], jpg: &Path) -> Result<()> {
    atomic::write(jpg, &jpeg(image, jpg)?)?;
    let json =
        labelme_json(jpg.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), image, faces);
    atomic::write(&jpg.with_extension("json"), serde_json::to_string_pretty(&json)?.as_bytes()).inspect_err(|_| {
        let _ = std::fs::remove_file(jpg);
    })
}

/// A labelme document with one `face` rectangle per detection.
pub fn labelme_json(image_path: String, image: &RgbImage, faces: &[Detection]) -> serde_json::Value {
    let rects: Vec<crate::labelme::Rect> = faces
        .iter()
        .map(|d| crate::labelme::Rect {
            label: "face",
            corners: [d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1],
            description: Some(format!("pre-labelled by facecam, score {:.2}", d.score)),
        })
        .collect();
    crate::labelme::document(&image_path, image.width(), image.height(), &rects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BBox;
    use crate::source::pattern::Pattern;

    #[test]
    fn timer_fires_at_its_interval() {
        let mut every = Every::new(Duration::from_secs(2));
        let t0 = Instant::now();
        assert!(every.fired(t0).unwrap());
        assert!(!every.fired(t0 + Duration::from_secs(1)).unwrap());
        assert!(every.fired(t0 + Duration::from_secs(2)).unwrap());
    }

    #[test]
    fn key_trigger_fires_once_per_line() {
        let mut key = KeyPress::new(std::io::Cursor::new(b"\n\n".to_vec()));
        std::thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        let fired: Vec<bool> = (0..3).map(|_| key.fired(now).unwrap()).collect();
        assert_eq!(fired, vec![true, true, false]);
    }

    #[test]
    fn saves_jpeg_and_labelme_pairs() {
        let dir = std::env::temp_dir().join(format!("facecam-capture-{}", std::process::id()));
        let mut src = Pattern::new(64, 48);
        let stop = AtomicBool::new(false);
        let got = capture(&mut src, &mut Every::new(Duration::ZERO), &dir, Some(3), None, &stop).unwrap();
        assert_eq!(got.saved.len(), 3);
        for jpg in &got.saved {
            let stem = jpg.file_stem().unwrap().to_str().unwrap();
            assert!(uuid::Uuid::parse_str(stem).is_ok(), "{stem}");
            assert_eq!(image::open(jpg).unwrap().width(), 64);
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(jpg.with_extension("json")).unwrap()).unwrap();
            assert_eq!(doc["imagePath"], format!("{stem}.jpg"));
            assert_eq!(doc["shapes"].as_array().unwrap().len(), 0);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn crops_are_square_inside_the_image_and_skip_tiny_faces() {
        let img = RgbImage::from_fn(100, 80, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let face = |x0, y0, x1, y1| Detection { bbox: BBox::new(x0, y0, x1, y1), score: 0.9 };
        let opts = CropOptions::default();
        let c = square_crop(&img, &face(40.0, 30.0, 60.0, 50.0), opts).unwrap();
        // 20 px grown by 0.2 on each side: 28 px, centred on (50, 40).
        assert_eq!((c.width(), c.height(), c.get_pixel(0, 0).0[0], c.get_pixel(0, 0).0[1]), (28, 28, 36, 26));
        // At the corner the square moves inside rather than shrinking.
        let c = square_crop(&img, &face(0.0, 0.0, 30.0, 20.0), opts).unwrap();
        assert_eq!((c.width(), c.get_pixel(0, 0).0), (42, [0, 0, 0]));
        // Larger than the picture: cut to its shorter side.
        assert_eq!(square_crop(&img, &face(0.0, 0.0, 100.0, 80.0), opts).unwrap().width(), 80);
        assert!(square_crop(&img, &face(10.0, 10.0, 20.0, 20.0), opts).is_none());
    }

    #[test]
    fn labelme_rectangles_carry_the_boxes() {
        let face = Detection { bbox: BBox::new(1.0, 2.0, 30.0, 40.0), score: 0.8 };
        let doc = labelme_json("a.jpg".into(), &RgbImage::new(50, 60), &[face]);
        assert_eq!(doc["shapes"][0]["points"][1][1], 40.0);
        assert_eq!(doc["shapes"][0]["shape_type"], "rectangle");
        assert_eq!(
            (doc["imageWidth"].clone(), doc["imageHeight"].clone()),
            (serde_json::json!(50), serde_json::json!(60))
        );
    }
}
