//! Checkpoints: a directory with `weights.ot` (tch variables), `optimizer.ot` (the
//! optimiser's moments and step count), `meta.json` (the network spec, the training
//! config and how far training got), `metrics.csv` (one row per epoch) with its picture
//! `loss.png`, and `predictions/epoch-N.png` when there is validation data. Each file is
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
    /// Optimiser steps done when the checkpoint was written. The weights and the
    /// optimiser state record the same count, so a set mixed by an interrupted save is
    /// recognised (absent in checkpoints from before this check).
    #[serde(default)]
    pub steps: Option<i64>,
}

/// The name of the step marker stored beside the variables in `weights.ot`.
const STEP_MARKER: &str = "facecam.step";

const WEIGHTS: &str = "weights.ot";
const META: &str = "meta.json";
const OPTIMIZER: &str = "optimizer.ot";
const METRICS: &str = "metrics.csv";

/// Write the checkpoint into `dir` (created if needed).
pub fn save(dir: &Path, vs: &nn::VarStore, opt: &Optimizer, meta: &CheckpointMeta) -> Result<()> {
    save_with(dir, vs, opt, meta)
}

/// Write weights, optimiser state and any trainer's metadata `meta` (as `meta.json`,
/// last) into `dir`: the one checkpoint layout the detector and the classifier share.
pub fn save_with(dir: &Path, vs: &nn::VarStore, opt: &Optimizer, meta: &impl Serialize) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create checkpoint directory", dir.display()))?;
    let weights = dir.join(WEIGHTS);
    // tch picks the format from the extension, so the temporary keeps `.ot`.
    let tmp = dir.join("weights.tmp.ot");
    let mut named: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    named.push((STEP_MARKER.into(), tch::Tensor::from(opt.steps())));
    tch::Tensor::save_multi(&named, &tmp).with_context(|| format!("{}: cannot write weights", tmp.display()))?;
    std::fs::rename(&tmp, &weights).with_context(|| format!("{}: cannot move into place", weights.display()))?;
    opt.save(&dir.join(OPTIMIZER))?;
    atomic::write(&dir.join(META), serde_json::to_string_pretty(meta)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_mixed_by_an_interrupted_save_is_refused() {
        use crate::net::{Net, NetSpec};
        use crate::train::OptimizerKind;
        let dir = std::env::temp_dir().join(format!("facecam-ckpt-set-{}", std::process::id()));
        let spec = NetSpec::slim(0.25, &[3, 2, 2, 3], 2);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), spec.clone());
        let mut opt = Optimizer::new(&vs, OptimizerKind::Adam, 0.0);
        let x = tch::Tensor::randn([1, 3, 64, 64], (tch::Kind::Float, Device::Cpu));
        let step_and_save = |opt: &mut Optimizer| {
            let (c, r) = net.forward_t(&x, true);
            opt.backward_step(&(c.sum(tch::Kind::Float) + r.sum(tch::Kind::Float)), 1e-3);
            let meta = CheckpointMeta {
                spec: spec.clone(),
                width: 64,
                height: 64,
                epochs: opt.steps() as u32,
                data: "test".into(),
                last_loss: 0.0,
                config: None,
                steps: Some(opt.steps()),
            };
            save(&dir, &vs, opt, &meta).unwrap();
        };
        step_and_save(&mut opt);
        let old_weights = std::fs::read(dir.join(WEIGHTS)).unwrap();
        step_and_save(&mut opt);
        let fresh = || {
            let mut vs = nn::VarStore::new(Device::Cpu);
            let _net = Net::new(&vs.root(), spec.clone());
            let mut opt = Optimizer::new(&vs, OptimizerKind::Adam, 0.0);
            resume(&dir, &mut vs, &mut opt)
        };
        assert_eq!(fresh().unwrap().steps, Some(2), "a whole set resumes");
        // Killed after the weights of step 2 were written... here: the weights of step 1
        // beside the optimiser and metadata of step 2.
        std::fs::write(dir.join(WEIGHTS), old_weights).unwrap();
        let err = format!("{:#}", fresh().unwrap_err());
        assert!(err.contains("different steps") && err.contains("weights 1"), "{err}");
        // A truncated weights file is reported as unreadable, not as another network's.
        let whole = std::fs::read(dir.join(WEIGHTS)).unwrap();
        std::fs::write(dir.join(WEIGHTS), &whole[..whole.len() / 2]).unwrap();
        let err = format!("{:#}", fresh().unwrap_err());
        assert!(err.contains("weights.ot: not a readable weights file"), "{err}");
        // Another network's weights name the tensor that does not fit.
        let other = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&other.root(), NetSpec::slim(0.5, &[3, 2, 2, 3], 2));
        other.save(dir.join(WEIGHTS)).unwrap();
        let mut vs = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&vs.root(), spec.clone());
        let err = format!("{:#}", load_weights(&dir, &mut vs).unwrap_err());
        assert!(err.contains("do not fit this network: `") && err.contains("in the file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn metrics_round_trip_with_and_without_validation() {
        let dir = std::env::temp_dir().join(format!("facecam-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = |epoch, val_loss| EpochMetrics {
            epoch,
            loss: 4.0 / epoch as f64,
            class: 1.0,
            boxes: 3.0,
            lr: 1e-3,
            images_per_second: 20.0,
            val_loss,
            val_class: val_loss / 2.0,
            val_boxes: val_loss / 2.0,
            cpu_seconds: 60.0 * epoch as f64,
            proxy_ap: if epoch == 2 { [0.5, 0.4, 0.2] } else { [f64::NAN; 3] },
        };
        append_metrics(&dir, &m(1, 5.0)).unwrap();
        append_metrics(&dir, &m(2, f64::NAN)).unwrap();
        let rows = read_metrics(&dir).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].epoch, rows[0].loss, rows[0].val_loss), (1, 4.0, 5.0));
        assert!(rows[1].val_loss.is_nan(), "no validation in epoch 2");
        assert_eq!((rows[1].cpu_seconds, rows[1].proxy_ap), (120.0, [0.5, 0.4, 0.2]));
        assert!(rows[0].proxy_ap[0].is_nan());
        plot_losses(&dir).unwrap();
        assert!(dir.join("loss.png").exists() && dir.join("proxy-ap.png").exists());
        // Files from before the validation columns still read.
        std::fs::write(dir.join(METRICS), "epoch,loss,class_loss,box_loss,lr,images_per_second\n1,2,1,1,1e-3,9\n")
            .unwrap();
        assert_eq!(read_metrics(&dir).unwrap()[0].images_per_second, 9.0);
        std::fs::write(dir.join(METRICS), "h\n1,2,x,1,1,1\n").unwrap();
        let err = read_metrics(&dir).unwrap_err().to_string();
        assert!(err.contains("metrics.csv: line 2: column 3"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Read a checkpoint's metadata.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    read_meta_as(dir)
}

/// Read a checkpoint's `meta.json` as any trainer's metadata type.
pub fn read_meta_as<M: serde::de::DeserializeOwned>(dir: &Path) -> Result<M> {
    let path = dir.join(META);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read checkpoint metadata", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: malformed checkpoint metadata", path.display()))
}

