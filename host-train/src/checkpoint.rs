//! Checkpoints: a directory with `weights.ot` (tch variables), `optimizer.ot` (the
//! optimiser's moments and step count), `meta.json` (the network spec, the training
//! config and how far training got) and `metrics.csv` (one row per epoch). Each file is
//! written atomically, `meta.json` last, so it never describes files not yet on disk.

use crate::net::{Net, NetSpec};
use crate::optim::Optimizer;
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
    /// The training configuration (absent in checkpoints written by hand).
    #[serde(default)]
    pub config: Option<crate::train::TrainConfig>,
}

const WEIGHTS: &str = "weights.ot";
const META: &str = "meta.json";
const OPTIMIZER: &str = "optimizer.ot";
const METRICS: &str = "metrics.csv";

/// Write the checkpoint into `dir` (created if needed).
pub fn save(dir: &Path, vs: &nn::VarStore, opt: &Optimizer, meta: &CheckpointMeta) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create checkpoint directory", dir.display()))?;
    let weights = dir.join(WEIGHTS);
    // tch picks the format from the extension, so the temporary keeps `.ot`.
    let tmp = dir.join("weights.tmp.ot");
    vs.save(&tmp).with_context(|| format!("{}: cannot write weights", tmp.display()))?;
    std::fs::rename(&tmp, &weights).with_context(|| format!("{}: cannot move into place", weights.display()))?;
    opt.save(&dir.join(OPTIMIZER))?;
    atomic::write(&dir.join(META), serde_json::to_string_pretty(meta)?.as_bytes())
}

/// Read a checkpoint's metadata.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    let path = dir.join(META);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read checkpoint metadata", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: malformed checkpoint metadata", path.display()))
}

/// Restore weights and optimiser state into an already built network; returns the
/// metadata (how many epochs are done).
pub fn resume(dir: &Path, vs: &mut nn::VarStore, opt: &mut Optimizer) -> Result<CheckpointMeta> {
    let meta = read_meta(dir)?;
    let weights = dir.join(WEIGHTS);
    vs.load(&weights).with_context(|| format!("{}: weights do not fit this network", weights.display()))?;
    opt.load(&dir.join(OPTIMIZER))?;
    Ok(meta)
}

/// Append one epoch's row to `metrics.csv` (header written with the first row).
pub fn append_metrics(dir: &Path, epoch: u32, loss: f64, class: f64, boxes: f64, lr: f64, ips: f64) -> Result<()> {
    use std::io::Write;
    let path = dir.join(METRICS);
    let new = epoch == 1 || !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(!new)
        .write(true)
        .truncate(new)
        .open(&path)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    if new {
        writeln!(f, "epoch,loss,class_loss,box_loss,lr,images_per_second")?;
    }
    writeln!(f, "{epoch},{loss:.6},{class:.6},{boxes:.6},{lr:.6e},{ips:.2}")?;
    Ok(())
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
