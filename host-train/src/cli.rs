//! The command line of `facecam-train`: its subcommands, their options and the ranges each
//! numeric option accepts. What each command does is in `main.rs`.

use clap::{Parser, Subcommand};
use edge::preprocess::parse_size;
use host_train::config::{DeviceChoice, OptimizerKind, Schedule};
use host_train::eval::run_wider::{self, EvalSize};
use host_train::net::Arch;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "facecam-train", version, about = "Train and export facecam's face detector and face classifier")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Generate a synthetic labelled face set (JPEG + labelme JSON).
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 200)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Image size, WIDTHxHEIGHT.
        #[arg(long, default_value = "320x240", value_parser = parse_size)]
        size: (u32, u32),
    },
    /// Check data sources and print what they hold.
    Import {
        /// `KIND:PATH[@OPTION]…`: kinds wider, labelme, voc, coco, yolo, crops; options a class
        /// list (`a,b`, `*` for all) and a split (`train`, `val`, `test`, `=70/15/15` percent).
        #[arg(long = "data", required = true)]
        data: Vec<String>,
    },
    /// What the trainer teaches: a PNG grid of augmented samples at the model input, faces
    /// (magenta), ignore regions (yellow), priors taught as faces (green boxes), ignored
    /// priors (grey dots) and, with --checkpoint, the negatives mining picks (red boxes);
    /// and a table of those counts by face size.
    Augment {
        #[arg(long = "data", required = true)]
        data: Vec<String>,
        /// Write the grid here.
        #[arg(long, default_value = "out/augment-preview.png")]
        preview: PathBuf,
        /// Samples to draw (1..=256).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        count: u16,
        /// Input size, WIDTHxHEIGHT (default: the config's, or 320x240).
        #[arg(long, value_parser = parse_size)]
        input: Option<(u32, u32)>,
        /// Labelling and augmentation settings from a training config (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// A checkpoint whose network ranks the negatives, as mining does while it trains.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Show the images as they are, without augmentation.
        #[arg(long)]
        no_augment: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Train a detector; a checkpoint is written after every epoch. Settings come from
    /// `--config FILE.toml` (see `TrainConfig`), then the flags given here.
    Train {
        #[arg(long = "data", required = true)]
        data: Vec<String>,
        /// Held-out validation data (same forms as --data): a validation loss each epoch,
        /// loss curves and a grid of predictions vs ground truth in the checkpoint folder.
        #[arg(long = "val")]
        val: Vec<String>,
        /// Checkpoint directory.
        #[arg(long, default_value = "out/checkpoint")]
        out: PathBuf,
        /// A TOML training config.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        epochs: Option<u32>,
        #[arg(long)]
        batch_size: Option<usize>,
        #[arg(long)]
        lr: Option<f64>,
        #[arg(long, value_enum)]
        optimizer: Option<OptimizerKind>,
        #[arg(long, value_enum)]
        schedule: Option<Schedule>,
        #[arg(long, value_enum)]
        device: Option<DeviceChoice>,
        /// Network family.
        #[arg(long, value_enum)]
        arch: Option<Arch>,
        /// Model input size, WIDTHxHEIGHT.
        #[arg(long, value_parser = parse_size)]
        input: Option<(u32, u32)>,
        /// Channel multiplier of the network.
        #[arg(long)]
        width: Option<f64>,
        /// Stop after this epoch (the schedule still spans --epochs); continue with --resume.
        #[arg(long)]
        stop_after: Option<u32>,
        /// Continue the run in `--out` from its last checkpoint.
        #[arg(long)]
        resume: bool,
        /// Start from the weights of this checkpoint folder, e.g. the shipped model's run
        /// (`runs/default-2026-12-01`), with a fresh optimiser and schedule: fine-tuning
        /// on your own photos.
        #[arg(long, conflicts_with = "resume")]
        init: Option<PathBuf>,
        /// Turn training augmentation off (it is on by default).
        #[arg(long)]
        no_augment: bool,
        /// Decode training images from disk for every batch instead of keeping them
        /// decoded in memory (for sets larger than memory; slower).
        #[arg(long)]
        no_cache: bool,
        /// Use at most this many images (for quick runs).
        #[arg(long)]
        limit: Option<usize>,
        /// Leave out the images named in this file (one file name per line), e.g. the
        /// photos held out for testing (`recipes/holdout.txt`).
        #[arg(long)]
        exclude: Option<PathBuf>,
        #[arg(long)]
        seed: Option<u64>,
        /// Also export the final checkpoint to this ONNX file.
        #[arg(long)]
        export: Option<PathBuf>,
        /// Proxy AP during training: the WIDER val images folder (`EVENT/NAME.jpg`); the
        /// official protocol on every `--proxy-stride`-th image, through the exported model.
        #[arg(long)]
        proxy_images: Option<PathBuf>,
        /// The official WIDER val `.mat` files for the proxy.
        #[arg(long, default_value = "../shared/data/widerface-val-gt/ground_truth")]
        proxy_gt: PathBuf,
        /// Every this many-th val image is in the proxy slice (1..=1000).
        #[arg(long, default_value_t = 10)]
        proxy_stride: usize,
        /// Measure the proxy every this many epochs (1..=1000).
        #[arg(long, default_value_t = 1)]
        proxy_every: u32,
        /// No progress output.
        #[arg(long)]
        quiet: bool,
    },
    /// Training images/s of this trainer next to an equivalent PyTorch-Python loop.
    Bench {
        /// Network family.
        #[arg(long, value_enum, default_value_t = Arch::Slim)]
        arch: Arch,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value = "320x240", value_parser = parse_size)]
        input: (u32, u32),
        #[arg(long, default_value_t = 10)]
        steps: usize,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
        device: DeviceChoice,
        /// Python with torch for the baseline (`FACECAM_PYTHON` or python3 by default).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Skip the Python baseline.
        #[arg(long)]
        no_python: bool,
        #[arg(long, default_value = "out/bench")]
        out: PathBuf,
    },
    /// Export a checkpoint to ONNX (BatchNorm folded, model card embedded).
    Export {
        #[arg(long, default_value = "out/checkpoint")]
        checkpoint: PathBuf,
        #[arg(long, default_value = "out/model.onnx")]
        out: PathBuf,
        /// Recommended face threshold to store in the card (e.g. chosen on validation data), 0..=1.
        #[arg(long, value_parser = unit_f32)]
        score_threshold: Option<f32>,
    },
    /// Official WIDER FACE val AP (easy/medium/hard) of an exported model, with a PR-curve PNG.
    WiderEval {
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
        /// Lowest score kept for the PR curve, 0..=1.
        #[arg(long, default_value_t = run_wider::eval_options().score_threshold, value_parser = unit_f32)]
        score_threshold: f32,
        /// NMS IoU for the evaluation, 0..=1 (1 keeps every box).
        #[arg(long, default_value_t = run_wider::eval_options().nms_iou, value_parser = unit_f32)]
        nms_iou: f32,
        /// Most boxes per image before NMS, 1..=100000.
        #[arg(long, default_value_t = run_wider::eval_options().top_k, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
        top_k: usize,
        /// Most candidates per image entering NMS (the strongest), 1..=100000.
        #[arg(long, default_value_t = run_wider::eval_options().candidates, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
        candidates: usize,
        /// Plain NMS instead of box voting (by default each face's box is the
        /// score-weighted mean of the boxes it suppressed, as on the camera).
        #[arg(long)]
        no_vote: bool,
        /// Where to write the PR curves, the predictions and `ap.json`.
        #[arg(long, default_value = "out/wider-eval")]
        out: PathBuf,
    },
    /// Quantize an exported model (a detector or a face classifier) to int8 QDQ,
    /// calibrating activations on real images (face crops, for a classifier).
    Quantize {
        /// The fp32 model exported by `export`.
        #[arg(long, default_value = "out/model.onnx")]
        model: PathBuf,
        /// Calibration images, as `import --data` takes them.
        #[arg(long = "data", required = true)]
        data: Vec<String>,
        /// Calibration images to use (face crops, for a face classifier), spread evenly
        /// over the data, 1..=100000.
        #[arg(long, default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
        count: usize,
        /// How activation ranges are chosen from the calibration values.
        #[arg(long, value_enum, default_value_t = CalibrationKind::Percentile)]
        calibration: CalibrationKind,
        /// Percentile for `--calibration percentile`, above 50 and at most 100.
        #[arg(long, default_value_t = 99.999, value_parser = percentile_f64)]
        percentile: f64,
        /// Layers to keep in fp32: `first` (the RGB input conv), `last` (the head convs).
        #[arg(long, value_enum, value_delimiter = ',')]
        keep_fp32: Vec<KeepFp32>,
        /// Skip cross-layer equalization (on by default; it is exact in fp32).
        #[arg(long)]
        no_equalize: bool,
        /// Calibration input size, WIDTHxHEIGHT (default: the card's).
        #[arg(long, value_parser = parse_size)]
        input: Option<(u32, u32)>,
        #[arg(long, default_value = "out/model-int8.onnx")]
        out: PathBuf,
    },
    #[command(flatten)]
    Classifier(crate::classify_cli::ClassifyCommand),
    /// Recall and false positives per image of an exported model at IoU 0.5.
    Eval {
        #[arg(long, default_value = "out/model.onnx")]
        model: PathBuf,
        #[arg(long = "data", required = true)]
        data: Vec<String>,
        /// Face score threshold, in (0, 1).
        #[arg(long, default_value_t = 0.6)]
        threshold: f32,
        /// Only the images named in this file (one file name per line), e.g. the held-out
        /// photos of `recipes/holdout.txt`.
        #[arg(long)]
        only: Option<PathBuf>,
    },
}

/// Activation calibration methods of `quantize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CalibrationKind {
    Minmax,
    Percentile,
}

/// Layers `quantize` can leave in fp32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeepFp32 {
    First,
    Last,
}

/// A value in 0..=1 (a score or an IoU).
pub fn unit_f32(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not in 0..=1"))
    }
}

/// A percentile above 50 and at most 100 (calibration keeps the upper tail).
pub fn percentile_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v > 50.0 && v <= 100.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not in (50, 100]"))
    }
}
