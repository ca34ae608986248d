//! `facecam bench`: what the camera loop costs on this machine, stage by stage, on a
//! 640x480 MJPEG stream made from the sample photos, plus model load time and peak
//! memory. One thread per stage; tract on the threads [`crate::detector::set_threads`]
//! gave it (1 by default).

use crate::detector::{Detector, LoadOptions};
use crate::model::{iou, BBox};
use crate::overlay::{compose, hud::HudInfo, Style};
use crate::pipeline::{self, RunOptions, RunParts};
use crate::preprocess::{normalize_into, resize_to_input};
use crate::sink::{fbdev, FrameReport, Sink};
use crate::source::{decode::decode_jpeg, mjpeg::MjpegSource};
use crate::track::{jitter_px, Tracker, TrackerConfig};
use anyhow::{Context, Result};
use image::RgbImage;
use serde::Serialize;
use std::path::Path;
use std::sync::{atomic::AtomicBool, Arc};
use std::time::{Duration, Instant};

/// Frames per pan across one photo in the benchmark stream.
pub const PAN_FRAMES: u32 = 50;

/// Width and height of the benchmark stream (a common webcam mode).
pub const STREAM_SIZE: (u32, u32) = (640, 480);

/// One stage's mean latency.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// What the stage does.
    pub name: &'static str,
    /// Mean milliseconds per frame.
    pub mean_ms: f64,
    /// 95th-percentile milliseconds per frame.
    pub p95_ms: f64,
}

/// Everything `facecam bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The model file.
    pub model: String,
    /// Threads for tract's matrix products.
    pub threads: usize,
    /// Its input size.
    pub input: (u32, u32),
    /// Frames in the stream.
    pub frames: u32,
    /// Mean size of one JPEG frame, bytes.
    pub jpeg_bytes: usize,
    /// Seconds to load and optimise the model.
    pub model_load_s: f64,
    /// Stages run one after another on one thread.
    pub stages: Vec<Stage>,
    /// Sum of the stage means: one frame's latency with no pipelining.
    pub serial_ms: f64,
    /// Frames per second of the threaded run loop, every frame processed.
    pub pipeline_fps: f64,
    /// Peak resident memory of the bench process itself, MiB (VmHWM; it holds the stream).
    pub peak_rss_mib: f64,
    /// Peak resident memory of a separate `facecam run` playing the stream to a
    /// framebuffer file, MiB: what the camera costs on a board.
    pub run_peak_rss_mib: Option<f64>,
    /// Jitter of the largest face's box as detected, pixels (see [`crate::track::jitter_px`]).
    pub jitter_raw_px: f64,
    /// The same face's box after the tracker.
    pub jitter_tracked_px: f64,
}

impl BenchReport {
    /// A Markdown table of the results.
    pub fn table(&self) -> String {
        let mut s = format!(
            "model {} at {}x{}, tract on {} thread(s); {} frames of {}x{} MJPEG ({} KiB each)\n\n| stage | mean ms | p95 ms |\n|---|---|---|\n",
            self.model,
            self.input.0,
            self.input.1,
            self.threads,
            self.frames,
            STREAM_SIZE.0,
            STREAM_SIZE.1,
            self.jpeg_bytes / 1024
        );
        for st in &self.stages {
            s += &format!("| {} | {:.2} | {:.2} |\n", st.name, st.mean_ms, st.p95_ms);
        }
        s += &format!("| **all stages, one after another** | {:.2} | |\n\n", self.serial_ms);
        s += &format!(
            "threaded run loop: {:.1} fps; model load {:.3} s; peak RSS of `facecam run` {}\n",
            self.pipeline_fps,
            self.model_load_s,
            self.run_peak_rss_mib.map_or("not measured".into(), |m| format!("{m:.1} MiB")),
        );
        s += &format!(
            "box jitter on the panning stream: {:.2} px detected, {:.2} px tracked ({:.2}x)\n",
            self.jitter_raw_px,
            self.jitter_tracked_px,
            self.jitter_tracked_px / self.jitter_raw_px.max(1e-9)
        );
        s
    }
}

/// The process's peak resident set size in MiB, from /proc (0 where there is none).
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// A kB field of `/proc/self/status` (`VmHWM:`, `VmRSS:`…) in MiB; 0 where unreadable.
pub fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(String::from))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// A 640x480 MJPEG stream of `frames` frames: a slow pan across the sample photos (or
/// the test pattern when they are missing), JPEG quality 85 like a webcam.
pub fn make_stream(samples: &Path, frames: u32) -> Result<Vec<Vec<u8>>> {
    let mut photos: Vec<RgbImage> = crate::source::files::collect_images(&[samples.to_path_buf()])
        .unwrap_or_default()
        .iter()
        .filter_map(|p| crate::source::decode::read_image(p).ok())
        .collect();
    if photos.is_empty() {
        photos.push(crate::source::pattern::Pattern::new(800, 600).render(0));
    }
    let (w, h) = STREAM_SIZE;
    (0..frames)
        .map(|i| {
            let photo = &photos[(i / PAN_FRAMES) as usize % photos.len()];
            // Zoom so the photo covers the frame with room to pan, then pan sideways.
            let scale = (w as f32 * 1.25 / photo.width() as f32).max(h as f32 / photo.height() as f32);
            let big = image::imageops::resize(
                photo,
                (photo.width() as f32 * scale) as u32,
                (photo.height() as f32 * scale) as u32,
                image::imageops::FilterType::Triangle,
            );
            let room = big.width().saturating_sub(w);
            let x = (room as f32 * (i % PAN_FRAMES) as f32 / (PAN_FRAMES - 1) as f32) as u32;
            let frame = image::imageops::crop_imm(&big, x, 0, w, h.min(big.height())).to_image();
            let mut jpeg = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85).encode_image(&frame)?;
            Ok(jpeg)
        })
        .collect()
}

