//! A face classifier's calibration: activations are calibrated on face crops cut by the
//! card's own crop rule ([`edge::classifier::crop_face`]), the inputs the classifier sees
//! on the device, not on whole images squeezed to its input.

use super::{calibrate, pick_evenly, quantize_inputs, QuantizeOptions, QuantizeReport};
use crate::data::Sample;
use anyhow::{bail, Context, Result};
use edge::model::{AnyCard, ClassifierCard, InputSpec};
use edge::preprocess::normalize_into;
use image::RgbImage;
use std::path::Path;
use tract_onnx::pb::ModelProto;

/// Calibration crops, already at the input size.
pub struct CropInputs {
    crops: Vec<RgbImage>,
    spec: InputSpec,
}

impl calibrate::Inputs for CropInputs {
    fn count(&self) -> usize {
        self.crops.len()
    }

    fn fill(&mut self, i: usize, out: &mut [f32]) -> Result<()> {
        normalize_into(&self.crops[i], &self.spec, out);
        Ok(())
    }
}

/// `count` face crops spread evenly over the faces of `samples` (ignore regions left
/// out), each image decoded once.
pub fn face_crops(samples: &[Sample], card: &ClassifierCard, count: usize) -> Result<Vec<RgbImage>> {
    let faces: Vec<(usize, usize)> = samples
        .iter()
        .enumerate()
        .flat_map(|(s, sample)| {
            sample.boxes.iter().enumerate().filter(|(_, b)| !b.ignore && b.has_area()).map(move |(b, _)| (s, b))
        })
        .collect();
    let mut crops = Vec::new();
    let mut decoded: Option<(usize, RgbImage)> = None;
    for i in pick_evenly(faces.len(), count) {
        let (s, b) = faces[i];
        if decoded.as_ref().is_none_or(|(at, _)| *at != s) {
            let img = edge::source::decode::read_image(&samples[s].image)
                .with_context(|| format!("{}: cannot read a calibration image", samples[s].image.display()))?;
            decoded = Some((s, img));
        }
        let (_, img) = decoded.as_ref().expect("decoded above");
        if let Some(crop) = edge::classifier::crop_face(card, img, &samples[s].boxes[b].bbox(1.0, 1.0)) {
            crops.push(crop);
        }
    }
    if crops.is_empty() {
        bail!("no faces to calibrate on ({} faces in the data)", faces.len());
    }
    Ok(crops)
}

/// Quantize the classifier `proto`, read from `model` (which errors name), into `out`
/// (written atomically), calibrating on `count` faces of `samples`.
pub fn quantize_classifier(
    model: &Path,
    proto: &ModelProto,
    samples: &[Sample],
    count: usize,
    opts: &QuantizeOptions,
    out: &Path,
) -> Result<QuantizeReport> {
    let card = AnyCard::read(proto).with_context(|| format!("{}: refused", model.display()))?;
    let AnyCard::Classifier(classifier) = &card else {
        bail!("{}: a detector; its calibration is on whole images (quantize_file)", model.display())
    };
    if opts.size.is_some_and(|s| s != (classifier.input.width, classifier.input.height)) {
        bail!("--input: a classifier calibrates at its card's input size only");
    }
    let size = (classifier.input.width, classifier.input.height);
    let mut inputs = CropInputs { crops: face_crops(samples, classifier, count)?, spec: classifier.input.clone() };
    let (q, report) = quantize_inputs(proto, card, &mut inputs, size, opts)
        .with_context(|| format!("{}: cannot quantize", model.display()))?;
    crate::export::write_model(out, &q)?;
    Ok(report)
}
