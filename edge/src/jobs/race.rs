//! `facecam race`: the detector's latency on one fixed frame, as one machine-readable
//! record, for `bench/race.py` to set against other face detectors run in onnxruntime.
//!
//! The frame is a sample photo resized once to the input size (320x240 by default), so
//! every contender sees the same pixels (`--dump-frame` writes them as a PPM). Each timed
//! iteration is one [`Detector::detect`]: preprocessing, the network, decoding and NMS.
//! tract runs on the threads [`crate::detector::set_threads`] gave it (1 by default), and
//! a quantized model by the chosen [`Int8Path`]. Optional extras: the time split into
//! preprocess / network / decode+NMS, and a per-operator profile of the network.

use super::timing::profile_plan;
pub use super::timing::{profile_table, Latency, OpTime};
use crate::detector::{plan_for, read_model, Detector, Int8Path, Kernels, LoadOptions};
use crate::model::Detection;
use crate::preprocess::{normalize_into, resize_to_input};
use anyhow::{bail, Context, Result};
use image::RgbImage;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tract_onnx::prelude::*;

/// What to race.
#[derive(Debug, Clone)]
pub struct RaceOptions {
    /// The exported ONNX model.
    pub model: PathBuf,
    /// How a quantized model runs.
    pub int8: Int8Path,
    /// Whose kernels run the network (facecam's swapped in, or tract's own only).
    pub kernels: Kernels,
    /// The photo the frame is made from.
    pub image: PathBuf,
    /// Frame and network input size.
    pub size: (u32, u32),
    /// Untimed runs before timing.
    pub warmup: usize,
    /// Timed runs of `detect`.
    pub iterations: usize,
    /// Also time the stages separately (preprocess, network, decode + NMS).
    pub stages: bool,
    /// Also profile the network operator by operator (this many extra runs; 0 = off).
    pub profile_runs: usize,
}

/// Median time of each stage of `detect`, run one after another.
#[derive(Debug, Clone, Serialize)]
pub struct Stages {
    /// Resize (a copy when the frame already has the input size) and normalise.
    pub preprocess_ms: f64,
    /// tract running the graph, with the copy of its input and outputs.
    pub network_ms: f64,
    /// Prior decoding, score threshold and NMS.
    pub decode_nms_ms: f64,
}

/// Everything `facecam race` measured.
#[derive(Debug, Clone, Serialize)]
pub struct RaceReport {
    /// The inference engine that ran the model (always `tract`).
    pub engine: &'static str,
    /// Path of the model, as given.
    pub model: String,
    /// Size of the model file, bytes.
    pub model_bytes: u64,
    /// Quantisation format from the card, if any.
    pub quantization: Option<String>,
    /// How the quantized model ran (`None` for an fp32 model).
    pub int8_path: Option<Int8Path>,
    /// Whose kernels ran the network.
    pub kernels: String,
    /// Frame and network input size, width by height in pixels.
    pub input: (u32, u32),
    /// Worker threads the detector ran with.
    pub threads: usize,
    /// Untimed runs before timing.
    pub warmup: usize,
    /// Timed runs of `detect`.
    pub iterations: usize,
    /// Seconds to read, parse, optimise and dry-run the model (`Detector::load_sized`).
    pub model_load_s: f64,
    /// Per-iteration `detect` latency: preprocess + network + decode + NMS.
    pub latency: Latency,
    /// Every timed iteration, milliseconds, in order.
    pub samples_ms: Vec<f64>,
    /// The stages timed separately (with `--stages`); `None` when not asked for.
    pub stages: Option<Stages>,
    /// Operator kinds by time, most expensive first.
    pub profile: Option<Vec<OpTime>>,
    /// Faces found in the frame (frame pixels), for sanity checks.
    pub faces: Vec<Detection>,
    /// Peak resident memory of this process, MiB (VmHWM), after the runs.
    pub peak_rss_mib: f64,
}

/// The race frame: `image` stretched to `size` with the detector's own resampler.
pub fn make_frame(image: &Path, size: (u32, u32)) -> Result<RgbImage> {
    let photo = crate::source::decode::read_image(image).context("cannot open the race photo")?;
    Ok(resize_to_input(&photo, size.0, size.1))
}

/// Write a frame as a binary PPM (P6), which any tool can read without an image library.
pub fn write_ppm(frame: &RgbImage, path: &Path) -> Result<()> {
    let mut bytes = format!("P6\n{} {}\n255\n", frame.width(), frame.height()).into_bytes();
    bytes.extend_from_slice(frame.as_raw());
    crate::atomic::write(path, &bytes).with_context(|| format!("{}: cannot write the frame", path.display()))
}

