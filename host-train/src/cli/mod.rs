//! The command line of `facecam-train`: the subcommands and the options several share,
//! parsed once; [`run`] hands each subcommand to one small function in the modules below
//! (data, training, models, the classifier, the bench).

use anyhow::{bail, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use edge::cmdline::{DocCommand, Verbosity};
use host_train::data::{Sample, Source};
use std::path::PathBuf;

mod bench;
mod classify;
mod data;
mod model;
mod recipe;
mod train;
mod val;

#[derive(Parser)]
#[command(
    name = "facecam-train",
    version = edge::cmdline::VERSION,
    about = "Train and export facecam's face detector and face classifier",
    after_help = edge::cmdline::ENVIRONMENT_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub verbosity: Verbosity,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Generate a synthetic labelled face set (JPEG + labelme JSON).
    Synth(data::SynthArgs),
    /// Check data sources and print what they hold.
    Import(data::ImportArgs),
    /// What the trainer teaches: a PNG grid of augmented samples at the model input, faces
    /// (magenta), ignore regions (yellow), priors taught as faces (green boxes), ignored
    /// priors (grey dots) and, with --checkpoint, the negatives mining picks (red boxes);
    /// and a table of those counts by face size.
    Augment(data::AugmentArgs),
    /// Train a detector; a checkpoint is written after every epoch. Settings come from
    /// `--config FILE.toml` (a recipe, e.g. recipes/*.toml), then the flags given here.
    Train(train::TrainArgs),
    /// Recipes: `--print` the default one (every key, its meaning and range), `--check
    /// RECIPE` read one without training.
    Config(recipe::ConfigArgs),
    /// Training images/s of this trainer next to an equivalent PyTorch-Python loop.
    Bench(bench::BenchArgs),
    /// Export a checkpoint to ONNX (BatchNorm folded, model card embedded).
    Export(model::ExportArgs),
    /// Official WIDER FACE val AP (easy/medium/hard) of an exported model, with a PR-curve PNG.
    WiderEval(model::WiderEvalArgs),
    /// Quantize an exported model (a detector or a face classifier) to int8 QDQ,
    /// calibrating activations on real images (face crops, for a classifier).
    Quantize(model::QuantizeArgs),
    #[command(flatten)]
    Classifier(classify::ClassifyCommand),
    /// Recall and false positives per image of an exported model at IoU 0.5.
    Eval(model::EvalArgs),
    /// AP at IoU 0.5 of an exported model on labelled photos, its PR curve, and the
    /// threshold the card rule picks (optionally written into the model's card).
    Val(val::ValArgs),
    #[command(flatten)]
    Doc(DocCommand),
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let progress = cli.verbosity.progress();
    match cli.command {
        Command::Synth(a) => data::synth(a),
        Command::Import(a) => data::import(a),
        Command::Augment(a) => data::augment(a),
        Command::Train(a) => train::train(a, progress),
        Command::Config(a) => recipe::config(a),
        Command::Bench(a) => bench::bench(a),
        Command::Export(a) => model::export(a),
        Command::WiderEval(a) => model::wider_eval(a),
        Command::Quantize(a) => model::quantize(a, progress),
        Command::Classifier(c) => classify::run(c),
        Command::Eval(a) => model::eval(a),
        Command::Val(a) => val::val(a, progress),
        Command::Doc(d) => d.run(Cli::command()),
    }
}

/// Where labelled photos come from (repeatable), shared by every command that reads data.
#[derive(Args)]
pub struct DataArgs {
    /// A data source, `KIND:PATH[@OPTION]…` (repeat for several): kinds wider, labelme,
    /// voc, coco, yolo, crops; options a class list (`a,b`, `*` for all) and a split
    /// (`train`, `val`, `test`, or `=70/15/15` percent).
    #[arg(long = "data", required = true, value_parser = data_spec)]
    pub data: Vec<String>,
}

/// A data source spec that parses (its files are read later): a bad one is a usage error.
pub fn data_spec(s: &str) -> Result<String, String> {
    Source::parse(s).map(|_| s.to_string()).map_err(|e| format!("{e:#}"))
}

/// A count option's parser: a whole number in `lo..=hi`.
pub fn count(lo: u64, hi: u64) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(lo..=hi)
}

/// Load the detector's data: photos with their faces (crop folders hold no background).
pub fn load_photos(specs: &[String]) -> Result<Vec<Sample>> {
    load(specs, false)
}

/// Samples of every source, crop folders included (a classifier's data).
pub fn load_any(specs: &[String]) -> Result<Vec<Sample>> {
    load(specs, true)
}

/// Every source's samples, each source required to hold some; crop folders only when
/// `crops` (one face per file cannot teach a detector).
fn load(specs: &[String], crops: bool) -> Result<Vec<Sample>> {
    let mut all = Vec::new();
    for spec in specs {
        let source = Source::parse(spec)?;
        if source.is_crops() && !crops {
            bail!("{spec}: face crops (one face per file, no background) cannot teach a detector; use photos");
        }
        let samples = source.load()?;
        if samples.is_empty() {
            bail!("{spec}: no images");
        }
        all.extend(samples);
    }
    Ok(all)
}

/// Create the folder an output file goes into.
pub fn create_parent(path: &std::path::Path) -> Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    Ok(())
}

/// The files in a checkpoint folder and in its set of checkpoint files (none when they
/// cannot be listed: reading fails later with its own message), so an export cannot
/// write over one of them.
pub fn files_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let list = |d: &std::path::Path| -> Vec<PathBuf> {
        std::fs::read_dir(d).map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect()).unwrap_or_default()
    };
    let files = host_train::checkpoint::files_dir(dir);
    let mut all = list(dir);
    if files != dir {
        all.extend(list(&files));
    }
    all
}

/// The Python with torch that comparisons run: the flag, `FACECAM_PYTHON`, else python3.
pub fn python(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("FACECAM_PYTHON").map(PathBuf::from)).unwrap_or_else(|| "python3".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_has_help_and_the_shared_names() {
        edge::cmdline::assert_conventions(Cli::command());
    }

    #[test]
    fn usage_errors_are_found_while_parsing() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).err().map(|e| e.exit_code());
        for bad in [
            &["facecam-train", "eval", "--data", "voc:x", "--threshold", "NaN"][..],
            &["facecam-train", "eval", "--data", "voc:x", "--threshold", "1.5"],
            &["facecam-train", "train", "--data", "voc:x", "--proxy-stride", "0"],
            &["facecam-train", "train", "--data", "voc:x", "--limit", "0"],
            &["facecam-train", "train", "--data", "voc:x", "--stop-after", "0"],
            &["facecam-train", "export", "--threshold", "0"],
            &["facecam-train", "import", "--data", "voc:x@test=70/30/x"],
            &["facecam-train", "import", "--data", "nonsense"],
            &["facecam-train", "bench", "--steps", "0"],
            &["facecam-train", "bench", "--batch-size", "0"],
        ] {
            assert_eq!(parse(bad), Some(2), "{bad:?}");
        }
        assert_eq!(parse(&["facecam-train", "-q", "import", "--data", "voc:x@test=70/15/15"]), None);
        // Old spellings still parse, hidden.
        assert_eq!(parse(&["facecam-train", "train", "--data", "voc:x", "--input", "320x240", "--quiet"]), None);
    }
}
