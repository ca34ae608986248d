//! The second stage: a face classifier (mask or not, who, which expression) run by tract
//! on each face's crop, following the detector's chain — read the proto and its
//! [`ClassifierCard`], rewrite int8 if asked, fix the input, optimise, make runnable.

use crate::int8::Int8Path;
use crate::model::{card_json, crop_square, BBox, ClassifierCard};
use crate::preprocess::{normalize_into, resize_to_input};
use anyhow::{bail, Context, Result};
use image::RgbImage;
use std::path::Path;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// Read a classifier file and its card (refusing a detector's with a hint); errors name
/// the file.
pub fn read_classifier(path: &Path, int8: Int8Path) -> Result<(ModelProto, ClassifierCard)> {
    let bytes = crate::input::read_file(path, "an ONNX model", crate::input::MAX_MODEL_BYTES)?;
    let proto = <ModelProto as prost::Message>::decode(bytes.as_slice())
        .with_context(|| format!("{}: not an ONNX model", path.display()))?;
    let card = card_json(&proto)
        .and_then(ClassifierCard::from_json)
        .with_context(|| format!("{}: refused", path.display()))?;
    let graph = proto.graph.as_ref().with_context(|| format!("{}: the model has no graph", path.display()))?;
    let (inputs, outputs): (Vec<&str>, Vec<&str>) =
        (graph.input.iter().map(|v| v.name.as_str()).collect(), graph.output.iter().map(|v| v.name.as_str()).collect());
    if inputs.first() != Some(&card.input.name.as_str()) || outputs != [card.output.as_str()] {
        bail!(
            "{}: model and card disagree: the card names input `{}` and output `{}`, the graph has {inputs:?} and {outputs:?}",
            path.display(),
            card.input.name,
            card.output
        );
    }
    let proto = match int8 {
        Int8Path::WeightOnly if crate::int8::is_quantized(&proto) => crate::int8::weight_only(&proto)
            .with_context(|| format!("{}: cannot fold the int8 weights", path.display()))?,
        _ => proto,
    };
    Ok((proto, card))
}

/// The crop of face `b` in `frame` that a classifier with `card` reads: the card's crop
/// rule ([`crop_square`]), resized to its input; `None` for an empty box.
pub fn crop_face(card: &ClassifierCard, frame: &RgbImage, b: &BBox) -> Option<RgbImage> {
    let (x, y, side) = crop_square(b, card.crop.margin, frame.width(), frame.height())?;
    let square = image::imageops::crop_imm(frame, x, y, side, side).to_image();
    Some(resize_to_input(&square, card.input.width, card.input.height))
}

/// A loaded classifier, ready to label face crops.
pub struct Classifier {
    card: ClassifierCard,
    state: TypedSimpleState,
    input: Tensor,
}

impl Classifier {
    /// Load a classifier, int8 models with their weights folded to fp32 (the fast path).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(path, Int8Path::default())
    }

    /// Load a classifier, choosing how a quantized file runs.
    pub fn load_with(path: impl AsRef<Path>, int8: Int8Path) -> Result<Self> {
        let path = path.as_ref();
        let (proto, card) = read_classifier(path, int8)?;
        let side = card.input.width as usize;
        let plan = tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, side, side]).into())?.into_optimized()?.into_runnable())
            .with_context(|| format!("{}: tract cannot prepare the model", path.display()))?;
        let input = Tensor::zero::<f32>(&[1, 3, side, side])?;
        let mut classifier = Self { card, state: plan.spawn()?, input };
        // One dry run proves the graph emits one probability per class.
        classifier.run_input().with_context(|| format!("{}: model and card disagree", path.display()))?;
        Ok(classifier)
    }

    /// The classifier's card.
    pub fn card(&self) -> &ClassifierCard {
        &self.card
    }

    /// The crop of face `b` in `frame`, resized to the input; `None` for an empty box.
    pub fn crop(&self, frame: &RgbImage, b: &BBox) -> Option<RgbImage> {
        crop_face(&self.card, frame, b)
    }

    /// Class probabilities of a crop already at the input size (see [`Classifier::crop`]).
    pub fn classify_crop(&mut self, crop: &RgbImage) -> Result<Vec<f32>> {
        if crop.dimensions() != (self.card.input.width, self.card.input.height) {
            bail!(
                "a {}x{} crop given to a {}x{} classifier",
                crop.width(),
                crop.height(),
                self.card.input.width,
                self.card.input.height
            );
        }
        normalize_into(crop, &self.card.input, self.input.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
        self.run_input()
    }

    /// Class probabilities of face `b` in `frame`; `None` for an empty box.
    pub fn classify(&mut self, frame: &RgbImage, b: &BBox) -> Result<Option<Vec<f32>>> {
        match self.crop(frame, b) {
            Some(crop) => self.classify_crop(&crop).map(Some),
            None => Ok(None),
        }
    }

    fn run_input(&mut self) -> Result<Vec<f32>> {
        let out = self.state.run(tvec!(self.input.clone().into()))?;
        let probs =
            out.first().context("the classifier has no output")?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
        if probs.len() != self.card.classes.len() {
            bail!("the classifier emits {} values for the card's {} classes", probs.len(), self.card.classes.len());
        }
        Ok(probs)
    }
}

/// The most probable class of `probs`: its index and probability (`None` when empty).
pub fn top(probs: &[f32]) -> Option<(usize, f32)> {
    probs.iter().copied().enumerate().filter(|(_, p)| p.is_finite()).max_by(|a, b| a.1.total_cmp(&b.1))
}