/// Load the model, time `detect` on the frame, and report.
pub fn run(opts: &RaceOptions) -> Result<RaceReport> {
    if opts.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let frame = make_frame(&opts.image, opts.size)?;
    let model_bytes =
        std::fs::metadata(&opts.model).with_context(|| format!("{}: no such model", opts.model.display()))?.len();

    let t0 = Instant::now();
    let mut det = Detector::load_with(
        &opts.model,
        &LoadOptions { size: Some(opts.size), int8: opts.int8, kernels: opts.kernels },
    )?;
    let model_load_s = t0.elapsed().as_secs_f64();

    let mut faces = Vec::new();
    for _ in 0..opts.warmup {
        faces = det.detect(&frame)?;
    }
    let mut times = Vec::with_capacity(opts.iterations);
    for _ in 0..opts.iterations {
        let t = Instant::now();
        faces = std::hint::black_box(det.detect(std::hint::black_box(&frame))?);
        times.push(t.elapsed());
    }

    let stages = if opts.stages { Some(time_stages(&mut det, &frame, opts.iterations)?) } else { None };
    let profile = if opts.profile_runs > 0 { Some(profile_ops(opts, &det, &frame)?) } else { None };

    Ok(RaceReport {
        engine: "tract",
        model: opts.model.display().to_string(),
        model_bytes,
        quantization: det.card().quantization.as_ref().map(|q| q.format.clone()),
        int8_path: det.int8_path(),
        kernels: opts.kernels.to_string(),
        input: opts.size,
        threads: crate::detector::threads(),
        warmup: opts.warmup,
        iterations: opts.iterations,
        model_load_s,
        latency: Latency::of(&times),
        samples_ms: times.iter().map(|d| d.as_secs_f64() * 1e3).collect(),
        stages,
        profile,
        faces,
        peak_rss_mib: crate::jobs::bench::peak_rss_mib(),
    })
}

/// Median time of each stage of `detect`, run separately `iterations` times.
fn time_stages(det: &mut Detector, frame: &RgbImage, iterations: usize) -> Result<Stages> {
    let (w, h) = det.input_size();
    let spec = det.card().input.clone();
    let mut chw = vec![0f32; 3 * (w * h) as usize];
    let (mut pre, mut net, mut post) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iterations {
        let t = Instant::now();
        let resized = resize_to_input(std::hint::black_box(frame), w, h);
        normalize_into(&resized, &spec, &mut chw);
        pre.push(t.elapsed());
        let t = Instant::now();
        let raw = det.forward_tensor(&chw)?;
        net.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(det.decode(&raw, frame.width(), frame.height()));
        post.push(t.elapsed());
    }
    Ok(Stages {
        preprocess_ms: Latency::of(&pre).median_ms,
        network_ms: Latency::of(&net).median_ms,
        decode_nms_ms: Latency::of(&post).median_ms,
    })
}

/// Time every node of the optimised network over `opts.profile_runs` runs, grouped by
/// operator ([`profile_plan`]).
///
/// `Detector` keeps its plan private, so the model is prepared again here the same way
/// (the same int8 path and kernels, [`plan_for`] → `into_runnable`).
fn profile_ops(opts: &RaceOptions, det: &Detector, frame: &RgbImage) -> Result<Vec<OpTime>> {
    let (w, h) = det.input_size();
    let (proto, _) = read_model(&opts.model, opts.int8)?;
    let plan = plan_for(&proto, &[1, 3, h as usize, w as usize], opts.kernels)?.into_runnable()?;
    let mut input = Tensor::zero::<f32>(&[1, 3, h as usize, w as usize])?;
    let resized = resize_to_input(frame, w, h);
    normalize_into(&resized, &det.card().input, input.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
    profile_plan(&plan, &input.into(), opts.profile_runs)
}

impl RaceReport {
    /// A short human-readable summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} ({} bytes{}) at {}x{}, {} thread(s): load {:.3} s; detect median {:.3} ms, p90 {:.3} ms over {} runs; \
             {} face(s); peak RSS {:.1} MiB",
            self.model,
            self.model_bytes,
            self.quantization.as_deref().map(|q| format!(", {q}")).unwrap_or_default()
                + &self.int8_path.map(|p| format!(" run as --int8 {p}")).unwrap_or_default(),
            self.input.0,
            self.input.1,
            self.threads,
            self.model_load_s,
            self.latency.median_ms,
            self.latency.p90_ms,
            self.iterations,
            self.faces.len(),
            self.peak_rss_mib
        );
        if let Some(st) = &self.stages {
            s += &format!(
                "\nstages (median ms): preprocess {:.3}, network {:.3}, decode+NMS {:.3}",
                st.preprocess_ms, st.network_ms, st.decode_nms_ms
            );
        }
        if let Some(ops) = &self.profile {
            s += &profile_table(ops);
        }
        s
    }
}