/// The mean and 95th percentile of `times`, as a named stage.
pub(crate) fn stage(name: &'static str, mut times: Vec<Duration>) -> Stage {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean_ms = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len().max(1) as f64;
    let p95_ms = times.get(times.len() * 95 / 100).map_or(0.0, |d| ms(*d));
    Stage { name, mean_ms, p95_ms }
}

/// The names of the stages timed one after another, in order.
const STAGE_NAMES: [&str; 7] = [
    "decode JPEG",
    "resize + normalise",
    "network (tract)",
    "decode boxes + NMS",
    "track",
    "draw overlays",
    "display (framebuffer)",
];

/// Run the benchmark with the model loaded by `load`; sample photos are read from
/// `samples/` beside the model's folder or the working directory.
pub fn run(model: &Path, load: &LoadOptions, frames: u32) -> Result<BenchReport> {
    let frames = frames.max(10);
    let t0 = Instant::now();
    let mut detector = Detector::load_with(model, load)?;
    let model_load_s = t0.elapsed().as_secs_f64();
    let input = detector.input_size();
    let samples = ["samples".into(), model.parent().unwrap_or(Path::new(".")).join("../samples")]
        .into_iter()
        .find(|p: &std::path::PathBuf| p.is_dir())
        .unwrap_or_else(|| "samples".into());
    let stream = make_stream(&samples, frames)?;
    let jpeg_bytes = stream.iter().map(Vec::len).sum::<usize>() / stream.len();

    let screen_file = std::env::temp_dir().join(format!("facecam-bench-fb-{}", std::process::id()));
    let geometry = fbdev::Geometry::xrgb8888(STREAM_SIZE.0, STREAM_SIZE.1);
    std::fs::write(&screen_file, vec![0u8; geometry.required_len().context("framebuffer size")?])?;
    let mut screen = fbdev::Framebuffer::open_file(&screen_file, geometry)?;

    let mut style = Style { boxes: true, hud: true, ..Default::default() };
    let baseline = resize_baseline(&stream, input)?;
    let (times, followed) = time_serially(&stream, &mut detector, &mut style, &mut screen)?;
    let mut stages: Vec<Stage> = STAGE_NAMES.iter().zip(times).map(|(n, t)| stage(n, t)).collect();
    let serial_ms = stages.iter().map(|s| s.mean_ms).sum();
    stages.push(stage("(baseline: image crate resize alone)", baseline));
    let (jitter_raw_px, jitter_tracked_px) = jitter(&followed);

    // The same stream through the threaded loop, every frame processed.
    let stats = run_threaded(&stream, detector, &mut style, &mut screen)?;
    drop(screen);
    let run_peak_rss_mib = child_run_rss(&stream, &screen_file, model, &LoadOptions { size: Some(input), ..*load });
    let _ = std::fs::remove_file(&screen_file);
    Ok(BenchReport {
        model: model.display().to_string(),
        threads: crate::detector::threads(),
        input,
        frames,
        jpeg_bytes,
        model_load_s,
        stages,
        serial_ms,
        pipeline_fps: stats.fps,
        peak_rss_mib: peak_rss_mib(),
        run_peak_rss_mib,
        jitter_raw_px,
        jitter_tracked_px,
    })
}

/// The baseline our resize replaced, timed on the stream's first 50 frames: the image
/// crate's triangle filter, same output.
fn resize_baseline(stream: &[Vec<u8>], input: (u32, u32)) -> Result<Vec<Duration>> {
    let mut baseline = Vec::new();
    for jpeg in stream.iter().take(50) {
        let frame = decode_jpeg(jpeg)?;
        let t = Instant::now();
        let _ = image::imageops::resize(&frame, input.0, input.1, image::imageops::FilterType::Triangle);
        baseline.push(t.elapsed());
    }
    Ok(baseline)
}

