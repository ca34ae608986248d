//! The camera's run loop: capture → detect + track → compose + display, each stage on
//! its own thread so the slowest stage alone bounds the frame rate.
//!
//! Stages hand frames over through one-frame [`Slot`]s. On a live source a new frame
//! replaces one still waiting (it is counted as dropped): the screen shows the newest
//! picture, never a queue of old ones. On files every frame is processed in order.
//! Setting the stop flag (SIGINT/SIGTERM in `facecam run`) ends all stages and the
//! sink is closed, which puts the display back as it was.

use crate::detector::Detector;
use crate::events::{EventConfig, FaceEvents};
use crate::labels::TrackLabeler;
use crate::overlay::{compose, hud::HudInfo, Style};
use crate::sink::{FrameReport, Sink};
use crate::source::{clock::Clock, Frame, FrameSource, SourceError};
use crate::track::{Track, Tracker};
use crate::zones::Zones;
use anyhow::Result;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the end of a run waits for the capture thread to let go of its source (a
/// source's read timeout is 5 s: a quiet pipe notices the stop flag within it).
pub const CAPTURE_GRACE: Duration = Duration::from_secs(6);

mod slot;
pub use slot::Slot;

/// Run-loop settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Process every frame in order (files) instead of always the newest (cameras).
    pub every_frame: bool,
    /// Stop after showing this many frames.
    pub max_frames: Option<u64>,
    /// Print a stats line to stderr this often (`None`: quiet).
    pub report_every: Option<Duration>,
    /// When tracks become face events ([`crate::events`]).
    pub events: EventConfig,
    /// Masks (faces there are dropped before tracking) and named zones (carried on faces).
    pub zones: Arc<Zones>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            every_frame: false,
            max_frames: None,
            report_every: Some(Duration::from_secs(5)),
            events: EventConfig::default(),
            zones: Arc::default(),
        }
    }
}

/// Mean time per frame of one stage.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTime {
    /// Frames timed.
    pub frames: u64,
    /// Mean milliseconds per frame.
    pub mean_ms: f64,
}

