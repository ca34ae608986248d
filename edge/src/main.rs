//! `facecam`: the face-detector camera's command line.

use anyhow::{bail, Result};
use clap::{CommandFactory, Parser, Subcommand};
use edge::cmdline::{f32_in, float_in, DocCommand, Verbosity};
use edge::preprocess::parse_size;
use edge::{detector::Detector, jobs::annotate::annotate_files, model::AnyCard};
use std::io::Write;
use std::ops::Bound::{Excluded, Included};
use std::path::PathBuf;

mod cli;

#[derive(Parser)]
#[command(
    name = "facecam",
    version = edge::cmdline::VERSION,
    about = "A standalone face-detector camera",
    after_help = edge::cmdline::ENVIRONMENT_HELP
)]
struct Cli {
    #[command(flatten)]
    verbosity: Verbosity,
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
        /// The exported ONNX model (its card says how to run it)
        /// [default: `facecam.onnx` from the model search path, `facecam paths`]
        #[arg(long, default_value_os_t = edge::paths::default_model(), hide_default_value = true)]
        model: PathBuf,
        /// Minimum face probability, in (0, 1) (default: the model card's, else 0.6).
        #[arg(long, value_parser = edge::cmdline::probability)]
        threshold: Option<f32>,
        /// Run at this input size instead of the card's, e.g. 640x480.
        #[arg(long, value_parser = parse_size)]
        input_size: Option<(u32, u32)>,
        /// Label each face with this face classifier (`facecam-train classify`).
        #[arg(long)]
        classifier: Option<PathBuf>,
        #[command(flatten)]
        engine: cli::Engine,
    },
    /// Print a model's card (a detector's or a classifier's).
    Card {
        /// The ONNX model whose card to print
        /// [default: `facecam.onnx` from the model search path, `facecam paths`]
        #[arg(default_value_os_t = edge::paths::default_model(), hide_default_value = true)]
        model: PathBuf,
    },
    /// The camera: capture → detect → track → draw → display, until Ctrl-C.
    Run(RunArgs),
    /// Save pictures from the camera for a dataset (JPEG + labelme JSON).
    Capture(CaptureArgs),
    /// List V4L2 cameras with their formats and sizes.
    Devices,
    /// Where models, board profiles and stickers are looked for, in order, and what each
    /// folder holds.
    Paths,
    /// Save what a framebuffer shows as a PNG.
    Screenshot {
        /// The framebuffer, as a sink spec: fb:/dev/fb0, fbfile:…, xvfb:….
        #[arg(long, default_value = "fb:/dev/fb0")]
        sink: String,
        /// The PNG to write.
        out: PathBuf,
    },
    /// Per-stage latency, end-to-end FPS, model load time and peak memory.
    Bench(cli::BenchArgs),
    /// Time `detect` (preprocess + network + decode + NMS) on one fixed frame; see bench/race.py.
    Race(RaceArgs),
    /// Push many frames (100,000 by default) through the whole loop, corrupt ones among
    /// them, and report whether memory stays flat.
    Soak(cli::SoakArgs),
    #[command(flatten)]
    Doc(DocCommand),
}

