//! `facecam run`: its options, the config file that can give them, and the run itself.

use crate::cli;
use anyhow::{bail, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, Parser};
use edge::cmdline::{f32_in, float_in};
use edge::config::ConfigFile;
use edge::detector::Detector;
use edge::zones::Zones;
use std::ops::Bound::{Excluded, Included};
use std::path::PathBuf;

/// The options of `facecam run`; each also a key of its config file ([`edge::config`]).
#[derive(clap::Args)]
pub struct RunArgs {
    /// Read settings from this TOML file (one key per flag, `facecam config --print`;
    /// `[[zone]]` and `[[mask]]` polygons); flags given here override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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

/// Run the camera until Ctrl-C (or the source ends), with the config file's zones.
pub fn run_camera(args: RunArgs, zones: Zones) -> Result<()> {
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
    let zones = std::sync::Arc::new(zones);
    let mut sink = open_sinks(&args, &sinks, &detector, &zones)?;
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
        zones,
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
fn open_sinks(
    args: &RunArgs,
    sinks: &[String],
    detector: &Detector,
    zones: &std::sync::Arc<Zones>,
) -> Result<Box<dyn edge::sink::Sink>> {
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
        zones: zones.clone(),
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

/// The `run` subcommand of facecam's command line, built (with its help flag).
pub fn run_command() -> clap::Command {
    let mut cmd = crate::Cli::command();
    cmd.build();
    cmd.find_subcommand("run").cloned().unwrap_or_else(|| clap::Command::new("run"))
}

/// Parse `argv` (a whole command line) as facecam's, turning clap's error into one usage
/// line about `file`.
fn reparse(argv: Vec<std::ffi::OsString>, file: &std::path::Path) -> Result<crate::Cli> {
    crate::Cli::try_parse_from(argv).map_err(|e| {
        let e = anyhow::anyhow!("{}: {}", file.display(), edge::config::clap_message(&e));
        edge::exit::usage(e)
    })
}

/// `run`'s options with the config file's settings (those not given as flags) added, and
/// its zones; the options as they are without `--config`. `matches`: `run`'s own.
pub fn with_config(args: RunArgs, matches: &ArgMatches) -> Result<(RunArgs, Zones)> {
    let Some(path) = args.config.clone() else { return Ok((args, Zones::default())) };
    let config = ConfigFile::load(&path, &run_command())?;
    let (n, zones, masks) = (config.settings.len(), config.zones.zones.len(), config.zones.masks.len());
    log::info!("settings from {}: {n} key(s), {zones} zone(s), {masks} mask(s)", path.display());
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    let argv: Vec<_> = std::env::args_os().chain(config.words_unless(given)).collect();
    match reparse(argv, &path)?.command {
        crate::Command::Run(args) => Ok((args, config.zones)),
        _ => bail!("{}: the command line changed meaning with the file's settings", path.display()),
    }
}

/// Check a config file as `facecam run --config FILE` would read it, and also that the
/// files it names exist; returns its summary (`FILE: OK: 3 settings, 1 zone, 1 mask`).
pub fn check_config(path: &std::path::Path) -> Result<String> {
    let config = ConfigFile::load(path, &run_command())?;
    let argv = ["facecam", "run", "--config"].map(std::ffi::OsString::from).into_iter();
    reparse(argv.chain([path.as_os_str().to_owned()]).chain(config.words_unless(|_| false)).collect(), path)?;
    for setting in &config.settings {
        if let Some(missing) = setting.paths.iter().find(|p| !p.exists()) {
            let e = anyhow::anyhow!("{}: key `{}`: {}: no such file", setting.at, setting.key, missing.display());
            return Err(edge::exit::usage(e));
        }
    }
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    Ok(format!(
        "{}: OK: {}, {}, {}",
        path.display(),
        plural(config.settings.len(), "setting"),
        plural(config.zones.zones.len(), "zone"),
        plural(config.zones.masks.len(), "mask")
    ))
}

/// `facecam config`: check a config file, or print the default one.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct ConfigArgs {
    /// Check this file as `facecam run --config FILE` reads it (keys, values, the files it
    /// names, zones and masks) without running: one line, `FILE: OK: …`, and exit 0, or
    /// the first error and exit 2.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
    /// Print the commented default file: every key with its help, defaults commented out.
    #[arg(long)]
    pub print: bool,
}

/// Run `facecam config`.
pub fn config(args: ConfigArgs) -> Result<()> {
    use std::io::Write;
    let text = match &args.check {
        Some(path) => check_config(path)? + "\n",
        None => edge::config::default_file(&run_command()),
    };
    // A closed pipe (`facecam config --print | head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}