impl StageTime {
    fn add(&mut self, d: Duration) {
        self.frames += 1;
        self.mean_ms += (d.as_secs_f64() * 1e3 - self.mean_ms) / self.frames as f64;
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunStats {
    /// Frames the source delivered.
    pub captured: u64,
    /// Frames the source could not decode (skipped).
    pub corrupt: u64,
    /// Waits on the source that timed out.
    pub timeouts: u64,
    /// Frames replaced by newer ones before a stage got to them.
    pub dropped: u64,
    /// Frames shown.
    pub shown: u64,
    /// Faces shown, summed over frames.
    pub faces: u64,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// Frames shown per second.
    pub fps: f64,
    /// Mean capture-to-shown latency, milliseconds.
    pub latency_ms: f64,
    /// Detector (preprocess, network, decode, NMS) time per frame.
    pub detect: StageTime,
    /// Tracker time per frame.
    pub track: StageTime,
    /// Classifier time per frame (with `--classifier`; every frame counted, also those
    /// where no track was due).
    pub classify: StageTime,
    /// Overlay composition time per frame.
    pub compose: StageTime,
    /// Sink (display) time per frame.
    pub display: StageTime,
    /// Why the source ended early, if it failed.
    pub source_error: Option<String>,
}

struct Detected {
    frame: Frame,
    faces: Vec<Track>,
    detect: Duration,
    track: Duration,
    classify: Option<Duration>,
}

/// What a run is made of: the source, read on the capture thread, and the detector,
/// tracker and optional labeler (which classifies tracked faces), run on the detect thread.
pub struct RunParts {
    /// Where frames come from (read on the capture thread).
    pub source: Box<dyn FrameSource>,
    /// Finds faces in each frame.
    pub detector: Detector,
    /// Follows the detected faces from frame to frame, giving them ids.
    pub tracker: Tracker,
    /// Classifies tracked faces (with `--classifier`); `None` runs without labels.
    pub labeler: Option<TrackLabeler>,
}

/// The counts the capture and detect stages keep while the display stage runs.
#[derive(Default)]
struct Counters {
    /// Frames the source delivered.
    captured: AtomicU64,
    /// Frames the source could not decode.
    corrupt: AtomicU64,
    /// Waits on the source that timed out.
    timeouts: AtomicU64,
    /// Frames replaced by newer ones before a stage got to them.
    dropped: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What the three stages share: the hand-over slots, the counts and the stop flag.
struct Shared {
    frames: Slot<Frame>,
    detected: Slot<Detected>,
    counters: Counters,
    /// Why the source ended early, if it failed.
    source_error: Mutex<Option<String>>,
    stop: Arc<AtomicBool>,
    /// Lossless hand-over (every frame in order) instead of the newest frame.
    wait: bool,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Run the camera loop until the source ends, `max_frames` are shown, or `stop` is set;
/// with a labeler, tracked faces are also classified. The sink is closed before
/// returning, also after an error.
pub fn run(
    parts: RunParts,
    style: &mut Style,
    sink: &mut dyn Sink,
    options: &RunOptions,
    stop: Arc<AtomicBool>,
) -> Result<RunStats> {
    let RunParts { source, detector, tracker, labeler } = parts;
    let shared = Arc::new(Shared {
        frames: Slot::default(),
        detected: Slot::default(),
        counters: Counters::default(),
        source_error: Mutex::default(),
        stop,
        wait: options.every_frame,
    });

    // Capture: it notices the stop flag at its next frame or read timeout and exits,
    // dropping the source (which stops a `pipe:` child). Waited for at the end, within
    // [`CAPTURE_GRACE`]: a source blocked in a read must not hold the exit up for ever.
    let capture_thread = {
        let shared = shared.clone();
        std::thread::Builder::new().name("capture".into()).spawn(move || capture_stage(source, &shared))?
    };
    let detect_thread = {
        let (shared, zones) = (shared.clone(), options.zones.clone());
        std::thread::Builder::new()
            .name("detect".into())
            .spawn(move || detect_stage(detector, (tracker, &zones), labeler, &shared))?
    };

    // Compose + display, here.
    let started = Instant::now();
    let mut events = FaceEvents::new(options.events);
    let mut clock = Clock::new();
    let (mut stats, mut display_result) = display_stage(&shared, &mut events, &mut clock, style, sink, options);

    // Wind down: tell the other stages, let the detector finish its frame, restore the screen.
    shared.stop.store(true, Ordering::Relaxed);
    shared.detected.close();
    shared.frames.close();
    let detect_result = detect_thread.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the detector thread panicked")));
    // The faces still in view leave with the run (when the sink still works).
    if display_result.is_ok() {
        display_result = sink.events(&events.finish(clock.end_time()));
    }
    let close_result = sink.close();
    // Let the capture thread drop its source: a camera pipe's child process would
    // otherwise outlive facecam, holding the camera (and our stderr) open.
    let waited = Instant::now();
    while !capture_thread.is_finished() && waited.elapsed() < CAPTURE_GRACE {
        std::thread::sleep(Duration::from_millis(10));
    }
    if capture_thread.is_finished() {
        let _ = capture_thread.join();
    }
    stats.seconds = started.elapsed().as_secs_f64();
    stats.fps = stats.shown as f64 / stats.seconds.max(1e-9);
    let counters = &shared.counters;
    stats.captured = counters.captured.load(Ordering::Relaxed);
    stats.corrupt = counters.corrupt.load(Ordering::Relaxed);
    stats.timeouts = counters.timeouts.load(Ordering::Relaxed);
    stats.dropped = counters.dropped.load(Ordering::Relaxed);
    stats.source_error = shared.source_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
    display_result?;
    detect_result?;
    close_result?;
    Ok(stats)
}

/// The capture stage: frames from the source into the `frames` slot until the source
/// ends or fails or the run stops; then the slot is closed and the source dropped.
fn capture_stage(mut source: Box<dyn FrameSource>, shared: &Shared) {
    let counters = &shared.counters;
    while !shared.stopped() {
        match source.next_frame() {
            Ok(Some(frame)) => {
                bump(&counters.captured);
                if shared.frames.put(frame, shared.wait) {
                    bump(&counters.dropped);
                }
            }
            Ok(None) => break,
            Err(SourceError::Corrupt(why)) => {
                bump(&counters.corrupt);
                log::warn!("skipped a frame: {why}");
            }
            Err(SourceError::Timeout(_)) => bump(&counters.timeouts),
            Err(SourceError::Fatal(e)) => {
                *shared.source_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{e:#}"));
                break;
            }
        }
    }
    shared.frames.close();
    drop(source);
}

/// The detect stage: detect, drop masked faces, track (and label) each frame from
/// `frames` into `detected`, naming each face's zones; both slots are closed when it
/// ends, also on an error.
fn detect_stage(
    mut detector: Detector,
    (mut tracker, zones): (Tracker, &Zones),
    mut labeler: Option<TrackLabeler>,
    shared: &Shared,
) -> Result<()> {
    let result = (|| {
        while let Some(frame) = shared.frames.take() {
            if shared.stopped() {
                break;
            }
            let t0 = Instant::now();
            let size = frame.image.dimensions();
            let dets = zones.filter(detector.detect(&frame.image)?, size);
            let t1 = Instant::now();
            if frame.cut {
                tracker.reset();
            }
            let mut faces = tracker.update(&dets);
            for face in &mut faces {
                face.zones = zones.names_at(&face.bbox, size);
            }
            let t2 = Instant::now();
            let classify = match labeler.as_mut() {
                Some(l) => {
                    l.label(&frame.image, &mut faces)?;
                    Some(t2.elapsed())
                }
                None => None,
            };
            let item = Detected { frame, faces, detect: t1 - t0, track: t2 - t1, classify };
            if shared.detected.put(item, shared.wait) {
                bump(&shared.counters.dropped);
            }
        }
        Ok(())
    })();
    shared.detected.close();
    shared.frames.close();
    result
}

/// The display stage, on the calling thread: compose each detected frame, turn its
/// tracks into events (timed by the frames' clock) and show it, until the detector's slot closes, the sink fails,
/// `max_frames` are shown or the run stops. Returns the display's half of the stats and
/// the sink's result.
fn display_stage(
    shared: &Shared,
    events: &mut FaceEvents,
    clock: &mut Clock,
    style: &mut Style,
    sink: &mut dyn Sink,
    options: &RunOptions,
) -> (RunStats, Result<()>) {
    let mut stats = RunStats::default();
    let mut last_report = Instant::now();
    let mut hud = HudInfo::default();
    let mut shown_at: Vec<Instant> = Vec::new();
    while let Some(Detected { mut frame, faces, detect, track, classify }) = shared.detected.take() {
        if shared.stopped() {
            break;
        }
        stats.detect.add(detect);
        stats.track.add(track);
        if let Some(c) = classify {
            stats.classify.add(c);
        }
        let t0 = Instant::now();
        let latency = frame.captured.elapsed();
        hud.faces = faces.len();
        compose(&mut frame.image, &faces, style, &hud);
        let t1 = Instant::now();
        stats.compose.add(t1 - t0);
        let time = clock.time_of(&frame);
        let (width, height) = frame.image.dimensions();
        let report = FrameReport {
            seq: frame.seq,
            time,
            width,
            height,
            latency_ms: latency.as_secs_f64() * 1e3,
            events: events.update(&faces, time),
            faces,
        };
        if let Err(e) = sink.show(&frame.image, &report) {
            return (stats, Err(e));
        }
        let now = Instant::now();
        stats.display.add(now - t1);
        stats.shown += 1;
        stats.faces += report.faces.len() as u64;
        stats.latency_ms += (report.latency_ms - stats.latency_ms) / stats.shown as f64;
        update_hud(&mut hud, &mut shown_at, now, report.latency_ms);
        if options.max_frames.is_some_and(|m| stats.shown >= m) {
            break;
        }
        if let Some(every) = options.report_every {
            if last_report.elapsed() >= every {
                last_report = Instant::now();
                let counters = &shared.counters;
                log::info!(
                    "{} shown, {:.1} fps, {:.0} ms latency, {} dropped, {} corrupt",
                    stats.shown,
                    hud.fps,
                    hud.latency_ms,
                    counters.dropped.load(Ordering::Relaxed),
                    counters.corrupt.load(Ordering::Relaxed)
                );
            }
        }
    }
    (stats, Ok(()))
}

/// The HUD's numbers after a frame shown at `now`: frame rate over the last second or so
/// of frames (`shown_at`), and a smoothed latency.
fn update_hud(hud: &mut HudInfo, shown_at: &mut Vec<Instant>, now: Instant, latency_ms: f64) {
    shown_at.push(now);
    shown_at.retain(|t| now - *t <= Duration::from_secs(2));
    if shown_at.len() > 1 {
        hud.fps = (shown_at.len() - 1) as f32 / (now - shown_at[0]).as_secs_f32().max(1e-3);
    }
    hud.latency_ms = hud.latency_ms * 0.9 + latency_ms as f32 * 0.1;
}