/// Restore weights and optimiser state into an already built network; returns the
/// metadata (how many epochs are done).
pub fn resume(dir: &Path, vs: &mut nn::VarStore, opt: &mut Optimizer) -> Result<CheckpointMeta> {
    let meta = read_meta(dir)?;
    restore(dir, vs, opt, meta.steps)?;
    Ok(meta)
}

/// Restore weights and optimiser state from `dir`, checking that both come from the step
/// `meta_steps` its metadata records.
pub fn restore(dir: &Path, vs: &mut nn::VarStore, opt: &mut Optimizer, meta_steps: Option<i64>) -> Result<()> {
    let weights = dir.join(WEIGHTS);
    load_checked(&weights, vs)?;
    opt.load(&dir.join(OPTIMIZER))?;
    check_one_set(dir, meta_steps, opt.steps())
}

/// Load the weights in `dir` into `vs` (an exported checkpoint's network).
pub fn load_weights(dir: &Path, vs: &mut nn::VarStore) -> Result<()> {
    let weights = dir.join(WEIGHTS);
    if !weights.exists() {
        bail!("{}: checkpoint weights are missing", weights.display());
    }
    load_checked(&weights, vs)
}

/// Load `weights` into `vs`, telling a file that cannot be read at all (corrupt,
/// truncated, not a checkpoint) from one that reads but holds another network's tensors,
/// and naming the first tensor that is missing or of another shape.
fn load_checked(weights: &Path, vs: &mut nn::VarStore) -> Result<()> {
    let tensors = tch::Tensor::load_multi(weights).map_err(|e| {
        // libtorch's message runs on for lines of advice; its first clause says enough.
        let text = e.to_string();
        let text = text.trim_start_matches("Internal torch error: ");
        let first = text.split(". ").next().unwrap_or_default().lines().next().unwrap_or_default().to_string();
        anyhow::anyhow!("{}: not a readable weights file (corrupt or truncated?): {first}", weights.display())
    })?;
    let shapes: std::collections::HashMap<String, Vec<i64>> =
        tensors.iter().map(|(name, t)| (name.clone(), t.size())).collect();
    let mut wanted: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, var) in &wanted {
        match shapes.get(name) {
            None => bail!("{}: weights do not fit this network: it has no `{name}`", weights.display()),
            Some(shape) if *shape != var.size() => bail!(
                "{}: weights do not fit this network: `{name}` is {shape:?} in the file, {:?} in the network",
                weights.display(),
                var.size()
            ),
            Some(_) => {}
        }
    }
    vs.load(weights).with_context(|| format!("{}: weights do not fit this network", weights.display()))
}

