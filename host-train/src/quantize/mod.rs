//! Post-training int8 quantization of an exported fp32 model into ONNX QDQ form:
//! per-channel symmetric int8 Conv weights, per-tensor uint8 activations whose ranges are
//! calibrated by running the fp32 model in tract on real images, preprocessed exactly as
//! the detector does. The first and last convolutions can stay fp32. The card is kept,
//! with a [`Quantization`] entry saying how the file was made.
//!
//! - [`equalize`]: cross-layer equalization (exact in fp32) so that one scale per
//!   activation tensor suits all its channels.
//! - [`calibrate`]: activation ranges by min/max or by percentile.
//! - [`qdq`]: the graph rewrite.
//! - [`faces`]: a face classifier's calibration, on face crops cut as the device cuts them.

pub mod calibrate;
pub mod equalize;
pub mod faces;
pub mod qdq;

use anyhow::{bail, Context, Result};
pub use calibrate::Method;
use edge::model::{AnyCard, InputSpec, Quantization, CARD_KEY};
use edge::preprocess::{normalize_into, resize_to_input};
use qdq::ActParams;
use std::path::{Path, PathBuf};
use tract_onnx::pb::ModelProto;

/// The `format` written into the card's quantization entry.
pub const FORMAT: &str = "qdq-int8";

/// How to quantize.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeOptions {
    /// Activation calibration method.
    pub method: Method,
    /// Keep the convolution reading the RGB input in fp32.
    pub keep_first: bool,
    /// Keep the head convolutions producing scores and boxes in fp32.
    pub keep_last: bool,
    /// Equalize channel ranges across consecutive convs first (recommended).
    pub equalize: bool,
    /// Calibration input size; the card's default when `None`.
    pub size: Option<(u32, u32)>,
    /// Calibration data as the user named it, for the card.
    pub data: String,
    /// Progress bars on stderr.
    pub progress: bool,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        Self {
            method: Method::Percentile(99.999),
            keep_first: false,
            keep_last: false,
            equalize: true,
            size: None,
            data: String::new(),
            progress: false,
        }
    }
}

/// What a quantization did.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeReport {
    /// Convolutions now int8.
    pub quantized_convs: usize,
    /// Convolutions left fp32 (weight names).
    pub fp32_layers: Vec<String>,
    /// Conv pairs equalized.
    pub equalized_pairs: usize,
    /// Activation tensors with a Q/DQ pair.
    pub activations: usize,
    /// Calibration images used.
    pub images: usize,
    /// Encoded size of the fp32 input model, bytes.
    pub fp32_bytes: usize,
    /// Encoded size of the quantized output model, bytes.
    pub int8_bytes: usize,
}

/// `count` indices spread evenly over `0..len` (all of them when `count >= len`), so a
/// sorted data set (WIDER is grouped by event) is sampled across its whole range.
pub fn pick_evenly(len: usize, count: usize) -> Vec<usize> {
    let count = count.min(len);
    (0..count).map(|i| i * len / count).collect()
}

/// Calibration images from files, decoded, resized and normalised like the detector does.
pub struct ImageInputs {
    paths: Vec<PathBuf>,
    spec: InputSpec,
    size: (u32, u32),
}

impl ImageInputs {
    /// Images at `paths`, normalised by `spec` at `size`.
    pub fn new(paths: Vec<PathBuf>, spec: InputSpec, size: (u32, u32)) -> Self {
        Self { paths, spec, size }
    }
}

impl calibrate::Inputs for ImageInputs {
    fn count(&self) -> usize {
        self.paths.len()
    }

    fn fill(&mut self, i: usize, out: &mut [f32]) -> Result<()> {
        let path = &self.paths[i];
        let img = edge::source::decode::read_image(path).context("cannot read a calibration image")?;
        normalize_into(&resize_to_input(&img, self.size.0, self.size.1), &self.spec, out);
        Ok(())
    }
}

