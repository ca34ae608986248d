//! The model card: what a model file must say about itself for the device to run it.

use serde::{Deserialize, Serialize};

/// The largest width or height any size option takes: past 8K, a frame or a network
/// input is a typo (or an attack) that would only end in a failed allocation.
pub const MAX_SIDE: u32 = 8192;

/// The ONNX `metadata_props` key under which the card's JSON is stored.
pub const CARD_KEY: &str = "facecam.card";

/// The card's JSON, as an ONNX model stores it in its metadata (either kind of card).
pub fn card_json(proto: &tract_onnx::pb::ModelProto) -> Result<&str, CardError> {
    proto.metadata_props.iter().find(|e| e.key == CARD_KEY).map(|e| e.value.as_str()).ok_or(CardError::Missing)
}

/// Card format version this build writes and reads.
const CARD_FORMAT: u32 = 1;

/// Why a card was refused.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// The model file has no `facecam.card` metadata entry.
    #[error(
        "the model has no `{CARD_KEY}` metadata entry: it was not exported by facecam-train (or the card was stripped)"
    )]
    Missing,
    /// The card is not valid JSON for this format.
    #[error("the model card is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    /// The card parsed but a field makes no sense.
    #[error("the model card field `{field}` is invalid: {why}")]
    Invalid {
        /// The field's name in the card's JSON.
        field: &'static str,
        /// What is wrong with its value.
        why: String,
    },
}

/// Input tensor layout and normalisation: `x = (pixel - mean) / std`, NCHW, RGB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// ONNX input name.
    pub name: String,
    /// Default input width (the model runs at other sizes too).
    pub width: u32,
    /// Default input height.
    pub height: u32,
    /// Channel order of the input tensor, e.g. `"RGB"`.
    pub channels: String,
    /// Per-channel mean subtracted from 0..255 pixel values.
    pub mean: [f32; 3],
    /// Per-channel divisor applied after the mean.
    pub std: [f32; 3],
}

/// The smallest normalisation divisor a card may give: pixels are 0..=255, so a std
/// below this would blow them up by more than a thousand (a negative one flips them).
pub const MIN_STD: f32 = 1e-3;

impl InputSpec {
    /// The checks both kinds of card share: each side in `sides`, RGB, and a
    /// normalisation that can be applied (finite mean, a finite std of at least
    /// `MIN_STD`).
    pub fn validate(&self, sides: std::ops::RangeInclusive<u32>) -> Result<(), CardError> {
        let bad = |field, why: String| Err(CardError::Invalid { field, why });
        if !sides.contains(&self.width) || !sides.contains(&self.height) {
            return bad("input.width/height", format!("must each be {}..={}", sides.start(), sides.end()));
        }
        if self.channels != "RGB" {
            return bad("input.channels", "only \"RGB\" is supported".into());
        }
        if self.std.iter().any(|s| !s.is_finite() || *s < MIN_STD) || self.mean.iter().any(|m| !m.is_finite()) {
            return bad("input.mean/std", format!("must be finite, std at least {MIN_STD}"));
        }
        Ok(())
    }
}

/// Prior layout: one entry per detection level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorConfig {
    /// Prior sizes in input pixels, per level.
    pub min_sizes: Vec<Vec<f32>>,
    /// Stride of each level in input pixels.
    pub steps: Vec<u32>,
    /// Codec variances (centre, size).
    pub variances: [f32; 2],
    /// Clamp prior centres and sizes to `[0, 1]`.
    pub clip: bool,
}

impl Default for PriorConfig {
    /// The seed design: four levels at strides 8/16/32/64, as in ULFGFD (Linzaer, 2019).
    fn default() -> Self {
        Self {
            min_sizes: vec![vec![10.0, 16.0, 24.0], vec![32.0, 48.0], vec![64.0, 96.0], vec![128.0, 192.0, 256.0]],
            steps: vec![8, 16, 32, 64],
            variances: [0.1, 0.2],
            clip: true,
        }
    }
}

/// ONNX output names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// `[N, priors, classes]` class probabilities (softmax applied in the graph).
    pub scores: String,
    /// `[N, priors, 4]` encoded box offsets.
    pub boxes: String,
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Training data, as given to the trainer.
    pub data: String,
    /// Network architecture and width.
    pub architecture: String,
    /// Epochs trained.
    pub epochs: u32,
    /// Export date (UTC, RFC 3339).
    pub date: String,
    /// Git commit of the trainer, or `"unknown"`.
    pub git_commit: String,
    /// The training recipe as TOML (every setting of the run), empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recipe: String,
}

/// How a model was quantized (by `facecam-train quantize`); absent for fp32 models.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantization {
    /// `"qdq-int8"`: per-channel symmetric int8 weights and per-tensor uint8 activations
    /// as ONNX QuantizeLinear/DequantizeLinear pairs.
    pub format: String,
    /// Activation calibration method, e.g. `"minmax"` or `"percentile 99.99"`.
    pub calibration: String,
    /// Calibration data, as given to the quantizer.
    pub data: String,
    /// Calibration images used.
    pub images: usize,
    /// Convolutions left in fp32 (weight initializer names).
    pub fp32_layers: Vec<String>,
    /// Channel ranges were equalized across consecutive convolutions before calibration.
    #[serde(default)]
    pub equalized: bool,
    /// Quantization date (UTC, RFC 3339).
    pub date: String,
}

