//! The second stage: a small CNN that labels face crops (mask or not, who, which
//! expression), trained on the same labelled sources as the detector with the box
//! classes as labels, exported to ONNX with a [`ClassifierCard`](edge::model::ClassifierCard).
//!
//! - [`ClassifyConfig`]: every setting of a run, each with its range.
//! - [`faces`]: labelled faces from samples, and the augmented crops a batch is made of,
//!   cut by the same rule the device uses ([`edge::model::crop_square`]).
//! - [`net`]: the network as tch layers, and its ONNX export.
//! - [`train`]: the loop, with class-weighted loss, checkpoints and `--resume`.
//! - [`relabel`]: new display names in an exported classifier's card, without retraining.
//! - [`eval`]: per-class precision and recall, balanced accuracy and a confusion PNG, of
//!   the exported file run by `edge::classifier`, on ground-truth boxes or on the
//!   detector's own.

pub mod eval;
pub mod faces;
pub mod net;
pub mod recipe;
pub mod relabel;
pub mod train;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything that decides a classifier's training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifyConfig {
    /// Passes over the training faces.
    pub epochs: u32,
    /// Face crops per optimiser step.
    pub batch_size: usize,
    /// Peak learning rate (Adam), after a one-epoch linear warm-up, then cosine decay.
    pub lr: f64,
    /// L2 weight decay of the convolution and linear weights (not biases or BatchNorm).
    pub weight_decay: f64,
    /// Side of the square input in pixels.
    pub side: u32,
    /// Crop margin on every side, as a fraction of the face's longer side.
    pub margin: f32,
    /// Channel multiplier of the network.
    pub net_width: f64,
    /// Weight each class's loss by the inverse of its share of the training faces, so
    /// rare classes count as much as common ones.
    pub balance: bool,
    /// Faces whose longer side is under this many source pixels are left out.
    pub min_face_px: f32,
    /// Augmentation: largest shift of the crop's centre, as a fraction of its side.
    pub shift: f32,
    /// Augmentation: largest relative change of the crop's side.
    pub scale: f32,
    /// Augmentation: largest rotation, in degrees.
    pub rotate: f32,
    /// Augmentation: probability of a horizontal flip.
    pub flip: f64,
    /// Augmentation: largest relative change of brightness, contrast and saturation.
    pub colour: f32,
    /// Seed of the random choices (initial weights, shuffling, augmentation, split).
    pub seed: u64,
    /// Display names by class id, written into the exported card (a person reads
    /// `no mask`, the data says `sin_mascarilla`): `class_names = { sin_mascarilla =
    /// "no mask" }`. Each 1 to 40 printable ASCII characters, without `=` or `,`; a
    /// class not named is shown as its id. Kept last: TOML writes tables after values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub class_names: BTreeMap<String, String>,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 64,
            lr: 3e-3,
            weight_decay: 1e-4,
            side: 64,
            margin: 0.2,
            net_width: 1.0,
            balance: true,
            min_face_px: 6.0,
            shift: 0.08,
            scale: 0.12,
            rotate: 12.0,
            flip: 0.5,
            colour: 0.3,
            seed: 1,
            class_names: BTreeMap::new(),
        }
    }
}

