//! `facecam race --network-only`: any ONNX file's network, timed alone in tract.
//!
//! No card is needed: the graph's first input is fixed to `1x3xHxW` at the race size and
//! fed the race frame's pixels scaled to 0..1 (every face detector here takes a 3-channel
//! image; what the values mean does not change what tract computes per value). Each timed
//! run is one `state.run` and nothing else, so published detectors, facecam's own file,
//! tract's own ops and facecam's kernels can be set side by side. [`profile_plan`] times
//! every node of a plan by operator kind; `facecam race` uses it too.

pub use super::timing::profile_plan;
use super::timing::{profile_table, Latency, OpTime};
use crate::detector::{plan_for, Kernels};
use anyhow::{bail, Context, Result};
use image::RgbImage;
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// What `facecam race --network-only` measured.
#[derive(Debug, Clone, Serialize)]
pub struct NetReport {
    /// The inference engine that ran the network (always `tract`).
    pub engine: &'static str,
    /// Path of the model, as given.
    pub model: String,
    /// Whose kernels ran the network, and how many nodes ours took over.
    pub kernels: String,
    /// Nodes replaced by facecam's kernels (0 with tract's own).
    pub patched_nodes: usize,
    /// Network input size, width by height in pixels (the frame's).
    pub input: (u32, u32),
    /// Worker threads tract ran with.
    pub threads: usize,
    /// Timed runs of the network.
    pub iterations: usize,
    /// Seconds to read, parse, optimise and plan the model.
    pub model_load_s: f64,
    /// Per-run network latency (no preprocessing or decoding).
    pub latency: Latency,
    /// Every timed run, milliseconds, in order.
    pub samples_ms: Vec<f64>,
    /// Operator kinds by time, most expensive first; `None` when no profile runs were asked for.
    pub profile: Option<Vec<OpTime>>,
    /// Peak resident memory of this process, MiB (VmHWM), after the runs.
    pub peak_rss_mib: f64,
}

/// Read an ONNX file for tract, dropping graph inputs that are also initializers (older
/// exporters list every weight as an input; onnxruntime treats them as constants, and so
/// does this).
pub fn read_any(path: &Path) -> Result<ModelProto> {
    let bytes = crate::input::read_file(path, "an ONNX model", crate::input::MAX_MODEL_BYTES)?;
    let mut proto = <ModelProto as prost::Message>::decode(bytes.as_slice())
        .with_context(|| format!("{}: not an ONNX model", path.display()))?;
    let graph = proto.graph.as_mut().with_context(|| format!("{}: the model has no graph", path.display()))?;
    let weights: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    graph.input.retain(|i| !weights.contains(&i.name));
    if graph.input.is_empty() {
        bail!("{}: the graph has no input that is not a weight", path.display());
    }
    Ok(proto)
}

/// Load `path`, time `iterations` runs of its network on `frame` (after `warmup`), and
/// profile it over `profile_runs` more runs (0 = none).
pub fn run(
    path: &Path,
    frame: &RgbImage,
    kernels: Kernels,
    warmup: usize,
    iterations: usize,
    profile_runs: usize,
) -> Result<NetReport> {
    let (w, h) = frame.dimensions();
    let t0 = Instant::now();
    let proto = read_any(path)?;
    let model = plan_for(&proto, &[1, 3, h as usize, w as usize], kernels)
        .with_context(|| format!("{}: tract cannot prepare the model at {w}x{h}", path.display()))?;
    let patched_nodes = model.nodes().iter().filter(|n| n.op().name().starts_with("Facecam")).count();
    let plan = model.into_runnable()?;
    let mut state = plan.spawn()?;
    let model_load_s = t0.elapsed().as_secs_f64();
    let input: TValue = frame_tensor(frame)?.into();
    for _ in 0..warmup {
        state.run(tvec!(input.clone()))?;
    }
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        std::hint::black_box(state.run(tvec!(input.clone()))?);
        times.push(t.elapsed());
    }
    let profile = (profile_runs > 0).then(|| profile_plan(&plan, &input, profile_runs)).transpose()?;
    Ok(NetReport {
        engine: "tract",
        model: path.display().to_string(),
        kernels: kernels.to_string(),
        patched_nodes,
        input: (w, h),
        threads: crate::detector::threads(),
        iterations,
        model_load_s,
        latency: Latency::of(&times),
        samples_ms: times.iter().map(|d| d.as_secs_f64() * 1e3).collect(),
        profile,
        peak_rss_mib: crate::jobs::bench::peak_rss_mib(),
    })
}

/// The frame as a `1x3xHxW` tensor of values in 0..1.
fn frame_tensor(frame: &RgbImage) -> Result<Tensor> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut t = Tensor::zero::<f32>(&[1, 3, h, w])?;
    let mut view = t.try_as_plain_ram_mut()?;
    let v = view.as_slice_mut::<f32>()?;
    for (i, p) in frame.pixels().enumerate() {
        for c in 0..3 {
            v[c * w * h + i] = p.0[c] as f32 / 255.0;
        }
    }
    Ok(t)
}

impl NetReport {
    /// A short human-readable summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} network only at {}x{}, {} kernels ({} nodes ours), {} thread(s): load {:.3} s; median {:.3} ms, \
             p90 {:.3} ms over {} runs; peak RSS {:.1} MiB",
            self.model,
            self.input.0,
            self.input.1,
            self.kernels,
            self.patched_nodes,
            self.threads,
            self.model_load_s,
            self.latency.median_ms,
            self.latency.p90_ms,
            self.iterations,
            self.peak_rss_mib
        );
        if let Some(ops) = &self.profile {
            s += &profile_table(ops);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    /// Older exporters (ULFGFD's files among them) list every weight as a graph input
    /// too; such a file loads, and its weights stay constants.
    #[test]
    fn weights_listed_as_inputs_are_dropped_at_load() {
        let model = root().join("models/facecam.onnx");
        let mut proto = <ModelProto as prost::Message>::decode(std::fs::read(&model).unwrap().as_slice()).unwrap();
        let graph = proto.graph.as_mut().unwrap();
        let weights: Vec<String> = graph.initializer.iter().take(5).map(|t| t.name.clone()).collect();
        for name in &weights {
            let mut input = graph.input[0].clone();
            input.name = name.clone();
            graph.input.push(input);
        }
        let dir = std::env::temp_dir().join(format!("facecam-race-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("weights-as-inputs.onnx");
        std::fs::write(&path, prost::Message::encode_to_vec(&proto)).unwrap();
        let read = read_any(&path).unwrap();
        assert_eq!(read.graph.as_ref().unwrap().input.len(), 1, "only the image is left as an input");
        let frame = RgbImage::from_pixel(64, 48, image::Rgb([90, 120, 200]));
        let report = run(&path, &frame, Kernels::Facecam, 1, 2, 1).unwrap();
        assert_eq!(report.samples_ms.len(), 2);
        assert!(report.patched_nodes > 0, "facecam's kernels took no node");
        assert!(report.profile.unwrap().iter().any(|o| o.op.starts_with("Facecam")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_onnx_is_refused_with_its_name() {
        let dir = std::env::temp_dir().join(format!("facecam-race-net-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notes.onnx");
        std::fs::write(&path, b"not a model").unwrap();
        let err = format!("{:#}", read_any(&path).unwrap_err());
        assert!(err.contains("notes.onnx") && (err.contains("not an ONNX model") || err.contains("no graph")), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