/// Quantize a detector's proto with the calibration `images` (whole frames, resized to
/// the input as the detector does); the proto must carry a detector card.
pub fn quantize_proto(
    proto: &ModelProto,
    images: &[PathBuf],
    opts: &QuantizeOptions,
) -> Result<(ModelProto, QuantizeReport)> {
    let card = AnyCard::read(proto)?;
    if let AnyCard::Classifier(_) = card {
        bail!("a face classifier calibrates on face crops, not whole images (see quantize::faces)");
    }
    let size = opts.size.unwrap_or((card.input().width, card.input().height));
    if images.is_empty() {
        bail!("no calibration images");
    }
    let mut inputs = ImageInputs::new(images.to_vec(), card.input().clone(), size);
    quantize_inputs(proto, card, &mut inputs, size, opts)
}

/// Quantize `proto`, whose card is `card`, calibrating on `inputs` at `size`.
pub fn quantize_inputs(
    proto: &ModelProto,
    mut card: AnyCard,
    inputs: &mut dyn calibrate::Inputs,
    size: (u32, u32),
    opts: &QuantizeOptions,
) -> Result<(ModelProto, QuantizeReport)> {
    if card.quantization_mut().is_some() {
        bail!("the model is already quantized (its card has a quantization entry)");
    }
    if proto.opset_import.iter().any(|o| o.domain.is_empty() && o.version < 13) {
        bail!("the model's opset is below 13, which per-channel DequantizeLinear needs; re-export it");
    }
    if size.0 == 0 || size.1 == 0 {
        bail!("calibration size {}x{} is empty", size.0, size.1);
    }
    let count = inputs.count();
    if count == 0 {
        bail!("no calibration inputs");
    }
    let mut fp32 = proto.clone();
    let graph = fp32.graph.as_mut().context("the model has no graph")?;
    qdq::plan(graph, opts.keep_first, opts.keep_last)?; // refuse unquantizable graphs before any work
    let mut equalized_pairs = 0;
    if opts.equalize {
        let pairs = equalize::pairs(graph);
        let acts: Vec<String> = pairs.iter().map(|p| p.act.clone()).collect();
        let maxima = calibrate::channel_max(proto, &acts, size, inputs, opts.progress)?;
        equalized_pairs = equalize::equalize(graph, &pairs, &maxima)?;
    }
    let graph = fp32.graph.as_ref().context("the model has no graph")?;
    let plan = qdq::plan(graph, opts.keep_first, opts.keep_last)?;
    let ranges = calibrate::calibrate(&fp32, &plan.activations, size, inputs, opts.method, opts.progress)?;
    let params = ranges.iter().map(|(t, (lo, hi))| (t.clone(), ActParams::from_range(*lo, *hi))).collect();
    let new_graph = qdq::rewrite(graph, &plan, &params)?;
    *card.quantization_mut() = Some(Quantization {
        format: FORMAT.into(),
        calibration: opts.method.to_string(),
        data: opts.data.clone(),
        images: count,
        fp32_layers: plan.fp32_layers.clone(),
        equalized: opts.equalize,
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    });
    let mut out = proto.clone();
    out.graph = Some(new_graph);
    out.producer_name = "facecam-train quantize".into();
    out.producer_version = env!("CARGO_PKG_VERSION").into();
    for e in out.metadata_props.iter_mut().filter(|e| e.key == CARD_KEY) {
        e.value = card.to_json();
    }
    let report = QuantizeReport {
        quantized_convs: plan.convs.len(),
        fp32_layers: plan.fp32_layers,
        equalized_pairs,
        activations: plan.activations.len(),
        images: count,
        fp32_bytes: prost::Message::encoded_len(proto),
        int8_bytes: prost::Message::encoded_len(&out),
    };
    Ok((out, report))
}

/// Read an ONNX file (errors name it).
pub fn read_proto(model: &Path) -> Result<ModelProto> {
    let bytes = edge::input::read_file(model, "an ONNX model", edge::input::MAX_MODEL_BYTES)?;
    <ModelProto as prost::Message>::decode(bytes.as_slice())
        .with_context(|| format!("{}: not an ONNX model", model.display()))
}