/// Each stage of [`STAGE_NAMES`] timed on every frame of `stream`, one after another on
/// this thread; with the largest face per frame, as detected and as tracked (for the
/// jitter measure).
#[allow(clippy::type_complexity)]
fn time_serially(
    stream: &[Vec<u8>],
    detector: &mut Detector,
    style: &mut Style,
    screen: &mut fbdev::Framebuffer,
) -> Result<(Vec<Vec<Duration>>, Vec<Option<(BBox, BBox)>>)> {
    let input = detector.input_size();
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut chw = vec![0f32; (3 * input.0 * input.1) as usize];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); STAGE_NAMES.len()];
    let mut followed: Vec<Option<(BBox, BBox)>> = Vec::new();
    for jpeg in stream {
        let mut lap = Instant::now();
        let mut mark = |i: usize, times: &mut Vec<Vec<Duration>>| {
            let now = Instant::now();
            times[i].push(now - lap);
            lap = now;
        };
        let mut frame = decode_jpeg(jpeg)?;
        mark(0, &mut times);
        normalize_into(&resize_to_input(&frame, input.0, input.1), &detector.card().input, &mut chw);
        mark(1, &mut times);
        let raw = detector.forward_tensor(&chw)?;
        mark(2, &mut times);
        let dets = detector.decode(&raw, frame.width(), frame.height());
        mark(3, &mut times);
        let faces = tracker.update(&dets);
        mark(4, &mut times);
        followed.push(dets.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())).and_then(|d| {
            let t = faces.iter().max_by(|a, b| iou(&a.bbox, &d.bbox).total_cmp(&iou(&b.bbox, &d.bbox)))?;
            Some((d.bbox, t.bbox))
        }));
        compose(&mut frame, &faces, style, &HudInfo::default());
        mark(5, &mut times);
        let (width, height) = frame.dimensions();
        let report = FrameReport { seq: 0, time: 0.0, width, height, latency_ms: 0.0, faces, events: Vec::new() };
        screen.show(&frame, &report)?;
        mark(6, &mut times);
    }
    Ok((times, followed))
}

/// `stream` through the threaded loop of `facecam run`, every frame processed.
fn run_threaded(
    stream: &[Vec<u8>],
    detector: Detector,
    style: &mut Style,
    screen: &mut fbdev::Framebuffer,
) -> Result<pipeline::RunStats> {
    let bytes: Vec<u8> = stream.concat();
    let source = MjpegSource::from_reader(Box::new(std::io::Cursor::new(bytes)), "bench stream")?;
    let options = RunOptions { every_frame: true, max_frames: None, report_every: None, ..Default::default() };
    let parts =
        RunParts { source: Box::new(source), detector, tracker: Tracker::new(TrackerConfig::default()), labeler: None };
    pipeline::run(parts, style, screen, &options, Arc::new(AtomicBool::new(false)))
}

/// Mean jitter of the detected and the tracked box over every run of consecutive frames
/// with a face inside one pan (the stream moves at constant speed within a pan, so any
/// second difference is wobble, not motion).
fn jitter(followed: &[Option<(BBox, BBox)>]) -> (f64, f64) {
    let (mut raw, mut tracked, mut runs) = (0.0, 0.0, 0);
    for pan in followed.chunks(PAN_FRAMES as usize) {
        for run in pan.split(Option::is_none).filter(|r| r.len() >= 3) {
            let (r, t): (Vec<BBox>, Vec<BBox>) = run.iter().map(|x| x.expect("split on None")).unzip();
            raw += jitter_px(&r) as f64;
            tracked += jitter_px(&t) as f64;
            runs += 1;
        }
    }
    (raw / runs.max(1) as f64, tracked / runs.max(1) as f64)
}

/// Play the stream through `facecam run` (this same binary) in a child process and
/// return the peak RSS it reports for itself (its own VmHWM: the kernel's rusage of a
/// child started by vfork also counts the parent's pages from before the exec); `None`
/// when this process is not the `facecam` binary (a test harness) or the child fails.
fn child_run_rss(stream: &[Vec<u8>], screen_file: &Path, model: &Path, load: &LoadOptions) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    if exe.file_stem()? != "facecam" {
        return None;
    }
    let mjpeg = screen_file.with_extension("mjpeg");
    std::fs::write(&mjpeg, stream.concat()).ok()?;
    std::fs::write(screen_file, vec![0u8; (STREAM_SIZE.0 * STREAM_SIZE.1 * 4) as usize]).ok()?;
    let out = std::process::Command::new(exe)
        .args(["run", "--source", &format!("mjpeg:{}", mjpeg.display())])
        .args(["--model".as_ref(), model.as_os_str()])
        .args(["--threads", &crate::detector::threads().to_string(), "--int8", &load.int8.to_string()])
        .args(["--kernels", &load.kernels.to_string()])
        .args(load.size.map(|(w, h)| ["--input-size".to_string(), format!("{w}x{h}")]).into_iter().flatten())
        .args(["--sink", &format!("fbfile:{}@{}x{}@32", screen_file.display(), STREAM_SIZE.0, STREAM_SIZE.1)])
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&mjpeg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stderr.lines().rev().find(|l| l.contains("peak RSS"))?;
    summary.rsplit("peak RSS ").next()?.split_whitespace().next()?.parse().ok()
}
