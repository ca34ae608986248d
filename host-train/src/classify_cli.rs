//! `facecam-train classify`, `classify-export` and `classify-eval`: the classifier's
//! commands, beside the detector's in `main.rs`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use host_train::classify::{eval, faces::FaceSet, train, ClassifyConfig};
use host_train::config::DeviceChoice;
use host_train::data::{Sample, Source};
use std::path::{Path, PathBuf};

/// The classifier's subcommands.
#[derive(Subcommand)]
pub enum ClassifyCommand {
    /// Train a face classifier on labelled boxes (their classes are the labels) or on
    /// face crops (`crops:DIR`, one folder per class); a checkpoint after every epoch.
    Classify(TrainArgs),
    /// Export a classifier checkpoint to ONNX with its card.
    ClassifyExport {
        #[arg(long, default_value = "out/classifier")]
        checkpoint: PathBuf,
        #[arg(long, default_value = "out/classifier.onnx")]
        out: PathBuf,
    },
    /// Per-class precision and recall, balanced accuracy, the majority baseline and a
    /// confusion PNG of an exported classifier, on ground-truth boxes and, with
    /// --detector, on the detector's own boxes.
    ClassifyEval {
        #[arg(long, default_value = "out/classifier.onnx")]
        model: PathBuf,
        /// Test data, as `import --data` takes it (e.g. `voc:DIR@test`).
        #[arg(long = "data", required = true)]
        data: Vec<String>,
        /// Also classify the crops of this detector's boxes (misses count as misses).
        #[arg(long)]
        detector: Option<PathBuf>,
        /// Where to write `report.json`, the confusion PNGs and a grid of mistakes.
        #[arg(long, default_value = "out/classify-eval")]
        out: PathBuf,
    },
}

/// `classify`'s flags.
#[derive(Args)]
pub struct TrainArgs {
    #[arg(long = "data", required = true)]
    data: Vec<String>,
    /// Validation data: loss and balanced accuracy each epoch.
    #[arg(long = "val")]
    val: Vec<String>,
    /// Checkpoint directory.
    #[arg(long, default_value = "out/classifier")]
    out: PathBuf,
    /// A TOML recipe (see `ClassifyConfig`); the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    epochs: Option<u32>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    /// Input side in pixels (16..=256).
    #[arg(long)]
    side: Option<u32>,
    /// Crop margin per side, a fraction of the face's longer side (0..=1).
    #[arg(long)]
    margin: Option<f32>,
    /// Do not weight the loss by inverse class frequency.
    #[arg(long)]
    no_balance: bool,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Continue the run in --out.
    #[arg(long)]
    resume: bool,
    /// Also export the final checkpoint to this ONNX file.
    #[arg(long)]
    export: Option<PathBuf>,
    /// Leave out of training the photos named in this file (one file name per line, e.g.
    /// `recipes/holdout.txt`, so the sample photos stay unseen); names not in the
    /// training data are fine (they may sit in another split).
    #[arg(long)]
    exclude: Option<PathBuf>,
}

/// Samples of every source, crop folders included.
pub(crate) fn load(specs: &[String]) -> Result<Vec<Sample>> {
    let mut all = Vec::new();
    for spec in specs {
        let samples = Source::parse(spec)?.load()?;
        if samples.is_empty() {
            anyhow::bail!("{spec}: no images");
        }
        all.extend(samples);
    }
    Ok(all)
}

/// Run a classifier command.
pub fn run(command: ClassifyCommand) -> Result<()> {
    match command {
        ClassifyCommand::Classify(a) => {
            let mut cfg = match &a.config {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
                    ClassifyConfig::from_toml_str(&text).with_context(|| format!("{}: bad recipe", path.display()))?
                }
                None => ClassifyConfig::default(),
            };
            cfg.epochs = a.epochs.unwrap_or(cfg.epochs);
            cfg.batch_size = a.batch_size.unwrap_or(cfg.batch_size);
            cfg.lr = a.lr.unwrap_or(cfg.lr);
            cfg.side = a.side.unwrap_or(cfg.side);
            cfg.margin = a.margin.unwrap_or(cfg.margin);
            cfg.balance &= !a.no_balance;
            cfg.validate().map_err(edge::exit::usage)?;
            let device = a.device.resolve()?;
            let mut samples = load(&a.data)?;
            if let Some(list) = &a.exclude {
                let left_out = host_train::data::drop_listed(&mut samples, list)?;
                eprintln!("left out {left_out} photos listed in {}", list.display());
            }
            let set = FaceSet::load(&samples, None, cfg.min_face_px)?;
            let val = if a.val.is_empty() {
                None
            } else {
                Some(FaceSet::load(&load(&a.val)?, Some(&set.classes), cfg.min_face_px)?)
            };
            let meta = train::train(&set, val.as_ref(), &a.data.join(" "), &cfg, &a.out, a.resume, device)?;
            let last = meta.history.last().copied().unwrap_or([f64::NAN; 4]);
            println!(
                "trained {} epochs: loss {:.4}, validation balanced accuracy {:.3}, {:.0} CPU s; checkpoint in {}",
                meta.epochs,
                last[0],
                last[2],
                last[3],
                a.out.display()
            );
            if let Some(out) = &a.export {
                export(&a.out, out)?;
            }
        }
        ClassifyCommand::ClassifyExport { checkpoint, out } => export(&checkpoint, &out)?,
        ClassifyCommand::ClassifyEval { model, data, detector, out } => {
            let mut classifier = edge::classifier::Classifier::load(&model)?;
            let card = classifier.card().clone();
            // Every labelled face counts, whatever its size: the camera sees them all.
            let set = FaceSet::load(&load(&data)?, Some(&card.classes), 1.0)?;
            let majority = card.majority_class();
            std::fs::create_dir_all(&out).with_context(|| format!("{}: cannot create", out.display()))?;
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
            let json =
                serde_json::json!({ "model": model.display().to_string(), "data": data.join(" "), "reports": reports });
            edge::atomic::write(&out.join("report.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
            println!("report, confusion matrices and mistakes in {}", out.display());
        }
    }
    Ok(())
}

fn export(checkpoint: &Path, out: &Path) -> Result<()> {
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
