//! Run an exported model over the WIDER FACE val images through the edge detector and
//! score it with the official protocol; optionally write the predictions in the official
//! submission layout (`EVENT/NAME.txt`) for the official tools.

use super::wider::{evaluate, Predictions, WiderGt, WiderResult};
use anyhow::{Context, Result};
use edge::detector::{DetectOptions, Detector, LoadOptions};
use edge::int8::Int8Path;
use std::collections::HashMap;
use std::path::Path;

/// At what size images are fed to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSize {
    /// Resized to the model's input (how ULFGFD reports its 320x240 numbers).
    Input,
    /// At each image's own size (one optimised plan per distinct size).
    Original,
}

/// Post-processing for AP: the camera's NMS with box voting and containment, and a low
/// threshold and a wide candidate set so the whole PR curve is seen (docs/BENCHMARKS.md
/// measures each).
pub fn eval_options() -> DetectOptions {
    DetectOptions { score_threshold: 0.02, top_k: 1500, candidates: 3000, ..DetectOptions::default() }
}

/// The proxy AP's post-processing during training: plain NMS at 0.05 / 750, fixed so that
/// every run's curve in docs/BENCHMARKS.md stays comparable with the ones before it.
pub fn proxy_options() -> DetectOptions {
    let containment = None;
    DetectOptions { score_threshold: 0.05, nms_iou: 0.3, top_k: 750, candidates: 1000, vote: false, containment }
}

/// Detect faces in every val image listed in `gt` under `images` (`EVENT/NAME.jpg`),
/// running a quantized model by the `int8` path, post-processed by `post`.
pub fn predict(
    model: &Path,
    gt: &WiderGt,
    images: &Path,
    size: EvalSize,
    int8: Int8Path,
    post: DetectOptions,
    progress: bool,
) -> Result<Predictions> {
    let mut detectors: HashMap<(u32, u32), Detector> = HashMap::new();
    let bar = crate::progress::bar(progress, gt.image_count(), "images");
    let mut preds = Predictions::new();
    for event in &gt.events {
        for img in &event.images {
            let path = images.join(&event.name).join(format!("{}.jpg", img.name));
            let frame = edge::source::decode::read_image(&path).context("cannot read a val image")?;
            let key = match size {
                EvalSize::Input => (0, 0),
                EvalSize::Original => frame.dimensions(),
            };
            let det = match detectors.entry(key) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let opts = LoadOptions { size: (key != (0, 0)).then_some(key), int8, ..Default::default() };
                    let mut d = Detector::load_with(model, &opts)?;
                    d.options = post;
                    v.insert(d)
                }
            };
            let faces = det.detect(&frame)?;
            let boxes = faces
                .iter()
                .map(|f| {
                    let b = f.bbox;
                    [b.x0 as f64, b.y0 as f64, (b.x1 - b.x0) as f64, (b.y1 - b.y0) as f64, f.score as f64]
                })
                .collect();
            preds.insert((event.name.clone(), img.name.clone()), boxes);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(preds)
}

/// Write predictions as the official evaluation reads them: `DIR/EVENT/NAME.txt` with
/// the name, the count, then `x y w h score` lines.
pub fn write_submission(preds: &Predictions, dir: &Path) -> Result<()> {
    for ((event, name), boxes) in preds {
        let d = dir.join(event);
        std::fs::create_dir_all(&d).with_context(|| format!("{}: cannot create", d.display()))?;
        let mut text = format!("{name}\n{}\n", boxes.len());
        for b in boxes {
            text.push_str(&format!("{:.1} {:.1} {:.1} {:.1} {:.5}\n", b[0], b[1], b[2], b[3], b[4]));
        }
        edge::atomic::write(&d.join(format!("{name}.txt")), text.as_bytes())?;
    }
    Ok(())
}

/// Predict and evaluate in one go.
pub fn run(
    model: &Path,
    gt_dir: &Path,
    images: &Path,
    size: EvalSize,
    int8: Int8Path,
    post: DetectOptions,
    progress: bool,
) -> Result<(WiderResult, Predictions)> {
    let gt = WiderGt::load(gt_dir)?;
    let preds = predict(model, &gt, images, size, int8, post, progress)?;
    Ok((evaluate(&gt, &preds), preds))
}
