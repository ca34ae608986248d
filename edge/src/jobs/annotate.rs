//! `facecam detect`: run the detector (and, when given, the classifier on each face)
//! over image files, write annotated PNGs and one JSON line per image. Unreadable images
//! are reported and skipped.

use crate::atomic;
use crate::classifier::Classifier;
use crate::detector::Detector;
use crate::model::{BBox, Detection};
use crate::overlay::{draw_labelled_box, ImageTarget};
use crate::source::files::collect_images;
use crate::track::Label;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One JSON line of `detections.jsonl`, `"type": "picture"` (docs/JSON.md).
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(tag = "type", rename = "picture")]
pub struct ImageResult {
    /// The input file as given.
    pub file: String,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Faces in image pixels.
    pub faces: Vec<Face>,
}

/// One face of [`ImageResult`]: the detection, and its label with `--classifier`.
/// Serialised as the face object every JSON line of facecam carries (`box`, `score`,
/// `label`; a picture's faces have no track `id`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(into = "FaceJson", from = "FaceJson")]
pub struct Face {
    /// Its box (image pixels) and face probability.
    pub detection: Detection,
    /// The classifier's label (with `--classifier`); `None` without one, or when the box had no crop.
    pub label: Option<Label>,
}

/// [`Face`] as written: the box as one object, as on frame lines.
#[derive(Serialize, serde::Deserialize)]
struct FaceJson {
    #[serde(rename = "box")]
    bbox: BBox,
    score: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<Label>,
}

impl From<Face> for FaceJson {
    fn from(f: Face) -> Self {
        Self { bbox: f.detection.bbox, score: f.detection.score, label: f.label }
    }
}

impl From<FaceJson> for Face {
    fn from(f: FaceJson) -> Self {
        Self { detection: Detection { bbox: f.bbox, score: f.score }, label: f.label }
    }
}

impl Face {
    /// The text on its box: the label and its probability, else the score.
    pub fn caption(&self) -> String {
        match &self.label {
            Some(l) => format!("{} {:.2}", l.shown(), l.probability),
            None => format!("{:.2}", self.detection.score),
        }
    }
}

/// Label each detection with `classifier` (faces without a crop keep no label).
pub fn classify_all(classifier: &mut Classifier, img: &image::RgbImage, dets: Vec<Detection>) -> Result<Vec<Face>> {
    let card = classifier.card().clone();
    dets.into_iter()
        .map(|d| {
            let probs = classifier.classify(img, &d.bbox)?;
            Ok(Face { label: probs.and_then(|p| Label::from_probs(&p, &card)), detection: d })
        })
        .collect()
}

/// What a run over files did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Images read and annotated.
    pub images: usize,
    /// Faces found over all of them.
    pub faces: usize,
    /// Files that could not be read or decoded, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Output PNG name for an input file: its stem, made unique by index when needed.
fn output_name(file: &Path, index: usize, taken: &mut std::collections::HashSet<String>) -> String {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("image").to_string();
    let mut name = format!("{stem}.png");
    if !taken.insert(name.clone()) {
        name = format!("{stem}-{index}.png");
        taken.insert(name.clone());
    }
    name
}

/// Detect faces in every image (and label them with `classifier`), writing
/// `OUT/NAME.png` (boxes drawn) and `OUT/detections.jsonl`. Progress and skips go to
/// stderr when `verbose`.
pub fn annotate_files(
    detector: &mut Detector,
    mut classifier: Option<&mut Classifier>,
    inputs: &[PathBuf],
    out_dir: &Path,
    verbose: bool,
) -> Result<Summary> {
    let files = collect_images(inputs)?;
    // Every output's name, decided before anything is written, and none of them an input.
    let mut taken = std::collections::HashSet::new();
    let outputs: Vec<PathBuf> =
        files.iter().enumerate().map(|(i, f)| out_dir.join(output_name(f, i, &mut taken))).collect();
    let jsonl = out_dir.join("detections.jsonl");
    atomic::refuse_inputs(outputs.iter().chain([&jsonl]).map(PathBuf::as_path), &files)?;
    let mut summary = Summary::default();
    // One line per image, appended as each is done (one write each, so an interrupted run
    // leaves whole lines for the images it finished). The folder and the file are made
    // with the first result, so a run that reads nothing leaves nothing.
    let mut lines: Option<fs::File> = None;
    for (i, file) in files.iter().enumerate() {
        let img = match crate::source::decode::read_image(file) {
            Ok(img) => img,
            Err(e) => {
                if verbose {
                    log::warn!("skipping {e:#}");
                }
                summary.skipped.push((file.clone(), format!("{e:#}")));
                continue;
            }
        };
        let dets = detector.detect(&img).with_context(|| format!("{}: detection failed", file.display()))?;
        let faces = match classifier.as_deref_mut() {
            Some(c) => {
                classify_all(c, &img, dets).with_context(|| format!("{}: classification failed", file.display()))?
            }
            None => dets.into_iter().map(|detection| Face { detection, label: None }).collect(),
        };
        if lines.is_none() {
            fs::create_dir_all(out_dir)
                .with_context(|| format!("{}: cannot create output directory", out_dir.display()))?;
            lines = Some(fs::File::create(&jsonl).with_context(|| format!("{}: cannot create", jsonl.display()))?);
        }
        let mut canvas = img.clone();
        for f in &faces {
            draw_labelled_box(&mut ImageTarget(&mut canvas), &f.detection.bbox, &f.caption())
                .expect("drawing into memory cannot fail");
        }
        atomic::write_png(&outputs[i], &canvas)?;
        if verbose {
            log::info!("{}: {} face(s)", file.display(), faces.len());
        }
        summary.images += 1;
        summary.faces += faces.len();
        let result = ImageResult { file: file.display().to_string(), width: img.width(), height: img.height(), faces };
        let mut line = serde_json::to_vec(&result)?;
        line.push(b'\n');
        let out = lines.as_mut().expect("created above");
        out.write_all(&line).with_context(|| format!("{}: cannot write", jsonl.display()))?;
    }
    if summary.images == 0 {
        bail!("none of the {} picture file(s) could be read (see the messages above)", files.len());
    }
    Ok(summary)
}
