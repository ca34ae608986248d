//! `facecam-train classify`, `classify-export`, `classify-eval` and `relabel`: the
//! classifier's commands, beside the detector's.

use super::train::TrainFlags;
use super::{load_any, DataArgs};
use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Subcommand};
use host_train::classify::{eval, faces::FaceSet, relabel, train, ClassifyConfig};
use host_train::config::DeviceChoice;
use std::path::{Path, PathBuf};

/// The classifier's subcommands.
#[derive(Subcommand)]
pub enum ClassifyCommand {
    /// Train a face classifier on labelled boxes (their classes are the labels) or on
    /// face crops (`crops:DIR`, one folder per class); a checkpoint after every epoch.
    Classify(TrainArgs),
    /// Export a classifier checkpoint to ONNX with its card.
    ClassifyExport {
        /// The classifier's checkpoint folder.
        #[arg(long, default_value = "out/classifier")]
        checkpoint: PathBuf,
        /// The ONNX file to write.
        #[arg(long, default_value = "out/classifier.onnx")]
        out: PathBuf,
    },
    /// Per-class precision and recall, balanced accuracy, the majority baseline and a
    /// confusion PNG of an exported classifier, on ground-truth boxes and, with
    /// --detector, on the detector's own boxes.
    ClassifyEval {
        /// The exported classifier.
        #[arg(long, default_value = "out/classifier.onnx")]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Also classify the crops of this detector's boxes (misses count as misses).
        #[arg(long)]
        detector: Option<PathBuf>,
        /// Where to write `report.json`, the confusion PNGs and a grid of mistakes.
        #[arg(long, default_value = "out/classify-eval")]
        out: PathBuf,
    },
    /// Give an exported classifier's classes new display names (what boxes, JSON and
    /// reports show), without retraining: only the card changes. Writes --out, or the
    /// model itself with --in-place (atomically).
    Relabel(RelabelArgs),
}

/// `relabel`'s options.
#[derive(Args)]
#[command(group(ArgGroup::new("target").required(true).args(["out", "in_place"])))]
pub struct RelabelArgs {
    /// The exported classifier (fp32 or int8).
    #[arg(long)]
    model: PathBuf,
    /// Display names, `ID=NAME[,ID=NAME…]` (repeatable); classes not named keep theirs.
    #[arg(long, required = true, value_name = "ID=NAME,…", value_parser = class_names)]
    class_names: Vec<String>,
    /// The ONNX file to write (never the model's own path: use --in-place for that).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the model file itself, atomically (a new file moved over it).
    #[arg(long)]
    in_place: bool,
}

/// `classify`'s flags.
#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    common: TrainFlags,
    /// Checkpoint folder.
    #[arg(long, default_value = "out/classifier")]
    out: PathBuf,
    /// Square input side in pixels, 16..=256 (`64` or `64x64`) [default: the recipe's, else 64].
    #[arg(long, alias = "side", value_parser = square_side)]
    input_size: Option<u32>,
    /// Crop margin per side, a fraction of the face's longer side, 0..=1 [default: the
    /// recipe's, else 0.2].
    #[arg(long, value_parser = edge::cmdline::unit)]
    margin: Option<f32>,
    /// Do not weight the loss by inverse class frequency.
    #[arg(long)]
    no_balance: bool,
    /// Display names written into the card, `ID=NAME[,ID=NAME…]` (repeatable; over the
    /// recipe's `class_names`), e.g. `sin_mascarilla=no mask`; 1 to 40 printable ASCII
    /// characters each, without `=` or `,`.
    #[arg(long, value_name = "ID=NAME,…", value_parser = class_names)]
    class_names: Vec<String>,
}

/// A `--class-names` value that parses (it is read again where it is used).
fn class_names(s: &str) -> Result<String, String> {
    edge::model::parse_class_names(s).map(|_| s.to_string())
}

/// Every `--class-names` value's `(id, name)` pairs, in order.
fn class_name_pairs(specs: &[String]) -> Vec<(String, String)> {
    specs.iter().flat_map(|s| edge::model::parse_class_names(s).unwrap_or_default()).collect()
}

/// A square input side: `N` or `NxN`, 16..=256.
fn square_side(s: &str) -> Result<u32, String> {
    let (w, h) = s.split_once('x').unwrap_or((s, s));
    match (w.trim().parse::<u32>(), h.trim().parse::<u32>()) {
        (Ok(w), Ok(h)) if w != h => Err(format!("`{s}`: a classifier's input is square")),
        (Ok(w), Ok(_)) if (16..=256).contains(&w) => Ok(w),
        (Ok(_), Ok(_)) => Err(format!("`{s}` must be 16..=256 pixels")),
        _ => Err(format!("`{s}` is not N or NxN")),
    }
}

