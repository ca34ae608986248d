//! `export`, `quantize`, `eval` and `wider-eval`: exported models, made and measured.

use super::{count, load_any, load_photos, DataArgs};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use edge::cmdline::{probability, unit};
use edge::preprocess::parse_size;
use host_train::eval::{self, run_wider, run_wider::EvalSize, wider};
use host_train::plot::{self, Series};
use host_train::{data, export as exporter, quantize as q};
use std::path::PathBuf;

/// `export`'s options.
#[derive(Args)]
pub struct ExportArgs {
    /// The checkpoint folder to export.
    #[arg(long, default_value = "out/checkpoint")]
    checkpoint: PathBuf,
    /// The ONNX file to write.
    #[arg(long, default_value = "out/model.onnx")]
    out: PathBuf,
    /// The face threshold to recommend in the card, in (0, 1); the camera uses it unless
    /// given --threshold. Without it, chosen on --val by the card rule.
    #[arg(long, alias = "score-threshold", value_parser = probability)]
    threshold: Option<f32>,
    /// Validation data (same forms as --data) to choose the card's threshold on: the
    /// lowest with under 0.1 false positives per image (or --target-precision).
    #[arg(long = "val", value_parser = super::data_spec)]
    val: Vec<String>,
    #[command(flatten)]
    rule: super::val::RuleArgs,
}

/// `wider-eval`'s options.
#[derive(Args)]
pub struct WiderEvalArgs {
    /// The exported ONNX model.
    #[arg(long, default_value = "out/model.onnx")]
    model: PathBuf,
    /// Folder with the official `wider_face_val.mat` and `wider_{easy,medium,hard}_val.mat`.
    #[arg(long, default_value = "../shared/data/widerface-val-gt/ground_truth")]
    gt: PathBuf,
    /// The val images folder (`EVENT/NAME.jpg`).
    #[arg(long)]
    images: PathBuf,
    /// Feed images at the model's input size or at their own.
    #[arg(long, value_enum, default_value_t = EvalSize::Input)]
    size: EvalSize,
    /// How a quantized model runs: `weights` (int8 weights folded to fp32 at load, the
    /// camera's default) or `qdq` (every Quantize/DequantizeLinear run as written).
    #[arg(long, default_value = "weights")]
    int8: edge::int8::Int8Path,
    /// Lowest score kept for the PR curve, 0..=1 (not a detection threshold: the curve
    /// sweeps every score above it).
    #[arg(long, alias = "score-threshold", default_value_t = run_wider::eval_options().score_threshold, value_parser = unit)]
    min_score: f32,
    /// NMS IoU for the evaluation, 0..=1 (1 keeps every box).
    #[arg(long, default_value_t = run_wider::eval_options().nms_iou, value_parser = unit)]
    nms_iou: f32,
    /// Most boxes per image before NMS, 1..=100000.
    #[arg(long, default_value_t = run_wider::eval_options().top_k, value_parser = count(1, 100_000))]
    top_k: usize,
    /// Most candidates per image entering NMS (the strongest), 1..=100000.
    #[arg(long, default_value_t = run_wider::eval_options().candidates, value_parser = count(1, 100_000))]
    candidates: usize,
    /// Plain NMS instead of box voting (by default each face's box is the
    /// score-weighted mean of the boxes it suppressed, as on the camera).
    #[arg(long)]
    no_vote: bool,
    /// Keep boxes lying inside a better box (by default one with 70% of its own area
    /// inside a higher-scored kept box is dropped, as on the camera).
    #[arg(long)]
    no_containment: bool,
    /// Where to write the PR curves, the predictions and `ap.json`.
    #[arg(long, default_value = "out/wider-eval")]
    out: PathBuf,
}

