//! The model contract: everything both the trainer and the device must agree on.
//!
//! - [`ModelCard`]: the detector's card — input size, normalisation, prior layout, classes, output names and
//!   provenance, stored as JSON inside the ONNX file (`metadata_props`).
//! - [`ClassifierCard`]: a face classifier's card, and [`crop_square`], the crop it sees;
//!   [`check_display_name`] and [`parse_class_names`]: the display names of its classes;
//!   [`card_kind`] tells the two kinds of file apart, and [`AnyCard`] holds a card of either kind.
//! - [`PriorConfig::priors`]: the prior (anchor) boxes for any input size.
//! - [`encode`] / [`decode`]: the centre-size box codec with variances.
//! - [`intersection`], [`iou`] and [`nms`]: overlap and greedy non-maximum suppression
//!   (with [`CONTAINMENT`]: no box inside a better box).
//! - [`detections`]: raw outputs to face boxes (threshold, decode, clip, NMS).
//!
//! The ONNX graph itself only computes class scores and box offsets per prior; all
//! geometry lives here, so one exported file runs at any input size.

mod any_card;
mod bbox;
mod card;
mod class_names;
mod classifier_card;
mod codec;
mod nms;
mod postprocess;
mod priors;

pub use any_card::AnyCard;
pub use bbox::{intersection, iou, match_greedy, BBox, Detection};
pub use card::{
    card_json, CardError, InputSpec, ModelCard, OutputSpec, PriorConfig, Provenance, Quantization, CARD_KEY, MAX_SIDE,
};
pub use class_names::{
    apply_class_names, check_display_name, check_display_names, parse_class_names, MAX_DISPLAY_NAME,
};
pub use classifier_card::{
    card_kind, crop_square, wrong_kind, ClassifierCard, CropSpec, CLASSIFIER_KIND, DETECTOR_KIND,
};
pub use codec::{decode, encode};
pub use nms::{contained, nms, nms_vote, CONTAINMENT};
pub use postprocess::{detections, DetectOptions};
pub use priors::Prior;
