//! The detector: an exported ONNX model run by tract, with the card's pre- and
//! post-processing around it.
//!
//! `Detector::load` follows tract's chain — parse the proto, read the card from its
//! metadata, rewrite a quantized graph if asked ([`Int8Path`]), fix the input size,
//! optimise, make runnable — and `detect` turns one RGB frame into face boxes in frame
//! pixels. [`set_threads`] spreads tract's matrix products over several threads.

pub use crate::int8::Int8Path;
pub use crate::kernels::Kernels;
pub use crate::model::DetectOptions;
use crate::model::{card_json, detections, CardError, Detection, ModelCard, Prior};
use crate::preprocess::{normalize_into, resize_to_input};
use anyhow::{bail, Context, Result};
use image::RgbImage;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tract_linalg::multithread::{set_default_executor, Executor};
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// The most priors a card may ask for when the graph's output size is not known at load
/// (a 4K frame at stride 4 with three sizes a cell is about 1.5 million).
pub const MAX_PRIORS: usize = 4_000_000;

/// The thread count last given to [`set_threads`].
static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Run tract's matrix products (and the packing of their operands) on `n` threads, for
/// every detector in the process from now on; 1 runs them on the calling thread. tract's
/// executor is process-wide, not per thread, so the run loop's detect thread uses it
/// too. 0 is refused.
pub fn set_threads(n: usize) -> Result<()> {
    let executor = match n {
        0 => bail!("0 threads: give 1 or more (1 = single-threaded)"),
        1 => Executor::SingleThread,
        n => Executor::MultiThread(std::sync::Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("tract-{i}"))
                .build()
                .with_context(|| format!("cannot start {n} threads for tract"))?,
        )),
    };
    set_default_executor(executor);
    THREADS.store(n, Ordering::Relaxed);
    Ok(())
}

/// The thread count tract runs matrix products on (see [`set_threads`]).
pub fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

/// How to load a model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadOptions {
    /// Input size `(width, height)`; `None` runs at the card's.
    pub size: Option<(u32, u32)>,
    /// How a quantized (QDQ) model runs; fp32 models ignore it.
    pub int8: Int8Path,
    /// Whose kernels run the network: facecam's where they cover a node (the default),
    /// or tract's own ops only.
    pub kernels: Kernels,
}

/// Take an ONNX proto through tract's chain — typed, decluttered, our kernels swapped in
/// (unless `kernels` says tract's own), optimised — for one input shape.
pub fn plan_for(proto: &ModelProto, input: &[usize], kernels: Kernels) -> TractResult<TypedModel> {
    let mut model = tract_onnx::onnx()
        .model_for_proto_model(proto)?
        .with_input_fact(0, f32::fact(input).into())?
        .into_typed()?
        .into_decluttered()?;
    if kernels == Kernels::Facecam {
        let p = crate::kernels::patch(&mut model)?;
        log::debug!(
            "facecam's kernels in: {} depthwise and {} full 3x3 ({} with their ReLU), {} 1x1, {} upsampling, {} softmax",
            p.depthwise,
            p.full,
            p.relu_fused,
            p.pointwise,
            p.upsample,
            p.softmax
        );
    }
    model.into_optimized()
}

/// Read a model file and its card, and apply the int8 rewrite `int8` asks for when the
/// graph is quantized. Errors name the file.
pub fn read_model(path: &Path, int8: Int8Path) -> Result<(ModelProto, ModelCard)> {
    let bytes = crate::input::read_file(path, "an ONNX model", crate::input::MAX_MODEL_BYTES)?;
    let proto = <ModelProto as prost::Message>::decode(bytes.as_slice())
        .with_context(|| format!("{}: not an ONNX model", path.display()))?;
    let card = read_card(&proto).with_context(|| format!("{}: refused", path.display()))?;
    check_names(&proto, &card).with_context(|| format!("{}: model and card disagree", path.display()))?;
    let proto = match int8 {
        Int8Path::WeightOnly if crate::int8::is_quantized(&proto) => {
            crate::int8::weight_only(&proto).with_context(|| {
                format!("{}: cannot fold the int8 weights (--int8 qdq runs the graph as written)", path.display())
            })?
        }
        _ => proto,
    };
    Ok((proto, card))
}