#[derive(clap::Args)]
struct RaceArgs {
    /// The exported ONNX model
    /// [default: `facecam.onnx` from the model search path, `facecam paths`]
    #[arg(long, default_value_os_t = edge::paths::default_model(), hide_default_value = true)]
    model: PathBuf,
    /// The photo the frame is made from (stretched to --size).
    #[arg(long, default_value = "samples/astronaut.png")]
    image: PathBuf,
    /// Frame and model input size, WIDTHxHEIGHT.
    #[arg(long, alias = "size", value_parser = parse_size, default_value = "320x240")]
    input_size: (u32, u32),
    /// Untimed runs first (0..=100000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    warmup: u64,
    /// Timed runs (1..=1000000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    iterations: u64,
    /// Also time preprocess, network and decode + NMS separately.
    #[arg(long)]
    stages: bool,
    /// Also profile the network per operator over this many runs (0..=100000; 0 = off).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    profile: u64,
    /// Write the frame as a PPM here (so other engines can run the same pixels).
    #[arg(long)]
    dump_frame: Option<PathBuf>,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
    /// Time the network alone, on any ONNX file (no card needed): its first input fixed
    /// to 1x3xHxW at --size and fed the frame's pixels as 0..1.
    #[arg(long, conflicts_with = "stages")]
    network_only: bool,
    #[command(flatten)]
    engine: cli::Engine,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    common: cli::Common,
    // Its help, like the kinds it takes, comes from the table of sinks (edge::sink::SINKS).
    #[arg(long = "sink", value_parser = cli::sink_spec, help = edge::sink::help(), long_help = edge::sink::long_help())]
    sinks: Vec<String>,
    /// The web view's token, needed by every route but /healthz (default: the contents of
    /// /etc/facecam/http-token, if any); required for a non-loopback address.
    #[arg(long)]
    http_token: Option<String>,
    /// Web view clients streaming at once, 1..=64; the next gets 503.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    http_max_viewers: u64,
    /// Publish Home Assistant discovery config with the MQTT sink.
    #[arg(long)]
    mqtt_discovery: bool,
    /// Seconds a face must stay in view before `face_appeared`, 0..=3600.
    #[arg(long, default_value_t = 0.5, value_parser = float_in(0.0..=3600.0, "seconds"))]
    min_face_seconds: f64,
    /// Seconds between periodic `count` events, 0..=86400 (0: only when the count changes).
    #[arg(long, default_value_t = 10.0, value_parser = float_in(0.0..=86_400.0, "seconds"))]
    count_every: f64,
    /// Put a sticker on every face: a name from assets/stickers (sunglasses, party-hat,
    /// smiley) or a PNG path. With --classifier, CLASS=NAME picks one per class and
    /// CLASS=none exempts a class (CLASS: its id or display name); repeat the flag for
    /// several.
    #[arg(long, value_name = "[CLASS=]NAME")]
    sticker: Vec<String>,
    /// Hide every face: pixelate or blur. With --classifier, CLASS=HOW per class and
    /// CLASS=none exempts one (`--privacy blur --privacy known=none`: all but the known
    /// ones; CLASS: its id or display name, `--privacy "no mask=blur"`). Faces not
    /// classified yet get the default.
    #[arg(long, value_name = "[CLASS=]HOW")]
    privacy: Vec<String>,
    /// Do not draw face boxes.
    #[arg(long)]
    no_boxes: bool,
    /// Do not draw the frame-rate/latency display.
    #[arg(long)]
    no_hud: bool,
    /// Stop after this many frames (1 or more).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    /// Process every frame in order, never dropping stale ones (default for file sources).
    #[arg(long)]
    every_frame: bool,
    /// Leave the last frame on the display at exit instead of restoring what was there.
    #[arg(long)]
    keep_screen: bool,
    /// Tracker smoothing: weight of a new detection, in (0, 1]; 1 = off.
    #[arg(long, default_value_t = 0.3, value_parser = f32_in((Excluded(0.0), Included(1.0)), ""))]
    smoothing: f32,
    /// Label each tracked face with this face classifier (`facecam-train classify`).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// With --classifier: classify each face again every N frames, 1..=10000 (and
    /// whenever its box has moved), averaging over the track.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000), requires = "classifier")]
    classify_every: u32,
    #[command(flatten)]
    snapshots: edge::snapshots::flags::SnapshotFlags,
}

#[derive(clap::Args)]
struct CaptureArgs {
    #[command(flatten)]
    common: cli::Common,
    /// Folder for the pictures and their labelme JSON.
    #[arg(long, default_value = "captures")]
    out: PathBuf,
    /// Save a picture every SECONDS, 0..=86400 (default when no other trigger is given: 2).
    #[arg(long, conflicts_with_all = ["key", "button"], value_parser = float_in(0.0..=86_400.0, "seconds"))]
    every: Option<f64>,
    /// Save a picture each time Enter is pressed.
    #[arg(long, conflicts_with = "button")]
    key: bool,
    /// Save a picture on a GPIO button press: CHIP:LINE, e.g. /dev/gpiochip0:17 (active low).
    #[arg(long)]
    button: Option<String>,
    /// Stop after this many pictures (with --crops: face crops), 1..=1000000.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    count: Option<u32>,
    /// Pre-label each picture with the model's faces.
    #[arg(long, conflicts_with = "crops")]
    label: bool,
    /// Save the model's faces as square crops in OUT/CLASS/ (a face classifier's data,
    /// read by `facecam-train` as `crops:OUT`) instead of whole pictures.
    #[arg(long, requires = "class")]
    crops: bool,
    /// The class the crops are of (a folder name: letters, digits, `-`, `_`, `.`), e.g.
    /// `alice` or `smiling`.
    #[arg(long, requires = "crops", value_parser = class_name)]
    class: Option<String>,
    /// With --crops: context kept around each face, a fraction of its longer side, 0..=1.
    #[arg(long, default_value_t = 0.2, value_parser = edge::cmdline::unit, requires = "crops")]
    margin: f32,
}

