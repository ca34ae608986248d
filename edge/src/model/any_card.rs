//! A card of either kind, as an ONNX file carries it: a detector's [`ModelCard`] or a face
//! classifier's [`ClassifierCard`], told apart by the card's `kind` ([`card_kind`]).

use super::{card_json, card_kind, CardError, ClassifierCard, InputSpec, ModelCard, Quantization, CLASSIFIER_KIND};
use anyhow::{Context, Result};
use std::path::Path;
use tract_onnx::pb::ModelProto;

/// The card of a model of either kind.
#[derive(Debug, Clone)]
pub enum AnyCard {
    /// A face detector's card.
    Detector(ModelCard),
    /// A face classifier's card.
    Classifier(ClassifierCard),
}

impl AnyCard {
    /// The card stored in `proto`: a classifier's when its `kind` says so, else a
    /// detector's (whose errors, an unknown `kind` among them, are the detector card's).
    pub fn read(proto: &ModelProto) -> Result<Self, CardError> {
        let json = card_json(proto)?;
        Ok(match card_kind(json)?.as_str() {
            CLASSIFIER_KIND => AnyCard::Classifier(ClassifierCard::from_json(json)?),
            _ => AnyCard::Detector(ModelCard::from_json(json)?),
        })
    }

    /// The card of the ONNX file at `path`; errors name the file.
    pub fn read_file(path: &Path) -> Result<Self> {
        let bytes = crate::input::read_file(path, "an ONNX model", crate::input::MAX_MODEL_BYTES)?;
        let proto = <ModelProto as prost::Message>::decode(bytes.as_slice())
            .with_context(|| format!("{}: not an ONNX model", path.display()))?;
        Self::read(&proto).with_context(|| format!("{}: refused", path.display()))
    }

    /// How the model's input is normalised, and its size.
    pub fn input(&self) -> &InputSpec {
        match self {
            AnyCard::Detector(c) => &c.input,
            AnyCard::Classifier(c) => &c.input,
        }
    }

    /// The card's quantization entry, to be set by the quantizer.
    pub fn quantization_mut(&mut self) -> &mut Option<Quantization> {
        match self {
            AnyCard::Detector(c) => &mut c.quantization,
            AnyCard::Classifier(c) => &mut c.quantization,
        }
    }

    /// The card as the JSON stored in a model.
    pub fn to_json(&self) -> String {
        match self {
            AnyCard::Detector(c) => c.to_json(),
            AnyCard::Classifier(c) => c.to_json(),
        }
    }
}