/// Run a classifier command.
pub fn run(command: ClassifyCommand) -> Result<()> {
    match command {
        ClassifyCommand::Classify(a) => classify(a),
        ClassifyCommand::ClassifyExport { checkpoint, out } => export(&checkpoint, &out),
        ClassifyCommand::ClassifyEval { model, data, detector, out } => evaluate(&model, &data.data, detector, &out),
        ClassifyCommand::Relabel(a) => {
            let out = a.out.clone().unwrap_or_else(|| a.model.clone());
            let card = relabel::relabel(&a.model, &class_name_pairs(&a.class_names), &out, a.in_place)?;
            println!("{}: classes {}", out.display(), card.describe_classes());
            Ok(())
        }
    }
}

impl TrainArgs {
    /// The recipe (or the defaults) with these flags applied, checked.
    fn config(&self) -> Result<ClassifyConfig> {
        let c = &self.common;
        let mut cfg = match &c.config {
            Some(path) => ClassifyConfig::load(path)?,
            None => ClassifyConfig::default(),
        };
        cfg.epochs = c.epochs.unwrap_or(cfg.epochs);
        cfg.batch_size = c.batch_size.unwrap_or(cfg.batch_size);
        cfg.lr = c.lr.unwrap_or(cfg.lr);
        cfg.side = self.input_size.unwrap_or(cfg.side);
        cfg.margin = self.margin.unwrap_or(cfg.margin);
        cfg.balance &= !self.no_balance;
        cfg.class_names.extend(class_name_pairs(&self.class_names));
        cfg.validate().map_err(edge::exit::usage)?;
        Ok(cfg)
    }
}

/// `facecam-train classify`.
fn classify(a: TrainArgs) -> Result<()> {
    let cfg = a.config()?;
    let c = &a.common;
    if c.data.data.is_empty() {
        // A classifier's recipe holds no data: --data is needed even with --config.
        return Err(edge::exit::usage(anyhow::anyhow!("--data: give at least one data source")));
    }
    let device = c.device.unwrap_or(DeviceChoice::Auto).resolve()?;
    let mut samples = load_any(&c.data.data)?;
    if let Some(list) = &c.exclude {
        let left_out = host_train::data::drop_listed(&mut samples, list)?;
        log::info!("left out {left_out} photos listed in {}", list.display());
    }
    let set = FaceSet::load(&samples, None, cfg.min_face_px)?;
    // A display name for a class the data does not have is found now, not at export.
    cfg.display_names(&set.classes).map_err(|e| edge::exit::usage(e.context(c.data.data.join(" "))))?;
    let val = match c.val.is_empty() {
        true => None,
        false => Some(FaceSet::load(&load_any(&c.val)?, Some(&set.classes), cfg.min_face_px)?),
    };
    let meta = train::train(&set, val.as_ref(), &c.data.data.join(" "), &cfg, &a.out, c.resume, device)?;
    let last = meta.history.last().copied().unwrap_or([f64::NAN; 4]);
    println!(
        "trained {} epochs: loss {:.4}, validation balanced accuracy {:.3}, {:.0} CPU s; checkpoint in {}",
        meta.epochs,
        last[0],
        last[2],
        last[3],
        a.out.display()
    );
    if let Some(out) = &c.export {
        export(&a.out, out)?;
    }
    Ok(())
}

/// `facecam-train classify-eval`: on ground-truth boxes and, with a detector, its boxes.
fn evaluate(model: &Path, data: &[String], detector: Option<PathBuf>, out: &Path) -> Result<()> {
    let mut classifier = edge::classifier::Classifier::load(model)?;
    let card = classifier.card().clone();
    // Every labelled face counts, whatever its size: the camera sees them all.
    let set = FaceSet::load(&load_any(data)?, Some(&card.classes), 1.0)?;
    let majority = card.majority_class();
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let mut reports = vec![eval::on_ground_truth(&mut classifier, &set, majority)?];
    if let Some(path) = &detector {
        let mut det = edge::detector::Detector::load(path)?;
        reports.push(eval::on_detections(&mut classifier, &mut det, &set, majority)?);
    }
    for (r, name) in reports.iter().zip(["confusion.png", "confusion-detector.png"]) {
        print!("{}", eval::table(r));
        eval::confusion_png(r, &out.join(name))?;
    }
    if let Some(grid) = eval::mistakes_grid(&mut classifier, &set, 48)? {
        edge::atomic::write_png(&out.join("mistakes.png"), &grid)?;
    }
    let json = serde_json::json!({ "model": model.display().to_string(), "data": data.join(" "), "reports": reports });
    edge::atomic::write(&out.join("report.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    println!("report, confusion matrices and mistakes in {}", out.display());
    Ok(())
}

fn export(checkpoint: &Path, out: &Path) -> Result<()> {
    edge::atomic::refuse_input(out, &super::files_in(checkpoint))?;
    let card = train::export_checkpoint(checkpoint, out)?;
    println!(
        "exported a {}-class classifier ({}, {} epochs) to {}",
        card.classes.len(),
        card.provenance.data,
        card.provenance.epochs,
        out.display()
    );
    Ok(())
}