fn main() -> std::process::ExitCode {
    // glibc's malloc, tuned for a long-running camera (measured in docs/BENCHMARKS.md):
    // - every tensor from the heap, and the heap kept: an mmap threshold above the
    //   largest tensor or frame, and a trim threshold above the whole working set.
    //   glibc's defaults map and unmap each tensor over 128 KiB, or (once its dynamic
    //   threshold rises) grow and trim the heap on every frame; a fixed 256 KiB threshold
    //   (until 2026-12-07) did the former. Either way each frame paid page faults for
    //   memory it had just given back: ~3,800 a frame, half the frame's time. The heap
    //   now settles at the working set's peak after the first frames;
    // - two arenas instead of one per allocating thread for the three stages.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = Cli::parse();
    cli.verbosity.init_logging();
    edge::exit::exit_code(run(cli))
}

/// A class name that is one plain folder name (no `/`, `..` or hidden file).
fn class_name(s: &str) -> Result<String, String> {
    let plain = s.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c));
    match !s.is_empty() && plain && !s.starts_with('.') && s.len() <= 64 {
        true => Ok(s.to_string()),
        false => Err(format!("`{s}` is not a plain folder name (letters, digits, `-`, `_`, `.`; at most 64)")),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Doc(doc) => doc.run(Cli::command())?,
        Command::Detect { inputs, out, model, threshold, input_size, classifier, engine } => {
            if !model.exists() {
                bail!(
                    "{}: no such model; export one with `facecam-train export`, or run `make demo` and pass \
                     --model out/demo/model.onnx",
                    model.display()
                );
            }
            engine.apply_threads(None)?;
            let mut detector = Detector::load_with(&model, &engine.load_options(input_size))?;
            if let Some(t) = threshold {
                detector.options.score_threshold = t;
            }
            let mut classifier = classifier.map(edge::classifier::Classifier::load).transpose()?;
            let summary = annotate_files(&mut detector, classifier.as_mut(), &inputs, &out, true)?;
            log::info!(
                "{} image(s), {} face(s), {} skipped; results in {}",
                summary.images,
                summary.faces,
                summary.skipped.len(),
                out.display()
            );
        }
        Command::Card { model } => {
            // The card and the graph's names only: no plan is built just to print it.
            // The card's kind picks the reader, which also checks the graph's names against it.
            let qdq = edge::int8::Int8Path::Qdq;
            let json = match AnyCard::read_file(&model)? {
                AnyCard::Classifier(_) => {
                    serde_json::to_string_pretty(&edge::classifier::read_classifier(&model, qdq)?.1)?
                }
                AnyCard::Detector(_) => serde_json::to_string_pretty(&edge::detector::read_model(&model, qdq)?.1)?,
            };
            // A closed pipe (`facecam card | head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{json}");
        }
        Command::Run(args) => run_camera(args)?,
        Command::Capture(args) => capture(args)?,
        Command::Devices => cli::devices()?,
        Command::Paths => print!("{}", edge::paths::report()),
        Command::Screenshot { sink, out } => {
            let fb = edge::sink::fbdev::open_spec(&sink)?;
            edge::atomic::write_png(&out, &fb.snapshot()?)?;
            log::info!("{} ({}x{}) saved to {}", fb.name(), fb.dimensions().0, fb.dimensions().1, out.display());
        }
        Command::Bench(args) => cli::bench(args)?,
        Command::Race(args) => race(args)?,
        Command::Soak(args) => cli::soak(args)?,
    }
    Ok(())
}

