//! The second stage's contract: a face classifier's card, the crop it is given, and how
//! a model file says which of the two kinds it is.
//!
//! A classifier sees one face at a time: the square around the face box grown by the
//! card's margin on every side, moved inside the frame where it fits
//! ([`crop_square`]), resized to the card's input and normalised like the detector's
//! input. Its graph maps `[N, 3, H, W]` to `[N, classes]` probabilities.

use super::card::{CardError, InputSpec, Provenance, Quantization};
use super::class_names::check_display_names;
use super::BBox;
use serde::{Deserialize, Serialize};

/// `kind` of a detector card (also what a card without `kind` is, as every card written
/// before classifiers existed).
pub const DETECTOR_KIND: &str = "detector";
/// `kind` of a classifier card.
pub const CLASSIFIER_KIND: &str = "classifier";
const FORMAT: u32 = 1;

/// The `kind` a card's JSON declares (`detector` when it declares none).
pub fn card_kind(json: &str) -> Result<String, CardError> {
    let value: serde_json::Value = serde_json::from_str(json)?;
    match value.get("kind") {
        None => Ok(DETECTOR_KIND.into()),
        Some(serde_json::Value::String(k)) => Ok(k.clone()),
        Some(other) => Err(CardError::Invalid { field: "kind", why: format!("`{other}` is not a string") }),
    }
}

/// The error for a card of the other kind, saying how to use the file instead.
pub fn wrong_kind(found: &str, wanted: &str) -> CardError {
    let hint = match found {
        CLASSIFIER_KIND => "it is a face classifier: give it with --classifier",
        DETECTOR_KIND => "it is a face detector: give it with --model",
        _ => "this build knows `detector` and `classifier`",
    };
    CardError::Invalid { field: "kind", why: format!("the model is a `{found}`, not a `{wanted}` ({hint})") }
}

/// How the face is cut out of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CropSpec {
    /// Added on every side of the face box's longer side, as a fraction of it.
    pub margin: f32,
}

/// Everything the device needs to run a face classifier, stored inside the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierCard {
    /// Card format version.
    pub format: u32,
    /// Always [`CLASSIFIER_KIND`].
    pub kind: String,
    /// Input name, size and normalisation of the crop.
    pub input: InputSpec,
    /// How the face crop is cut from the frame around the detected box.
    pub crop: CropSpec,
    /// Class ids (the data's labels), in the order of the output's columns.
    pub classes: Vec<String>,
    /// What a person reads for each class, in the order of `classes` (`no mask` for
    /// `sin_mascarilla`); empty (cards written before display names) shows the ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub display_names: Vec<String>,
    /// ONNX output name: `[N, classes]` probabilities (softmax in the graph).
    pub output: String,
    /// Faces of each class the classifier was trained on (empty when unknown): the
    /// imbalance it learnt from, and the majority class its numbers are compared with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub training_faces: Vec<usize>,
    /// Where the model came from: training data, architecture, training run.
    pub provenance: Provenance,
    /// Set when the weights and activations were quantized after export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
}

impl ClassifierCard {
    /// A card for a `side` x `side` input with the detector's normalisation.
    pub fn new(side: u32, margin: f32, classes: Vec<String>, provenance: Provenance) -> Self {
        Self {
            format: FORMAT,
            kind: CLASSIFIER_KIND.into(),
            input: InputSpec {
                name: "input".into(),
                width: side,
                height: side,
                channels: "RGB".into(),
                mean: [127.0; 3],
                std: [128.0; 3],
            },
            crop: CropSpec { margin },
            classes,
            display_names: Vec::new(),
            output: "probs".into(),
            training_faces: Vec::new(),
            provenance,
            quantization: None,
        }
    }