/// Everything the device needs to know to run a model, stored inside the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Card format version.
    pub format: u32,
    /// Always `detector`; cards written before classifiers existed have none (see
    /// [`card_kind`](super::card_kind)).
    #[serde(default = "detector_kind")]
    pub kind: String,
    /// Input name, default size and normalisation.
    pub input: InputSpec,
    /// How the prior boxes are laid out, to decode the box offsets against.
    pub priors: PriorConfig,
    /// Class names; index 0 is background.
    pub classes: Vec<String>,
    /// ONNX output names of the scores and the box offsets.
    pub outputs: OutputSpec,
    /// Where the model came from: training data, architecture, training run.
    pub provenance: Provenance,
    /// Face probability above which the trainer recommends reporting a face (chosen on
    /// validation data); absent means the detector's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f32>,
    /// Set when the weights and activations were quantized after export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
}

fn detector_kind() -> String {
    super::DETECTOR_KIND.into()
}

impl ModelCard {
    /// A card for the seed design at `width` x `height`, with ULFGFD's normalisation.
    pub fn new(width: u32, height: u32, provenance: Provenance) -> Self {
        Self {
            format: CARD_FORMAT,
            kind: detector_kind(),
            input: InputSpec {
                name: "input".into(),
                width,
                height,
                channels: "RGB".into(),
                mean: [127.0; 3],
                std: [128.0; 3],
            },
            priors: PriorConfig::default(),
            classes: vec!["background".into(), "face".into()],
            outputs: OutputSpec { scores: "scores".into(), boxes: "boxes".into() },
            provenance,
            score_threshold: None,
            quantization: None,
        }
    }

    /// The card as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a card always serialises")
    }

    /// Parse and validate a card; a classifier's card is refused with a hint.
    pub fn from_json(json: &str) -> Result<Self, CardError> {
        let kind = super::card_kind(json)?;
        if kind != super::DETECTOR_KIND {
            return Err(super::wrong_kind(&kind, super::DETECTOR_KIND));
        }
        let card: Self = serde_json::from_str(json)?;
        card.validate()?;
        Ok(card)
    }

    /// Check the fields a model cannot run without.
    pub fn validate(&self) -> Result<(), CardError> {
        let bad = |field, why: &str| Err(CardError::Invalid { field, why: why.into() });
        if self.format != CARD_FORMAT {
            return Err(CardError::Invalid {
                field: "format",
                why: format!("version {} is not {CARD_FORMAT}, the one this build reads", self.format),
            });
        }
        self.input.validate(1..=MAX_SIDE)?;
        let p = &self.priors;
        if p.min_sizes.is_empty() || p.min_sizes.len() != p.steps.len() {
            return bad("priors", "min_sizes and steps need one non-empty entry per level");
        }
        if p.min_sizes.iter().any(|l| l.is_empty() || l.iter().any(|s| !s.is_finite() || *s <= 0.0))
            || p.steps.contains(&0)
        {
            return bad("priors", "every level needs finite positive sizes and a positive step");
        }
        if p.variances.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return bad("priors.variances", "must be finite and positive");
        }
        if self.score_threshold.is_some_and(|t| !(t > 0.0 && t < 1.0)) {
            return bad("score_threshold", "must lie strictly between 0 and 1");
        }
        if self.classes.len() < 2 {
            return bad("classes", "needs background plus at least one class");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_round_trips_through_json() {
        let card = ModelCard::new(320, 240, Provenance { epochs: 3, ..Default::default() });
        assert_eq!(ModelCard::from_json(&card.to_json()).unwrap(), card);
    }

    #[test]
    fn garbage_and_bad_fields_are_refused() {
        assert!(matches!(ModelCard::from_json("{not json"), Err(CardError::Json(_))));
        let mut card = ModelCard::new(320, 240, Provenance::default());
        card.priors.steps.pop();
        let err = ModelCard::from_json(&card.to_json()).unwrap_err();
        assert!(err.to_string().contains("priors"), "{err}");
        let mut card = ModelCard::new(320, 240, Provenance::default());
        card.input.std[1] = 0.0;
        assert!(ModelCard::from_json(&card.to_json()).unwrap_err().to_string().contains("std"));
        card.input.std[1] = 128.0;
        card.input.mean[0] = f32::NAN;
        assert!(card.validate().unwrap_err().to_string().contains("input.mean/std"));
        let card = ModelCard { score_threshold: Some(1.5), ..ModelCard::new(320, 240, Provenance::default()) };
        assert!(ModelCard::from_json(&card.to_json()).unwrap_err().to_string().contains("score_threshold"));
        let card = ModelCard { score_threshold: Some(0.4), ..ModelCard::new(320, 240, Provenance::default()) };
        assert_eq!(ModelCard::from_json(&card.to_json()).unwrap(), card);
    }

    #[test]
    fn infinite_priors_and_variances_and_tiny_or_negative_std_are_refused() {
        let base = ModelCard::new(320, 240, Provenance::default());
        let mut card = base.clone();
        card.priors.min_sizes[0][0] = f32::INFINITY;
        assert!(card.validate().unwrap_err().to_string().contains("finite positive sizes"));
        // 1e300 does not fit an f32: refused as the JSON is read (serde_json's float_roundtrip).
        let json = base.to_json().replacen("\"variances\":[0.1,", "\"variances\":[1e300,", 1);
        assert!(json.contains("1e300"), "{json}");
        let err = ModelCard::from_json(&json).unwrap_err().to_string();
        assert!(err.contains("number out of range"), "{err}");
        for v in [f32::INFINITY, -0.1] {
            let mut card = base.clone();
            card.priors.variances[1] = v;
            assert!(card.validate().unwrap_err().to_string().contains("priors.variances"), "{v}");
        }
        for s in [-128.0, 1e-6, f32::INFINITY] {
            let mut card = base.clone();
            card.input.std[2] = s;
            assert!(card.validate().unwrap_err().to_string().contains("std at least"), "{s}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = ModelCard::new(8, 8, Provenance::default()).to_json().replacen('{', "{\"extra\":1,", 1);
        assert!(ModelCard::from_json(&json).is_err());
    }
}
