//! The parts of the command line shared by several subcommands: opening the source and
//! the model, signals, finding stickers, and the bench and devices reports.

use anyhow::{bail, Context, Result};
use edge::board::Board;
use edge::detector::{Detector, Int8Path, Kernels, LoadOptions};
use edge::source::{FrameSource, SourceSpec};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How tract runs the model: on how many threads, and by which int8 path.
#[derive(clap::Args)]
pub struct Engine {
    /// Threads for tract's matrix products and facecam's kernels, 1..=256 (default: 1, or
    /// the board profile's with --board).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub threads: Option<usize>,
    /// How an int8 (QDQ) model runs: `weights` (int8 weights folded to fp32 at load; fp32 speed)
    /// or `qdq` (as written, every quantize/dequantize run). fp32 models ignore it.
    #[arg(long, default_value_t = Int8Path::default())]
    pub int8: Int8Path,
    /// Whose kernels run the network: `facecam` (ours where they cover a layer — 3x3
    /// depthwise and first-layer and 1x1 convolutions with their bias and ReLU, the 2x
    /// upsampling, the two-class softmax — tract's elsewhere) or `tract` (tract's own ops
    /// only, to compare).
    #[arg(long, default_value_t = Kernels::default())]
    pub kernels: Kernels,
}

impl Engine {
    /// Set tract's thread count: the flag, else `board_default`, else 1.
    pub fn apply_threads(&self, board_default: Option<usize>) -> Result<()> {
        let n = self.threads.or(board_default).unwrap_or(1);
        edge::detector::set_threads(n).with_context(|| format!("--threads {n}"))
    }

    /// Load options for a model at `size` (`None`: the card's).
    pub fn load_options(&self, size: Option<(u32, u32)>) -> LoadOptions {
        LoadOptions { size, int8: self.int8, kernels: self.kernels }
    }
}

/// A source spec that parses (checked here so a bad one is a usage error, exit 2).
pub fn source_spec(s: &str) -> Result<String, String> {
    s.parse::<SourceSpec>().map(|_| s.to_string()).map_err(|e| format!("{e:#}"))
}

/// A sink spec of a known kind (its details are checked when it opens).
pub fn sink_spec(s: &str) -> Result<String, String> {
    let kind = s.split_once(':').map_or(s, |(k, _)| k);
    match edge::sink::KINDS.contains(&kind) {
        true => Ok(s.to_string()),
        false => Err(format!("`{kind}` is not a sink kind ({})", edge::sink::KINDS.join(", "))),
    }
}

/// Options every camera command takes.
#[derive(clap::Args)]
pub struct Common {
    /// Frames from: `v4l2:/dev/video0[@WxH[@FPS]][:mjpeg|yuyv]`, `mjpeg:FILE` (- = stdin), `pipe:COMMAND`,
    /// `images:FILE_OR_DIR`, `pattern[:WxH]`. Default: the board's, else `v4l2:/dev/video0`.
    #[arg(long, value_parser = source_spec)]
    pub source: Option<String>,
    /// Frames per second of a file source (`mjpeg:FILE`, `images:`), 0.01..=1000: frame n
    /// happens at n / FPS for events, counts and `capture --every` (default: 30 for MJPEG
    /// files, 1 for images). Live sources run on the wall clock and take no --fps.
    #[arg(long, value_parser = edge::cmdline::float_in(0.01..=1000.0, "frames per second"))]
    pub fps: Option<f64>,
    /// A board profile (boards/NAME.toml) giving the default source, display and input size.
    #[arg(long)]
    pub board: Option<String>,
    /// Use the board's CSI camera pipe instead of its USB camera.
    #[arg(long, requires = "board")]
    pub csi: bool,
    /// The exported ONNX model
    /// [default: `facecam.onnx` from the model search path, `facecam paths`]
    #[arg(long, default_value_os_t = edge::paths::default_model(), hide_default_value = true)]
    pub model: PathBuf,
    /// Minimum face probability, in (0, 1) (default: the model card's).
    #[arg(long, value_parser = edge::cmdline::probability)]
    pub threshold: Option<f32>,
    /// Run the model at this input size instead of the card's, e.g. 640x480.
    #[arg(long, value_parser = edge::preprocess::parse_size)]
    pub input_size: Option<(u32, u32)>,
    #[command(flatten)]
    pub engine: Engine,
}