/// `quantize`'s options.
#[derive(Args)]
pub struct QuantizeArgs {
    /// The fp32 model exported by `export` (or `classify-export`).
    #[arg(long, default_value = "out/model.onnx")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Calibration images to use (face crops, for a face classifier), spread evenly
    /// over the data, 1..=100000.
    #[arg(long, default_value_t = 100, value_parser = count(1, 100_000))]
    count: usize,
    /// How activation ranges are chosen from the calibration values.
    #[arg(long, value_enum, default_value_t = CalibrationKind::Percentile)]
    calibration: CalibrationKind,
    /// Percentile for `--calibration percentile`, in (50, 100].
    #[arg(long, default_value_t = 99.999, value_parser = edge::cmdline::float_in((std::ops::Bound::Excluded(50.0), std::ops::Bound::Included(100.0)), ""))]
    percentile: f64,
    /// Layers to keep in fp32: `first` (the RGB input conv), `last` (the head convs).
    #[arg(long, value_enum, value_delimiter = ',')]
    keep_fp32: Vec<KeepFp32>,
    /// Skip cross-layer equalization (on by default; it is exact in fp32).
    #[arg(long)]
    no_equalize: bool,
    /// Calibration input size, WIDTHxHEIGHT (default: the card's).
    #[arg(long, alias = "input", value_parser = parse_size)]
    input_size: Option<(u32, u32)>,
    /// The int8 ONNX file to write (never the input's own path).
    #[arg(long, default_value = "out/model-int8.onnx")]
    out: PathBuf,
}

/// `eval`'s options.
#[derive(Args)]
pub struct EvalArgs {
    /// The exported ONNX model.
    #[arg(long, default_value = "out/model.onnx")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Face score threshold, in (0, 1) [default: the model card's, else 0.6].
    #[arg(long, value_parser = probability)]
    threshold: Option<f32>,
    /// Only the images named in this file (one file name per line), e.g. the held-out
    /// photos of `recipes/holdout.txt`.
    #[arg(long)]
    only: Option<PathBuf>,
}

/// Activation calibration methods of `quantize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CalibrationKind {
    /// The smallest and largest value seen.
    Minmax,
    /// The --percentile of the values seen (outliers clipped).
    Percentile,
}

/// Layers `quantize` can leave in fp32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeepFp32 {
    /// The first convolution, on the RGB input.
    First,
    /// The detection heads' convolutions.
    Last,
}

/// `facecam-train export`.
pub fn export(a: ExportArgs) -> Result<()> {
    edge::atomic::refuse_input(&a.out, &super::files_in(&a.checkpoint))?;
    let card = match (a.threshold, a.val.is_empty()) {
        (None, false) => super::val::export_chosen(&a.checkpoint, &a.out, &load_photos(&a.val)?, a.rule.rule())?,
        _ => exporter::export_checkpoint(&a.checkpoint, &a.out, a.threshold)?,
    };
    let p = &card.provenance;
    println!("exported {} ({}, {} epochs) to {}", p.architecture, p.data, p.epochs, a.out.display());
    Ok(())
}

/// `facecam-train wider-eval`: AP, PR curves, predictions and `ap.json`.
pub fn wider_eval(a: WiderEvalArgs) -> Result<()> {
    let vote = !a.no_vote;
    let post = edge::detector::DetectOptions {
        score_threshold: a.min_score,
        nms_iou: a.nms_iou,
        top_k: a.top_k,
        candidates: a.candidates,
        vote,
        containment: (!a.no_containment).then_some(edge::model::CONTAINMENT),
    };
    let (result, preds) = run_wider::run(&a.model, &a.gt, &a.images, a.size, a.int8, post, true)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("{}: cannot create", a.out.display()))?;
    run_wider::write_submission(&preds, &a.out.join("predictions"))?;
    let series: Vec<Series> = (0..3)
        .map(|s| Series { label: format!("{} AP {:.3}", wider::SETTINGS[s], result.ap[s]), points: &result.curves[s] })
        .collect();
    let title = format!("WIDER FACE val: {}", a.model.display());
    plot::unit_chart(&a.out.join("pr-curve.png"), &title, "recall", "precision", &series)?;
    let size = format!("{:?}", a.size).to_lowercase();
    let summary = serde_json::json!({
        "model": a.model.display().to_string(), "size": size, "images": preds.len(),
        "score_threshold": a.min_score, "nms_iou": a.nms_iou, "top_k": a.top_k, "candidates": a.candidates,
        "vote": vote, "containment": post.containment, "easy": result.ap[0], "medium": result.ap[1], "hard": result.ap[2],
    });
    edge::atomic::write(&a.out.join("ap.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    println!(
        "WIDER val ({} images, {:?} size): AP easy {:.4}  medium {:.4}  hard {:.4}; curves in {}",
        preds.len(),
        a.size,
        result.ap[0],
        result.ap[1],
        result.ap[2],
        a.out.join("pr-curve.png").display()
    );
    Ok(())
}