/// Load a checkpoint's weights alone (a fine-tuning run's start); returns its metadata.
pub fn init_from(dir: &Path, vs: &mut nn::VarStore) -> Result<CheckpointMeta> {
    let meta = read_meta(dir)?;
    let weights = dir.join(WEIGHTS);
    load_checked(&weights, vs)?;
    Ok(meta)
}

/// Refuse a checkpoint whose files come from different steps (a save interrupted
/// between them): the weights' marker, the optimiser's count and `meta.json` must agree.
fn check_one_set(dir: &Path, meta_steps: Option<i64>, optimizer_steps: i64) -> Result<()> {
    let Some(meta_steps) = meta_steps else { return Ok(()) };
    let weights = dir.join(WEIGHTS);
    let marker = tch::Tensor::load_multi(&weights)
        .with_context(|| format!("{}: cannot read", weights.display()))?
        .into_iter()
        .find(|(n, _)| n == STEP_MARKER)
        .map(|(_, t)| t.int64_value(&[]));
    if marker != Some(meta_steps) || optimizer_steps != meta_steps {
        bail!(
            "{}: the checkpoint's files are from different steps (weights {}, optimizer.ot {optimizer_steps}, \
             {META} {meta_steps}): a save was interrupted; start the run again or restore the folder from a copy",
            dir.display(),
            marker.map_or("unmarked".to_string(), |m| m.to_string()),
        );
    }
    Ok(())
}

/// One epoch's row of `metrics.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochMetrics {
    pub epoch: u32,
    /// Mean training loss (class + box) and its parts.
    pub loss: f64,
    pub class: f64,
    pub boxes: f64,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    pub images_per_second: f64,
    /// Validation loss and its parts (NaN when there was no validation that epoch).
    pub val_loss: f64,
    pub val_class: f64,
    pub val_boxes: f64,
    /// CPU seconds the run has used so far, over all its sessions (NaN in old files).
    pub cpu_seconds: f64,
    /// Proxy AP (easy, medium, hard) on the fixed WIDER val slice (NaN when not measured).
    pub proxy_ap: [f64; 3],
}

const METRICS_HEADER: &str =
    "epoch,loss,class_loss,box_loss,lr,images_per_second,val_loss,val_class_loss,val_box_loss,\
                              cpu_seconds,proxy_ap_easy,proxy_ap_medium,proxy_ap_hard";