impl Common {
    /// The board profile, when one was named.
    pub fn board(&self) -> Result<Option<Board>> {
        self.board.as_deref().map(|name| Board::find(name, &edge::board::search_path())).transpose()
    }

    /// The source spec: the flag, else the board's, else the first camera.
    pub fn source_spec(&self) -> Result<String> {
        if let Some(s) = &self.source {
            return Ok(s.clone());
        }
        Ok(match self.board()? {
            Some(b) if self.csi => b.csi_source.with_context(|| format!("board {:?} has no CSI camera", self.board))?,
            Some(b) => b.source,
            None => "v4l2:/dev/video0".into(),
        })
    }

    /// Open the source, with the board's pixel cap (if any) in force for every picture
    /// decoded from now on; the flag says whether it is a file (process every frame). A
    /// file's frames are timed on its own timeline (`--fps`, [`edge::source::clock`]);
    /// `--fps` with a live source is a usage error.
    pub fn open_source(&self) -> Result<(Box<dyn FrameSource>, bool)> {
        if let Some(max) = self.board()?.and_then(|b| b.max_frame_pixels) {
            edge::source::decode::set_max_pixels(max);
        }
        let text = self.source_spec()?;
        let spec: SourceSpec = text.parse()?;
        match (edge::source::clock::file_rate(&spec, self.fps), self.fps) {
            (Some(fps), _) => Ok((Box::new(edge::source::clock::OwnTimeline::new(spec.open()?, fps)), true)),
            (None, Some(fps)) => Err(edge::exit::usage(anyhow::anyhow!(
                "--fps {fps}: source `{text}` is live and runs on the wall clock; --fps times mjpeg:FILE and images:"
            ))),
            (None, None) => Ok((spec.open()?, false)),
        }
    }

    /// Set tract's threads, then load the model with the threshold override applied.
    pub fn load_detector(&self) -> Result<Detector> {
        if !self.model.exists() {
            bail!("{}: no such model; export one with `facecam-train export` or pass --model", self.model.display());
        }
        let board = self.board()?;
        let input = match (self.input_size, &board) {
            (Some(size), _) => Some(size),
            (None, Some(b)) => Some(b.input_size()?),
            (None, None) => None,
        };
        self.engine.apply_threads(board.as_ref().and_then(|b| b.threads))?;
        let mut detector = Detector::load_with(&self.model, &self.engine.load_options(input))?;
        if let Some(t) = self.threshold {
            detector.options.score_threshold = t;
        }
        Ok(detector)
    }
}

/// A flag set by SIGINT or SIGTERM; a second signal exits at once.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit sees the flag set by the first signal.
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())?;
        signal_hook::flag::register(sig, stop.clone())?;
        signal_hook::flag::register(sig, SIGNALLED.clone())?;
    }
    Ok(stop)
}

/// Set once SIGINT or SIGTERM arrived (the stop flag is also set when a run ends).
static SIGNALLED: std::sync::LazyLock<Arc<AtomicBool>> = std::sync::LazyLock::new(Arc::default);

/// Whether the user (or the service manager) asked facecam to stop.
pub fn signalled() -> bool {
    SIGNALLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Where stickers are looked for, in order: [`edge::paths::search_path`] for stickers.
fn sticker_dirs() -> Vec<PathBuf> {
    edge::paths::search_path(edge::paths::Kind::Stickers)
}

/// A sticker path: the file itself when `name` names one
/// ([`edge::overlay::sticker::names_a_file`]; loading it says when it is missing), else
/// `NAME.png` in the sticker folders.
pub fn find_sticker(name: &str) -> Result<PathBuf> {
    if edge::overlay::sticker::names_a_file(name) {
        return Ok(PathBuf::from(name));
    }
    let dirs = sticker_dirs();
    if let Some(found) = dirs.iter().map(|d| d.join(format!("{name}.png"))).find(|p| p.is_file()) {
        return Ok(found);
    }
    let mut known: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(String::from))
        .collect();
    known.sort();
    known.dedup();
    bail!(
        "sticker `{name}`: no {name}.png in {}; known stickers: {} (or give a picture's path, NAME.png)",
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
        if known.is_empty() { "none".into() } else { known.join(", ") }
    )
}