/// Raw network outputs for one frame, before decoding.
#[derive(Debug, Clone)]
pub struct RawOutput {
    /// `[priors, classes]` probabilities, row-major.
    pub scores: Vec<f32>,
    /// `[priors, 4]` encoded offsets, row-major.
    pub boxes: Vec<f32>,
}

/// A loaded, optimised model ready to run frames of one input size.
pub struct Detector {
    card: ModelCard,
    width: u32,
    height: u32,
    priors: Vec<Prior>,
    int8: Option<Int8Path>,
    state: TypedSimpleState,
    /// Reused from frame to frame: the normalised input tensor.
    input: Tensor,
    /// Post-processing options; change them freely between frames.
    pub options: DetectOptions,
}

/// The graph's (first) input and its two outputs must be the ones the card names, in
/// that order: scores, then boxes.
pub fn check_names(proto: &ModelProto, card: &ModelCard) -> Result<()> {
    let graph = proto.graph.as_ref().context("the model has no graph")?;
    let inputs: Vec<&str> = graph.input.iter().map(|v| v.name.as_str()).collect();
    if inputs.first() != Some(&card.input.name.as_str()) {
        bail!("the card's input `{}` is not the graph's first input (the graph has {inputs:?})", card.input.name);
    }
    let outputs: Vec<&str> = graph.output.iter().map(|v| v.name.as_str()).collect();
    let want = [card.outputs.scores.as_str(), card.outputs.boxes.as_str()];
    if outputs != want {
        bail!("the card's outputs {want:?} (scores, boxes) are not the graph's outputs {outputs:?}");
    }
    Ok(())
}

/// Read the card stored in an ONNX model proto.
pub fn read_card(proto: &ModelProto) -> Result<ModelCard, CardError> {
    ModelCard::from_json(card_json(proto)?)
}