/// Quantize the detector file `model` into `out` (written atomically), calibrating on `images`.
pub fn quantize_file(model: &Path, images: &[PathBuf], opts: &QuantizeOptions, out: &Path) -> Result<QuantizeReport> {
    quantize_detector(model, &read_proto(model)?, images, opts, out)
}

/// [`quantize_file`] on a model already read from `model` (which errors name).
pub fn quantize_detector(
    model: &Path,
    proto: &ModelProto,
    images: &[PathBuf],
    opts: &QuantizeOptions,
    out: &Path,
) -> Result<QuantizeReport> {
    let (q, report) =
        quantize_proto(proto, images, opts).with_context(|| format!("{}: cannot quantize", model.display()))?;
    crate::export::write_model(out, &q)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quantizer walks graphs, not layer lists: the RFB network's branches, Concat
    /// and Add quantize and still compute what the fp32 graph computes.
    #[test]
    fn rfb_graphs_quantize() {
        use crate::net::{Arch, Net, NetSpec};
        use edge::detector::Detector;
        use edge::model::{ModelCard, Provenance};
        let dir = std::env::temp_dir().join(format!("facecam-quantize-rfb-{}", std::process::id()));
        let card = ModelCard::new(160, 120, Provenance::default());
        let spec = NetSpec::new(Arch::Rfb, 0.5, &card.priors.anchors_per_cell(), 2);
        tch::manual_seed(3);
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), spec);
        // Spread the (otherwise zero) head biases so the scores vary across priors.
        tch::no_grad(|| {
            for (name, mut t) in vs.variables() {
                if name.starts_with("heads") && name.ends_with("bias") {
                    let _ = t.uniform_(-2.0, 2.0);
                }
            }
        });
        let proto = crate::export::build_model(net.spec(), &vs.variables(), &card).unwrap();
        let opts = crate::data::SynthOptions { count: 8, width: 160, height: 120, ..Default::default() };
        let images: Vec<PathBuf> =
            crate::data::generate_synthetic(&dir, &opts).unwrap().into_iter().map(|s| s.image).collect();
        let (q, report) = quantize_proto(&proto, &images, &QuantizeOptions::default()).unwrap();
        assert!(report.equalized_pairs > 0 && report.quantized_convs > 30, "{report:?}");
        let ops = |m: &ModelProto, op: &str| m.graph.as_ref().unwrap().node.iter().filter(|n| n.op_type == op).count();
        assert_eq!((ops(&q, "Concat"), ops(&q, "Add")), (ops(&proto, "Concat"), 1));
        let (fp32_path, int8_path) = (dir.join("fp32.onnx"), dir.join("int8.onnx"));
        std::fs::write(&fp32_path, prost::Message::encode_to_vec(&proto)).unwrap();
        std::fs::write(&int8_path, prost::Message::encode_to_vec(&q)).unwrap();
        let (mut a, mut b) = (Detector::load(&fp32_path).unwrap(), Detector::load(&int8_path).unwrap());
        let img = image::open(&images[0]).unwrap().to_rgb8();
        let (ra, rb) = (a.forward(&img).unwrap(), b.forward(&img).unwrap());
        let diff = ra.scores.iter().zip(&rb.scores).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let (lo, hi) = ra.scores.iter().fold((1f32, 0f32), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        eprintln!("rfb int8 vs fp32: max score diff {diff:.4}; fp32 scores span {lo:.3}..{hi:.3}");
        assert!(hi - lo > 0.2, "the comparison needs scores that vary");
        assert!(diff < 0.05, "int8 RFB drifts by {diff} in score");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn picks_spread_over_the_set() {
        assert_eq!(pick_evenly(10, 3), vec![0, 3, 6]);
        assert_eq!(pick_evenly(2, 5), vec![0, 1]);
        assert!(pick_evenly(0, 5).is_empty());
    }
}