fn race(args: RaceArgs) -> Result<()> {
    if let Some(path) = &args.dump_frame {
        edge::atomic::refuse_input(path, &[args.image.clone(), args.model.clone()])?;
        edge::jobs::race::write_ppm(&edge::jobs::race::make_frame(&args.image, args.input_size)?, path)?;
    }
    args.engine.apply_threads(None)?;
    if args.network_only {
        let frame = edge::jobs::race::make_frame(&args.image, args.input_size)?;
        let (warmup, iterations, profile) = (args.warmup as usize, args.iterations as usize, args.profile as usize);
        let report = edge::jobs::race_net::run(&args.model, &frame, args.engine.kernels, warmup, iterations, profile)?;
        let text = if args.json { serde_json::to_string(&report)? } else { report.summary() };
        let _ = writeln!(std::io::stdout(), "{text}");
        return Ok(());
    }
    let opts = edge::jobs::race::RaceOptions {
        model: args.model,
        int8: args.engine.int8,
        kernels: args.engine.kernels,
        image: args.image,
        size: args.input_size,
        warmup: args.warmup as usize,
        iterations: args.iterations as usize,
        stages: args.stages,
        profile_runs: args.profile as usize,
    };
    let report = edge::jobs::race::run(&opts)?;
    let text = if args.json { serde_json::to_string(&report)? } else { report.summary() };
    let _ = writeln!(std::io::stdout(), "{text}");
    Ok(())
}

fn run_camera(args: RunArgs) -> Result<()> {
    let stop = cli::stop_on_signals()?;
    let (source, every_frame) = args.common.open_source()?;
    let detector = args.common.load_detector()?;
    let labeler = (args.classifier.as_ref().map(edge::classifier::Classifier::load).transpose()?).map(|c| {
        edge::labels::TrackLabeler::new(
            c,
            edge::labels::LabelConfig { every: args.classify_every, ..Default::default() },
        )
    });
    let sinks = match (args.sinks.is_empty(), args.common.board()?) {
        (false, _) => args.sinks.clone(),
        (true, Some(board)) => vec![board.sink],
        (true, None) => vec!["fb:/dev/fb0".to_string()],
    };
    let mut sink = open_sinks(&args, &sinks, &detector)?;
    let card = labeler.as_ref().map(|l| l.classifier().card().clone());
    let mut style = run_style(&args, card.as_ref())?;
    let config = edge::track::TrackerConfig { smoothing: args.smoothing.clamp(0.01, 1.0), ..Default::default() };
    let options = edge::pipeline::RunOptions {
        every_frame: args.every_frame || every_frame,
        max_frames: args.frames,
        events: edge::events::EventConfig {
            min_duration: args.min_face_seconds,
            count_every: (args.count_every > 0.0).then_some(args.count_every),
        },
        ..Default::default()
    };
    log::info!("{} → {} (Ctrl-C to stop)", source.describe(), sinks.join(", "));
    let parts = edge::pipeline::RunParts { source, detector, tracker: edge::track::Tracker::new(config), labeler };
    let stats = edge::pipeline::run(parts, &mut style, sink.as_mut(), &options, stop)?;
    log::info!(
        "{} frames shown in {:.1} s ({:.1} fps, {:.0} ms latency); {} dropped, {} corrupt, {} faces; peak RSS {:.1} MiB",
        stats.shown,
        stats.seconds,
        stats.fps,
        stats.latency_ms,
        stats.dropped,
        stats.corrupt,
        stats.faces,
        edge::jobs::bench::peak_rss_mib()
    );
    if let Some(e) = stats.source_error {
        bail!("the source failed: {e}");
    }
    // Nothing shown is a failure (a camera that gave nothing), unless the run was stopped.
    if stats.shown == 0 && !cli::signalled() {
        bail!("{}: ended without a single frame to show", args.common.source_spec()?);
    }
    Ok(())
}