impl Detector {
    /// Load a model at the input size its card names.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_sized(path, None)
    }

    /// Load a model, optionally at another input size than the card's default.
    pub fn load_sized(path: impl AsRef<Path>, size: Option<(u32, u32)>) -> Result<Self> {
        Self::load_with(path, &LoadOptions { size, ..Default::default() })
    }

    /// Load a model with every option: input size and int8 path.
    pub fn load_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Self> {
        let path = path.as_ref();
        let (proto, card) = read_model(path, options.int8)?;
        let int8 = card.quantization.is_some().then_some(options.int8);
        let (width, height) = options.size.unwrap_or((card.input.width, card.input.height));
        if width == 0 || height == 0 {
            bail!("{}: input size {width}x{height} is empty", path.display());
        }
        let plan = plan_for(&proto, &[1, 3, height as usize, width as usize], options.kernels)
            .and_then(|m| m.into_runnable())
            .with_context(|| format!("{}: tract cannot prepare the model", path.display()))?;
        // The card's layout must give as many priors as the graph emits rows of scores,
        // checked before the priors are made (a bad layout could ask for billions).
        let count = card.priors.count(width, height);
        let scores = plan.model().output_fact(0)?.shape.as_concrete().map(|s| s.iter().product::<usize>());
        if let (Some(rows), Some(n)) = (scores.map(|v| v / card.classes.len().max(1)), count) {
            if rows != n {
                bail!(
                    "{}: model and card disagree: the graph emits {rows} priors at {width}x{height}, the card's \
                     prior layout gives {n}",
                    path.display()
                );
            }
        } else if count.is_none_or(|n| n > MAX_PRIORS) {
            bail!(
                "{}: the card's prior layout gives more than {MAX_PRIORS} priors at {width}x{height}",
                path.display()
            );
        }
        log::debug!(
            "{}: {width}x{height} input, {} priors, {:?} kernels",
            path.display(),
            count.unwrap_or(0),
            options.kernels
        );
        let priors = card.priors.priors(width, height);
        let state = plan.spawn()?;
        let input = Tensor::zero::<f32>(&[1, 3, height as usize, width as usize])?;
        let mut options = DetectOptions::default();
        if let Some(t) = card.score_threshold {
            options.score_threshold = t;
        }
        let mut det = Self { card, width, height, priors, int8, state, input, options };
        // One dry run proves the graph and the card agree on the prior count.
        det.run_input().with_context(|| format!("{}: model and card disagree", path.display()))?;
        Ok(det)
    }

    /// The model's card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// How this quantized model runs; `None` for an fp32 model (no `quantization` card entry).
    pub fn int8_path(&self) -> Option<Int8Path> {
        self.int8
    }

    /// The input size this detector runs at.
    pub fn input_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Run the network on an already normalised CHW tensor (`3 * width * height` values).
    pub fn forward_tensor(&mut self, chw: &[f32]) -> Result<RawOutput> {
        {
            let mut view = self.input.try_as_plain_ram_mut()?;
            let buf = view.as_slice_mut::<f32>()?;
            if chw.len() != buf.len() {
                bail!("input has {} values, the model takes {}", chw.len(), buf.len());
            }
            buf.copy_from_slice(chw);
        }
        self.run_input()
    }

    /// Preprocess a frame and run the network.
    pub fn forward(&mut self, frame: &RgbImage) -> Result<RawOutput> {
        let resized = resize_to_input(frame, self.width, self.height);
        normalize_into(&resized, &self.card.input, self.input.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
        self.run_input()
    }

    fn run_input(&mut self) -> Result<RawOutput> {
        let out = self.state.run(tvec!(self.input.clone().into()))?;
        if out.len() != 2 {
            bail!("the model has {} outputs, the card expects scores and boxes", out.len());
        }
        let scores = out[0].try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
        let boxes = out[1].try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
        let classes = self.card.classes.len();
        let n = self.priors.len();
        if scores.len() != n * classes || boxes.len() != n * 4 {
            bail!(
                "the model emits {} scores and {} boxes; {} priors at {}x{} need {} and {}",
                scores.len(),
                boxes.len(),
                n,
                self.width,
                self.height,
                n * classes,
                n * 4
            );
        }
        Ok(RawOutput { scores, boxes })
    }

    /// Decode raw outputs into face boxes in the pixels of a `frame_w` x `frame_h` frame.
    pub fn decode(&self, raw: &RawOutput, frame_w: u32, frame_h: u32) -> Vec<Detection> {
        let (classes, var) = (self.card.classes.len(), self.card.priors.variances);
        detections(&raw.scores, &raw.boxes, classes, &self.priors, var, &self.options, (frame_w, frame_h))
    }

    /// Detect faces in an RGB frame; boxes are in the frame's pixels.
    pub fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Detection>> {
        let raw = self.forward(frame)?;
        Ok(self.decode(&raw, frame.width(), frame.height()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card whose prior layout asks for far more priors than the graph emits (steps of
    /// 1 pixel: 844,800 at 320x240) is refused before any prior is made.
    #[test]
    fn a_prior_layout_the_graph_does_not_emit_is_refused_before_allocating() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/facecam.onnx");
        let mut proto = <ModelProto as prost::Message>::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
        let mut card = read_card(&proto).unwrap();
        card.priors.steps = vec![1; card.priors.steps.len()];
        let entry = proto.metadata_props.iter_mut().find(|e| e.key == crate::model::CARD_KEY).unwrap();
        entry.value = card.to_json();
        let dir = std::env::temp_dir().join(format!("facecam-detector-priors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("steps-of-one.onnx");
        std::fs::write(&bad, prost::Message::encode_to_vec(&proto)).unwrap();
        let err = format!("{:#}", Detector::load(&bad).err().unwrap());
        assert!(err.contains("steps-of-one.onnx") && err.contains("model and card disagree"), "{err}");
        assert!(err.contains("the card's prior layout gives"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn card_names_are_checked_against_the_graph() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/facecam.onnx");
        let (proto, card) = read_model(&path, Int8Path::Qdq).unwrap();
        check_names(&proto, &card).unwrap();
        let mut swapped = card.clone();
        std::mem::swap(&mut swapped.outputs.scores, &mut swapped.outputs.boxes);
        let err = check_names(&proto, &swapped).unwrap_err().to_string();
        assert!(err.contains("not the graph's outputs"), "{err}");
        let mut renamed = card.clone();
        renamed.input.name = "image".into();
        let err = check_names(&proto, &renamed).unwrap_err().to_string();
        assert!(err.contains("`image` is not the graph's first input"), "{err}");
    }
}
