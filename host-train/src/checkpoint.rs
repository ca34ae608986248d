//! Checkpoints: a directory with `weights.ot` (tch variables) and `meta.json` (the
//! network spec and how far training got). Each file is written atomically, weights
//! first, so `meta.json` never describes weights that are not on disk.

use crate::net::{Net, NetSpec};
use anyhow::{bail, Context, Result};
use edge::atomic;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{nn, Device};

/// What a checkpoint says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub spec: NetSpec,
    /// Training input size.
    pub width: u32,
    pub height: u32,
    /// Epochs completed.
    pub epochs: u32,
    /// The data trained on, as given.
    pub data: String,
    /// Mean training loss of the last epoch.
    pub last_loss: f64,
}

const WEIGHTS: &str = "weights.ot";
const META: &str = "meta.json";

/// Write the checkpoint into `dir` (created if needed).
pub fn save(dir: &Path, vs: &nn::VarStore, meta: &CheckpointMeta) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create checkpoint directory", dir.display()))?;
    let weights = dir.join(WEIGHTS);
    // tch picks the format from the extension, so the temporary keeps `.ot`.
    let tmp = dir.join("weights.tmp.ot");
    vs.save(&tmp).with_context(|| format!("{}: cannot write weights", tmp.display()))?;
    std::fs::rename(&tmp, &weights).with_context(|| format!("{}: cannot move into place", weights.display()))?;
    atomic::write(&dir.join(META), serde_json::to_string_pretty(meta)?.as_bytes())
}

/// Read a checkpoint's metadata.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    let path = dir.join(META);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read checkpoint metadata", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: malformed checkpoint metadata", path.display()))
}

/// Load a checkpoint onto `device`: its variables, the network, and its metadata.
pub fn load(dir: &Path, device: Device) -> Result<(nn::VarStore, Net, CheckpointMeta)> {
    let meta = read_meta(dir)?;
    let weights = dir.join(WEIGHTS);
    if !weights.exists() {
        bail!("{}: checkpoint weights are missing", weights.display());
    }
    let mut vs = nn::VarStore::new(device);
    let net = Net::new(&vs.root(), meta.spec.clone());
    vs.load(&weights).with_context(|| format!("{}: weights do not fit the network in {META}", weights.display()))?;
    Ok((vs, net, meta))
}