    /// The card as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a card always serialises")
    }

    /// Class `i`'s display name (its id when it has none; `?` past the classes).
    pub fn display_name(&self, i: usize) -> &str {
        match self.display_names.get(i).or(self.classes.get(i)) {
            Some(name) => name,
            None => "?",
        }
    }

    /// Every class's display name, in order (the ids where there are none).
    pub fn shown_names(&self) -> Vec<String> {
        (0..self.classes.len()).map(|i| self.display_name(i).to_string()).collect()
    }

    /// The class called `name`, by its id or its display name.
    pub fn class_index(&self, name: &str) -> Option<usize> {
        (self.classes.iter().position(|c| c == name)).or_else(|| self.display_names.iter().position(|c| c == name))
    }

    /// Every class, `id (display name)` where the two differ, for messages.
    pub fn describe_classes(&self) -> String {
        let one = |i: usize| match self.display_name(i) {
            n if n == self.classes[i] => n.to_string(),
            n => format!("{} ({n})", self.classes[i]),
        };
        (0..self.classes.len()).map(one).collect::<Vec<_>>().join(", ")
    }

    /// The class with the most training faces (the first when unknown).
    pub fn majority_class(&self) -> usize {
        (self.training_faces.iter().enumerate()).max_by_key(|&(i, n)| (*n, std::cmp::Reverse(i))).map_or(0, |(i, _)| i)
    }

    /// Parse and validate a card; a detector's card is refused with a hint.
    pub fn from_json(json: &str) -> Result<Self, CardError> {
        let kind = card_kind(json)?;
        if kind != CLASSIFIER_KIND {
            return Err(wrong_kind(&kind, CLASSIFIER_KIND));
        }
        let card: Self = serde_json::from_str(json)?;
        card.validate()?;
        Ok(card)
    }

    /// Check the fields a classifier cannot run without.
    pub fn validate(&self) -> Result<(), CardError> {
        let bad = |field, why: &str| Err(CardError::Invalid { field, why: why.into() });
        if self.format != FORMAT {
            return bad("format", &format!("version {} is not {FORMAT}, the one this build reads", self.format));
        }
        self.input.validate(8..=512)?;
        if self.input.width != self.input.height {
            return bad("input.width/height", "must be equal (a square crop)");
        }
        if !(0.0..=1.0).contains(&self.crop.margin) {
            return bad("crop.margin", "must lie in 0..=1 (a fraction of the face's longer side)");
        }
        if self.classes.len() < 2 || self.classes.iter().any(|c| c.trim().is_empty()) {
            return bad("classes", "needs at least two named classes");
        }
        let mut sorted = self.classes.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.classes.len() {
            return bad("classes", "names a class twice");
        }
        if let Err(why) = check_display_names(&self.classes, &self.display_names) {
            return Err(CardError::Invalid { field: "display_names", why });
        }
        if !self.training_faces.is_empty() && self.training_faces.len() != self.classes.len() {
            return bad("training_faces", "needs one count per class");
        }
        if self.output.is_empty() {
            return bad("output", "needs the output's name");
        }
        Ok(())
    }
}

