//! A checkpoint's `meta.json`: the detector's metadata, read for any trainer's type with
//! every number checked against its range where it is read, so a hand-edited or damaged
//! file (`"epochs": 4294967295`) is refused by name rather than overflowing later.

use super::{set, META};
use crate::config::MAX_EPOCHS;
use crate::net::NetSpec;
use crate::optim::MAX_STEPS;
use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::Path;

/// What a checkpoint says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// The network's layers, enough to rebuild it for the saved weights.
    pub spec: NetSpec,
    /// Training input width, pixels.
    pub width: u32,
    /// Training input height, pixels.
    pub height: u32,
    /// Epochs completed.
    pub epochs: u32,
    /// The data trained on, as given.
    pub data: String,
    /// Mean training loss of the last epoch.
    pub last_loss: f64,
    /// The training configuration (absent in checkpoints written by hand).
    #[serde(default)]
    pub config: Option<crate::config::TrainConfig>,
    /// Optimiser steps done when the checkpoint was written. The weights and the
    /// optimiser state record the same count, so a set mixed by an interrupted save is
    /// recognised (absent in checkpoints from before this check).
    #[serde(default)]
    pub steps: Option<i64>,
}

/// A trainer's checkpoint metadata: each says which of its numbers must lie in what range.
pub trait Meta: DeserializeOwned {
    /// Refuse a number out of its range, naming the field and the range.
    fn check(&self) -> Result<()>;
}

impl Meta for CheckpointMeta {
    fn check(&self) -> Result<()> {
        check_progress(self.epochs, self.steps.unwrap_or(0))?;
        in_range("width", self.width, 16..=4096)?;
        in_range("height", self.height, 16..=4096)?;
        if let Some(config) = &self.config {
            config.validate().context("`config`")?;
        }
        Ok(())
    }
}

/// Refuse `field` = `v` outside `range`: ``` `epochs` = 4294967295: must lie in 0..=100000 ```.
pub fn in_range<T: PartialOrd + Display>(field: &str, v: T, range: RangeInclusive<T>) -> Result<()> {
    if !range.contains(&v) {
        bail!("`{field}` = {v}: must lie in {}..={}", range.start(), range.end());
    }
    Ok(())
}

/// The progress every trainer records, in range: epochs completed and optimiser steps.
pub fn check_progress(epochs: u32, steps: i64) -> Result<()> {
    in_range("epochs", epochs, 0..=MAX_EPOCHS)?;
    in_range("steps", steps, 0..=MAX_STEPS)
}

/// Read a checkpoint's metadata.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    read_meta_as(dir)
}

/// Read a checkpoint's `meta.json` as any trainer's metadata type, its numbers checked;
/// errors name the file.
pub fn read_meta_as<M: Meta>(dir: &Path) -> Result<M> {
    let path = set::folder(dir).join(META);
    let text = edge::input::read_text(&path, "a checkpoint's metadata file", edge::input::MAX_TEXT_BYTES)?;
    let meta: M =
        serde_json::from_str(&text).with_context(|| format!("{}: malformed checkpoint metadata", path.display()))?;
    meta.check().with_context(|| path.display().to_string())?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_out_of_range_are_refused_naming_the_file_and_field() {
        let dir = std::env::temp_dir().join(format!("facecam-meta-range-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let meta = CheckpointMeta {
            spec: NetSpec::slim(0.25, &[3, 2, 2, 3], 2),
            width: 64,
            height: 64,
            epochs: 3,
            data: "test".into(),
            last_loss: 0.5,
            config: Some(crate::config::TrainConfig::default()),
            steps: Some(30),
        };
        let mut json = serde_json::to_value(&meta).unwrap();
        std::fs::write(dir.join(META), json.to_string()).unwrap();
        assert_eq!(read_meta(&dir).unwrap(), meta);
        for (field, value, says) in [
            ("epochs", serde_json::json!(u32::MAX), "`epochs` = 4294967295: must lie in 0..=100000"),
            ("steps", serde_json::json!(i64::MAX), "`steps` = 9223372036854775807: must lie in 0..=1000000000000"),
            ("steps", serde_json::json!(-1), "`steps` = -1: must lie in 0..=1000000000000"),
            ("width", serde_json::json!(0), "`width` = 0: must lie in 16..=4096"),
        ] {
            let was = json[field].clone();
            json[field] = value;
            std::fs::write(dir.join(META), json.to_string()).unwrap();
            let err = format!("{:#}", read_meta(&dir).unwrap_err());
            assert_eq!(err, format!("{}: {says}", dir.join(META).display()), "{field}");
            json[field] = was;
        }
        json["config"]["epochs"] = serde_json::json!(0);
        std::fs::write(dir.join(META), json.to_string()).unwrap();
        let err = format!("{:#}", read_meta(&dir).unwrap_err());
        assert!(err.contains("meta.json: `config`: `epochs` = 0"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The checkpoints committed under `runs/` (the flat layout) read, checks and all.
    #[test]
    fn the_committed_checkpoints_pass_the_checks() {
        let runs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runs");
        let mut read = 0;
        for entry in std::fs::read_dir(&runs).unwrap() {
            let dir = entry.unwrap().path();
            if dir.join(META).is_file() {
                read_meta(&dir).unwrap_or_else(|e| panic!("{e:#}"));
                read += 1;
            }
        }
        assert!(read > 0, "no checkpoints under {}", runs.display());
    }
}