/// Record one epoch's row in `metrics.csv`, rewritten atomically: rows of this epoch or
/// later (left by an interrupted run) are replaced, and epoch 1 starts a new file.
pub fn append_metrics(dir: &Path, m: &EpochMetrics) -> Result<()> {
    let path = dir.join(METRICS);
    let mut text = format!("{METRICS_HEADER}\n");
    if m.epoch > 1 {
        if let Ok(old) = std::fs::read_to_string(&path) {
            let earlier =
                |l: &&str| l.split(',').next().and_then(|e| e.trim().parse::<u32>().ok()).is_some_and(|e| e < m.epoch);
            for line in old.lines().skip(1).filter(earlier) {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    let val = |v: f64| if v.is_finite() { format!("{v:.6}") } else { String::new() };
    text.push_str(&format!(
        "{},{:.6},{:.6},{:.6},{:.6e},{:.2},{},{},{},{},{},{},{}\n",
        m.epoch,
        m.loss,
        m.class,
        m.boxes,
        m.lr,
        m.images_per_second,
        val(m.val_loss),
        val(m.val_class),
        val(m.val_boxes),
        val(m.cpu_seconds),
        val(m.proxy_ap[0]),
        val(m.proxy_ap[1]),
        val(m.proxy_ap[2])
    ));
    atomic::write(&path, text.as_bytes())
}

/// Read `metrics.csv` back (files without validation columns read with NaN there).
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>> {
    let path = dir.join(METRICS);
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |what: &str| anyhow::anyhow!("{}: line {}: {what}", path.display(), n + 1);
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() < 6 {
            return Err(bad(&format!("{} columns, expected at least 6", cells.len())));
        }
        let num = |i: usize| -> Result<f64> {
            match cells.get(i).map(|c| c.trim()) {
                None | Some("") => Ok(f64::NAN),
                Some(c) => c.parse().map_err(|_| bad(&format!("column {} is not a number: `{c}`", i + 1))),
            }
        };
        let epoch = cells[0].trim().parse().map_err(|_| bad("the epoch is not a whole number"))?;
        rows.push(EpochMetrics {
            epoch,
            loss: num(1)?,
            class: num(2)?,
            boxes: num(3)?,
            lr: num(4)?,
            images_per_second: num(5)?,
            val_loss: num(6)?,
            val_class: num(7)?,
            val_boxes: num(8)?,
            cpu_seconds: num(9)?,
            proxy_ap: [num(10)?, num(11)?, num(12)?],
        });
    }
    Ok(rows)
}

/// Draw `metrics.csv` as loss curves (training and validation, total, class and box)
/// into `loss.png` beside it.
pub fn plot_losses(dir: &Path) -> Result<()> {
    use crate::plot::{chart, Range, Series};
    let rows = read_metrics(dir)?;
    let pick = |f: fn(&EpochMetrics) -> f64| rows.iter().map(|m| (m.epoch as f64, f(m))).collect::<Vec<_>>();
    let curves = [
        ("train loss", pick(|m| m.loss)),
        ("train class", pick(|m| m.class)),
        ("train box", pick(|m| m.boxes)),
        ("val loss", pick(|m| m.val_loss)),
        ("val class", pick(|m| m.val_class)),
        ("val box", pick(|m| m.val_boxes)),
    ];
    let series: Vec<Series> = (curves.iter())
        .filter(|(_, pts)| pts.iter().any(|p| p.1.is_finite()))
        .map(|(label, pts)| Series { label: label.to_string(), points: pts })
        .collect();
    let x = Range::of(rows.iter().map(|m| m.epoch as f64));
    let y = Range::of(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let y = Range { lo: y.lo.min(0.0), ..y };
    chart(&dir.join("loss.png"), &format!("training: {}", dir.display()), [("epoch", x), ("loss", y)], &series)?;
    plot_proxy(dir, &rows)
}

/// Proxy AP against CPU hours into `proxy-ap.png`, when any epoch measured it.
fn plot_proxy(dir: &Path, rows: &[EpochMetrics]) -> Result<()> {
    use crate::plot::{chart, Range, Series};
    let measured: Vec<&EpochMetrics> =
        rows.iter().filter(|m| m.proxy_ap[0].is_finite() && m.cpu_seconds.is_finite()).collect();
    if measured.is_empty() {
        return Ok(());
    }
    let curves: Vec<Vec<(f64, f64)>> =
        (0..3).map(|k| measured.iter().map(|m| (m.cpu_seconds / 3600.0, m.proxy_ap[k])).collect()).collect();
    let series: Vec<Series> = (["easy", "medium", "hard"].iter().zip(&curves))
        .map(|(name, points)| Series { label: format!("proxy AP {name}"), points })
        .collect();
    let x = Range::of(measured.iter().map(|m| m.cpu_seconds / 3600.0));
    let x = Range { lo: x.lo.min(0.0), ..x };
    let y = Range { lo: 0.0, hi: 1.0 };
    chart(&dir.join("proxy-ap.png"), &format!("proxy AP: {}", dir.display()), [("CPU hours", x), ("AP", y)], &series)
}

/// Load a checkpoint onto `device`: its variables, the network, and its metadata.
pub fn load(dir: &Path, device: Device) -> Result<(nn::VarStore, Net, CheckpointMeta)> {
    let meta = read_meta(dir)?;
    let mut vs = nn::VarStore::new(device);
    let net = Net::new(&vs.root(), meta.spec.clone());
    load_weights(dir, &mut vs)?;
    Ok((vs, net, meta))
}