/// The crop a classifier is given for face `b` in a `width` x `height` frame: the
/// square around the box's centre whose side is the box's longer side times
/// `1 + 2 * margin` (at most the frame's shorter side), moved inside the frame.
/// Returns `(x, y, side)` in whole pixels, `None` for an empty box or frame.
pub fn crop_square(b: &BBox, margin: f32, width: u32, height: u32) -> Option<(u32, u32, u32)> {
    let long = (b.x1 - b.x0).max(b.y1 - b.y0);
    let finite = [b.x0, b.y0, b.x1, b.y1].iter().all(|v| v.is_finite());
    if !(finite && long > 0.0) || width == 0 || height == 0 {
        return None;
    }
    let (w, h) = (width as f32, height as f32);
    let side = (long * (1.0 + 2.0 * margin)).min(w).min(h).round().max(1.0);
    let place = |centre: f32, limit: f32| (centre - side / 2.0).clamp(0.0, limit - side).round() as u32;
    Some((place((b.x0 + b.x1) / 2.0, w), place((b.y0 + b.y1) / 2.0, h), side as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelCard;

    fn card() -> ClassifierCard {
        ClassifierCard::new(64, 0.2, vec!["mask".into(), "no_mask".into()], Provenance::default())
    }

    #[test]
    fn round_trips_and_refuses_bad_fields() {
        assert_eq!(ClassifierCard::from_json(&card().to_json()).unwrap(), card());
        let bad = [
            ClassifierCard { classes: vec!["mask".into()], ..card() },
            ClassifierCard { classes: vec!["a".into(), "a".into()], ..card() },
            ClassifierCard { crop: CropSpec { margin: 1.5 }, ..card() },
            ClassifierCard { input: InputSpec { height: 32, ..card().input }, ..card() },
        ];
        for (c, field) in bad.iter().zip(["classes", "classes", "crop.margin", "input.width"]) {
            let err = ClassifierCard::from_json(&c.to_json()).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn display_names_round_trip_are_checked_and_old_cards_show_ids() {
        let named = ClassifierCard { display_names: vec!["mask on".into(), "no mask".into()], ..card() };
        let json = named.to_json();
        assert!(json.contains(r#""display_names":["mask on","no mask"]"#), "{json}");
        let back = ClassifierCard::from_json(&json).unwrap();
        assert_eq!(back, named);
        assert_eq!(
            (back.display_name(1), back.class_index("no mask"), back.class_index("no_mask")),
            ("no mask", Some(1), Some(1))
        );
        assert_eq!(back.describe_classes(), "mask (mask on), no_mask (no mask)");
        // A card without the field (every card before it) shows the ids.
        let old = card().to_json();
        assert!(!old.contains("display_names"));
        let old = ClassifierCard::from_json(&old).unwrap();
        assert_eq!((old.shown_names(), old.class_index("no mask")), (vec!["mask".to_string(), "no_mask".into()], None));
        for (names, why) in [
            (vec!["one"], "1 names for 2 classes"),
            (vec!["a", "a"], "names two classes"),
            (vec!["x", ""], "empty"),
            (vec!["x", "tab\there"], "printable"),
            (vec!["no_mask", "mask"], "is the id of class"),
        ] {
            let c = ClassifierCard { display_names: names.iter().map(|s| s.to_string()).collect(), ..card() };
            let err = ClassifierCard::from_json(&c.to_json()).unwrap_err().to_string();
            assert!(err.contains("`display_names`") && err.contains(why), "{names:?}: {err}");
        }
    }

    #[test]
    fn each_kind_refuses_the_other() {
        let detector = ModelCard::new(320, 240, Provenance::default()).to_json();
        let err = ClassifierCard::from_json(&detector).unwrap_err().to_string();
        assert!(err.contains("detector") && err.contains("--model"), "{err}");
        let err = ModelCard::from_json(&card().to_json()).unwrap_err().to_string();
        assert!(err.contains("classifier") && err.contains("--classifier"), "{err}");
        // Cards written before `kind` existed are detectors.
        let old = detector.replace("\"kind\":\"detector\",", "");
        assert!(!old.contains("kind"));
        assert_eq!(card_kind(&old).unwrap(), DETECTOR_KIND);
        assert!(ModelCard::from_json(&old).is_ok());
    }

    #[test]
    fn crops_are_squares_inside_the_frame() {
        let b = BBox::new(10.0, 20.0, 30.0, 60.0); // 20 x 40, centre (20, 40)
        assert_eq!(crop_square(&b, 0.25, 200, 100), Some((0, 10, 60)));
        assert_eq!(crop_square(&b, 0.0, 200, 100), Some((0, 20, 40)));
        assert_eq!(crop_square(&BBox::new(150.0, 0.0, 250.0, 100.0), 0.5, 200, 100), Some((100, 0, 100)));
        assert_eq!(crop_square(&BBox::new(5.0, 5.0, 5.0, 5.0), 0.2, 10, 10), None);
        assert_eq!(crop_square(&BBox::new(0.0, 0.0, f32::NAN, 3.0), 0.2, 10, 10), None);
    }
}