/// `facecam-train quantize`: a detector on whole images, a classifier on face crops.
pub fn quantize(a: QuantizeArgs, progress: bool) -> Result<()> {
    edge::atomic::refuse_input(&a.out, std::slice::from_ref(&a.model))?;
    let proto = q::read_proto(&a.model)?;
    let card = edge::model::AnyCard::read(&proto).with_context(|| format!("{}: refused", a.model.display()))?;
    let classifier = matches!(card, edge::model::AnyCard::Classifier(_));
    // A classifier calibrates on faces, which crop folders hold too.
    let data = &a.data.data;
    let samples = if classifier { load_any(data)? } else { load_photos(data)? };
    let opts = q::QuantizeOptions {
        method: match a.calibration {
            CalibrationKind::Minmax => q::Method::MinMax,
            CalibrationKind::Percentile => q::Method::Percentile(a.percentile),
        },
        keep_first: a.keep_fp32.contains(&KeepFp32::First),
        keep_last: a.keep_fp32.contains(&KeepFp32::Last),
        equalize: !a.no_equalize,
        size: a.input_size,
        data: data.join(" "),
        progress,
    };
    let r = if classifier {
        log::info!("calibrating the classifier {} on {} face crops ({})", a.model.display(), a.count, opts.method);
        q::faces::quantize_classifier(&a.model, &proto, &samples, a.count, &opts, &a.out)?
    } else {
        let picked = q::pick_evenly(samples.len(), a.count);
        let images: Vec<PathBuf> = picked.into_iter().map(|i| samples[i].image.clone()).collect();
        log::info!("calibrating {} on {} images ({})", a.model.display(), images.len(), opts.method);
        q::quantize_detector(&a.model, &proto, &images, &opts, &a.out)?
    };
    println!(
        "wrote {}: {} convs int8, {} fp32, {} activations quantized, {} conv pairs equalized; {} -> {} bytes ({:.3}x)",
        a.out.display(),
        r.quantized_convs,
        r.fp32_layers.len(),
        r.activations,
        r.equalized_pairs,
        r.fp32_bytes,
        r.int8_bytes,
        r.int8_bytes as f64 / r.fp32_bytes as f64
    );
    Ok(())
}

/// `facecam-train eval`: recall and false positives at one threshold.
pub fn eval(a: EvalArgs) -> Result<()> {
    let mut samples = load_photos(&a.data.data)?;
    if let Some(list) = &a.only {
        data::keep_listed(&mut samples, list)?;
    }
    let mut detector = edge::detector::Detector::load(&a.model)?;
    if let Some(t) = a.threshold {
        detector.options.score_threshold = t;
    }
    let s = eval::evaluate(&mut detector, &samples)?;
    println!(
        "at threshold {}: {} images, {} faces: recall {:.3} at IoU 0.5, {} false positives ({:.3} per image)",
        detector.options.score_threshold,
        s.images,
        s.faces,
        s.recall(),
        s.false_pos,
        s.fp_per_image()
    );
    Ok(())
}
