//! `facecam`: the face-detector camera's command line.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use edge::preprocess::parse_size;
use edge::{annotate::annotate_files, detector::Detector};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "facecam", version, about = "A standalone face-detector camera")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect faces in image files or directories; write annotated PNGs and detections.jsonl.
    Detect {
        /// Image files or directories of images.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, default_value = "out/detect")]
        out: PathBuf,
        /// The exported ONNX model (its card says how to run it).
        #[arg(long, default_value = "models/facecam.onnx")]
        model: PathBuf,
        /// Minimum face probability (default: the model card's, else 0.6).
        #[arg(long)]
        threshold: Option<f32>,
        /// Run at this input size instead of the card's, e.g. 640x480.
        #[arg(long, value_parser = parse_size)]
        input_size: Option<(u32, u32)>,
    },
    /// Print a model's card.
    Card {
        #[arg(default_value = "models/facecam.onnx")]
        model: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    edge::atomic::exit_code(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Detect { inputs, out, model, threshold, input_size } => {
            if !model.exists() {
                bail!(
                    "{}: no such model; export one with `facecam-train export`, or run `make demo` and pass \
                     --model out/demo/model.onnx",
                    model.display()
                );
            }
            let mut detector = Detector::load_sized(&model, input_size)?;
            if let Some(t) = threshold {
                detector.options.score_threshold = t;
            }
            let summary = annotate_files(&mut detector, &inputs, &out, true)?;
            eprintln!(
                "{} image(s), {} face(s), {} skipped; results in {}",
                summary.images,
                summary.faces,
                summary.skipped.len(),
                out.display()
            );
        }
        Command::Card { model } => {
            let detector = Detector::load(&model)?;
            // A closed pipe (`facecam card | head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(detector.card())?);
        }
    }
    Ok(())
}