impl ClassifyConfig {
    /// Read a TOML recipe (unknown keys refused), the defaults filling what it omits.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let cfg = recipe::parse(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read and check the recipe file at `path`; errors name the file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = edge::input::read_text(path, "a training recipe", edge::input::MAX_TEXT_BYTES)
            .map_err(edge::exit::usage)?;
        Self::from_toml_str(&text).with_context(|| format!("{}: bad recipe", path.display())).map_err(edge::exit::usage)
    }

    /// Check every setting against its range; the error names the setting.
    pub fn validate(&self) -> Result<()> {
        fn check(key: &str, v: f64, lo: f64, hi: f64) -> Result<()> {
            if !(v.is_finite() && v >= lo && v <= hi) {
                bail!("`{key}` = {v}: must lie in {lo}..={hi}");
            }
            Ok(())
        }
        check("epochs", self.epochs as f64, 1.0, crate::config::MAX_EPOCHS as f64)?;
        check("batch_size", self.batch_size as f64, 1.0, 4096.0)?;
        check("lr", self.lr, 1e-7, 1.0)?;
        check("weight_decay", self.weight_decay, 0.0, 0.1)?;
        check("side", self.side as f64, 16.0, 256.0)?;
        check("margin", self.margin as f64, 0.0, 1.0)?;
        check("net_width", self.net_width, 0.25, 4.0)?;
        check("min_face_px", self.min_face_px as f64, 1.0, 4096.0)?;
        check("shift", self.shift as f64, 0.0, 0.5)?;
        check("scale", self.scale as f64, 0.0, 0.5)?;
        check("rotate", self.rotate as f64, 0.0, 45.0)?;
        check("flip", self.flip, 0.0, 1.0)?;
        check("colour", self.colour as f64, 0.0, 1.0)?;
        for (id, name) in &self.class_names {
            if id.trim().is_empty() {
                bail!("`class_names`: a class id is empty");
            }
            edge::model::check_display_name(name).map_err(|e| anyhow::anyhow!("`class_names`: class `{id}`: {e}"))?;
        }
        Ok(())
    }

    /// The display names of the classes `classes` (empty when none is named); an id that
    /// is not one of them is refused.
    pub fn display_names(&self, classes: &[String]) -> Result<Vec<String>> {
        let pairs: Vec<(String, String)> = self.class_names.clone().into_iter().collect();
        edge::model::apply_class_names(classes, &[], &pairs).map_err(|e| anyhow::anyhow!("`class_names`: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_read_with_ranges_checked() {
        let cfg = ClassifyConfig::from_toml_str("[optim]\nepochs = 4\n[net]\nside = 48\n").unwrap();
        assert_eq!((cfg.epochs, cfg.side, cfg.batch_size), (4, 48, 64));
        for (text, key) in [
            ("[net]\nside = 8", "side"),
            ("[optim]\nlr = nan", "lr"),
            ("[net]\nmargin = -0.1", "margin"),
            ("[optim]\nepochs = 0", "epochs"),
        ] {
            let err = ClassifyConfig::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let err = ClassifyConfig::from_toml_str("[net]\nsides = 3").unwrap_err().to_string();
        assert!(err.starts_with("2:1: unknown field `sides`"), "unknown keys are refused at their place: {err}");
        let named = ClassifyConfig::from_toml_str("class_names = { b = \"bee\" }\n[optim]\nepochs = 2\n").unwrap();
        let classes = ["a".to_string(), "b".to_string()];
        assert_eq!(named.display_names(&classes).unwrap(), ["a", "bee"]);
        assert!(ClassifyConfig::default().display_names(&classes).unwrap().is_empty());
        // Written back (the card's recipe) and read again.
        assert_eq!(
            ClassifyConfig::from_toml_str(&toml::to_string(&recipe::to_tables(&named)).unwrap()).unwrap(),
            named
        );
        for (text, why) in [
            ("class_names = { a = \"\" }", "empty"),
            ("class_names = { a = \"x=y\" }", "`=`"),
            ("[class_names]\na = \"no\\tmask\"", "printable"),
        ] {
            let err = format!("{:#}", ClassifyConfig::from_toml_str(text).unwrap_err());
            assert!(err.contains("class_names") && err.contains(why), "{text}: {err}");
        }
        let err = ClassifyConfig::from_toml_str("class_names = { c = \"sea\" }").unwrap().display_names(&classes);
        assert!(err.unwrap_err().to_string().contains("`c` is not one of the classes: a, b"));
    }

    /// The shipped classifier's recipe reads, and names the face-mask set's classes as the
    /// shipped models' cards do.
    #[test]
    fn the_facemask_recipe_names_its_classes() {
        let cfg = ClassifyConfig::from_toml_str(include_str!("../../../recipes/facemask.toml")).unwrap();
        let classes = ["con_mascarilla", "mascarilla_mal_puesta", "sin_mascarilla"].map(String::from);
        assert_eq!(cfg.display_names(&classes).unwrap(), ["mask", "mask worn wrongly", "no mask"]);
    }
}