/// The sinks of `facecam run`, with the web view's token and the text about the run
/// that the web page and MQTT show; all of them fed through one [`edge::sink::Tee`],
/// behind the snapshot tap with `--snapshots`.
fn open_sinks(args: &RunArgs, sinks: &[String], detector: &Detector) -> Result<Box<dyn edge::sink::Sink>> {
    #[cfg(feature = "web")]
    let http_token = edge::sink::web::WebOptions::find_token(
        args.http_token.as_deref(),
        std::path::Path::new(edge::sink::web::TOKEN_FILE),
    )?;
    #[cfg(not(feature = "web"))]
    let http_token = args.http_token.clone();
    let sink_options = edge::sink::SinkOptions {
        http_token,
        http_max_viewers: args.http_max_viewers as usize,
        mqtt_discovery: args.mqtt_discovery,
        snapshots: args.snapshots.snapshots.clone(),
        about: format!(
            "{} · {} ({}x{})",
            args.common.board.as_deref().unwrap_or("host"),
            args.common.model.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            detector.card().input.width,
            detector.card().input.height
        ),
    };
    let mut opened: Vec<Box<dyn edge::sink::Sink>> =
        sinks.iter().map(|s| edge::sink::open(s, &sink_options)).collect::<Result<_>>()?;
    if args.keep_screen {
        opened =
            opened.into_iter().map(|s| Box::new(edge::sink::KeepOnClose(s)) as Box<dyn edge::sink::Sink>).collect();
    }
    let tee = Box::new(edge::sink::Tee(opened));
    Ok(match args.snapshots.config() {
        Some(config) => Box::new(edge::snapshots::SnapshotTap::start(&config, tee)?),
        None => tee,
    })
}

/// How `facecam run` draws: boxes, HUD, and the stickers and privacy masks (per class,
/// each class given by its id or display name and checked against the classifier's card;
/// a bad one is a usage error).
fn run_style(args: &RunArgs, card: Option<&edge::model::ClassifierCard>) -> Result<edge::overlay::Style> {
    use edge::overlay::{sticker::Sticker, PerClass, Style};
    let sticker = PerClass::parse(&args.sticker, "sticker", |name| {
        cli::find_sticker(name).and_then(|p| Sticker::load(&p)).map_err(|e| format!("{e:#}"))
    })
    .and_then(|s| s.resolve_classes("sticker", card))
    .map_err(|e| edge::exit::usage(anyhow::anyhow!(e)))?;
    let privacy = PerClass::parse(&args.privacy, "privacy", str::parse)
        .and_then(|p| p.resolve_classes("privacy", card))
        .map_err(|e| edge::exit::usage(anyhow::anyhow!(e)))?;
    Ok(Style { boxes: !args.no_boxes, sticker, privacy, hud: !args.no_hud })
}

fn capture(args: CaptureArgs) -> Result<()> {
    use edge::jobs::capture::{Every, KeyPress, Trigger};
    let stop = cli::stop_on_signals()?;
    let (mut source, _) = args.common.open_source()?;
    let mut trigger: Box<dyn Trigger> = if args.key {
        log::info!("press Enter to take a picture, Ctrl-C to stop");
        Box::new(KeyPress::new(std::io::BufReader::new(std::io::stdin())))
    } else if let Some(button) = &args.button {
        cli::button_trigger(button)?
    } else {
        Box::new(Every::new(std::time::Duration::from_secs_f64(args.every.unwrap_or(2.0).max(0.0))))
    };
    let count = args.count.map(|c| c as usize);
    if let Some(class) = &args.class {
        let mut detector = args.common.load_detector()?;
        let opts = edge::jobs::capture::CropOptions { margin: args.margin, ..Default::default() };
        let (src, trig) = (source.as_mut(), trigger.as_mut());
        let summary =
            edge::jobs::capture::capture_crops(src, trig, &args.out, class, opts, count, &mut detector, &stop)?;
        log::info!(
            "{} face crop(s) of `{class}` in {}; `facecam-train import --data crops:{}` lists them by class",
            summary.saved.len(),
            args.out.join(class).display(),
            args.out.display()
        );
        return Ok(());
    }
    let mut detector = if args.label { Some(args.common.load_detector()?) } else { None };
    let summary =
        edge::jobs::capture::capture(source.as_mut(), trigger.as_mut(), &args.out, count, detector.as_mut(), &stop)?;
    log::info!(
        "{} picture(s) in {} ({} face(s) pre-labelled); open the folder in labelme to check the boxes",
        summary.saved.len(),
        args.out.display(),
        summary.faces
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_has_help_and_the_shared_names() {
        edge::cmdline::assert_conventions(Cli::command());
    }

    #[test]
    fn class_names_are_plain_folder_names() {
        assert_eq!(class_name("alice_2"), Ok("alice_2".into()));
        for bad in ["../evil", "a/b", "", ".hidden", "x y"] {
            assert!(class_name(bad).is_err(), "{bad}");
        }
    }
}