/// A GPIO button trigger from `CHIP:LINE`.
#[cfg(feature = "board")]
pub fn button_trigger(spec: &str) -> Result<Box<dyn edge::jobs::capture::Trigger>> {
    let (chip, line) = spec.rsplit_once(':').with_context(|| format!("--button `{spec}`: expected CHIP:LINE"))?;
    let line: u32 = line.parse().with_context(|| format!("--button `{spec}`: line `{line}` is not a number"))?;
    Ok(Box::new(edge::button::open_cdev(Path::new(chip), line, true)?))
}

/// No GPIO in this build.
#[cfg(not(feature = "board"))]
pub fn button_trigger(_spec: &str) -> Result<Box<dyn edge::jobs::capture::Trigger>> {
    bail!("this build of facecam has no GPIO support (feature `board`)")
}

/// Print the V4L2 cameras.
pub fn devices() -> Result<()> {
    #[cfg(all(target_os = "linux", feature = "v4l2"))]
    {
        let found = edge::source::v4l2::list_devices();
        if found.is_empty() {
            println!("no V4L2 capture devices (/dev/video*) found");
        }
        for d in found {
            println!("{d}");
        }
        Ok(())
    }
    #[cfg(not(all(target_os = "linux", feature = "v4l2")))]
    bail!("this build of facecam has no V4L2 support (feature `v4l2`)")
}

/// Options of `facecam bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// The exported ONNX model
    /// [default: `facecam.onnx` from the model search path, `facecam paths`]
    #[arg(long, default_value_os_t = edge::paths::default_model(), hide_default_value = true)]
    pub model: PathBuf,
    /// Frames in the synthetic 640x480 MJPEG stream (10..=100000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    pub frames: u32,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also measure this face classifier: per face, and per frame with 1, 3 and 5 faces
    /// (tiled from samples/astronaut.png).
    #[arg(long)]
    pub classifier: Option<PathBuf>,
    #[command(flatten)]
    pub engine: Engine,
}

/// Run `facecam bench` and print its table.
pub fn bench(args: BenchArgs) -> Result<()> {
    args.engine.apply_threads(None)?;
    let report = edge::jobs::bench::run(&args.model, &args.engine.load_options(None), args.frames)?;
    println!("{}", report.table());
    let labels = (args.classifier.as_ref())
        .map(|c| {
            edge::jobs::bench_labels::run(&args.model, c, Path::new("samples/astronaut.png"), args.frames.min(100))
        })
        .transpose()?;
    if let Some(l) = &labels {
        println!("{}", l.table());
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "loop": report, "classifier": labels });
        edge::atomic::write(path, serde_json::to_string_pretty(&json)?.as_bytes())?;
    }
    Ok(())
}

/// `facecam soak`'s options.
#[derive(clap::Args)]
pub struct SoakArgs {
    /// The exported ONNX model
    /// [default: `facecam.onnx` from the model search path, `facecam paths`]
    #[arg(long, default_value_os_t = edge::paths::default_model(), hide_default_value = true)]
    pub model: PathBuf,
    /// Frames to push through the loop, 100..=10000000.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub frames: u64,
    /// Record VmRSS every this many frames, 10..=1000000.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
    pub every: u64,
    /// Where the JSON sink's lines go.
    #[arg(long, default_value = "/dev/null")]
    pub frames_json: PathBuf,
    /// Write the report (samples, peak, slope) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub engine: Engine,
}

/// Run `facecam soak` and print its summary.
pub fn soak(args: SoakArgs) -> Result<()> {
    args.engine.apply_threads(None)?;
    let sticker = edge::overlay::sticker::Sticker::load(&find_sticker("sunglasses")?)?;
    let load = args.engine.load_options(None);
    let report = edge::jobs::soak::soak(
        &args.model,
        &load,
        Some(sticker),
        Path::new("samples"),
        (args.frames, args.every),
        &args.frames_json,
    )?;
    println!(
        "{} frames ({} corrupt skipped) in {:.0} s: VmRSS peak {:.1} MiB, slope {:+.3} MiB per 10,000 frames",
        report.frames, report.corrupt, report.seconds, report.peak_mib, report.slope_mib_per_10k
    );
    if let Some(path) = &args.json {
        edge::atomic::write(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    Ok(())
}
