//! The classifier's training loop: Adam with a one-epoch warm-up and cosine decay, a
//! class-weighted cross-entropy, validation (loss and balanced accuracy on unaugmented
//! crops) each epoch, and a checkpoint per epoch in the detector's layout
//! (`crate::checkpoint::save_with`), so `--resume` continues exactly. The epochs
//! themselves (resume messages, progress, CPU time) are run by [`crate::epochs`].

use super::faces::{batch, FaceSet};
use super::net::{build_model, ClassifierNet, ClassifierSpec};
use super::ClassifyConfig;
use crate::checkpoint;
use crate::config::{warmup_cosine, OptimizerKind};
use crate::epochs::{self, Epoch, Epochs};
use crate::optim::Optimizer;
use crate::plot::{epoch_chart, Range, Series};
use crate::proxy::cpu_seconds;
use anyhow::{bail, Context, Result};
use edge::model::{ClassifierCard, InputSpec, Provenance, CLASSIFIER_KIND};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{nn, Device, Kind, Reduction, Tensor};

/// What a classifier checkpoint's `meta.json` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierMeta {
    /// Always `classifier`: the detector's commands refuse this folder.
    pub kind: String,
    /// The network's layers, enough to rebuild it for the saved weights.
    pub spec: ClassifierSpec,
    /// Class names, in the order of the network's outputs.
    pub classes: Vec<String>,
    /// Training faces per class.
    pub training_faces: Vec<usize>,
    /// The configuration it was trained with.
    pub config: ClassifyConfig,
    /// The data trained on, as given.
    pub data: String,
    /// Epochs completed.
    pub epochs: u32,
    /// Optimiser steps done.
    pub steps: i64,
    /// Per epoch: training loss, validation loss, validation balanced accuracy, CPU seconds
    /// (the validation's NaN without validation data, which JSON writes as `null`).
    #[serde(deserialize_with = "history_from_json")]
    pub history: Vec<[f64; 4]>,
}

impl checkpoint::Meta for ClassifierMeta {
    fn check(&self) -> Result<()> {
        checkpoint::check_progress(self.epochs, self.steps)?;
        checkpoint::in_range("history", self.history.len(), 0..=crate::config::MAX_EPOCHS as usize)?;
        for &n in &self.training_faces {
            checkpoint::in_range("training_faces", n, 0..=1_000_000_000)?;
        }
        self.config.validate().context("`config`")
    }
}

/// A history as written: `null` (a NaN) reads back as NaN.
fn history_from_json<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<[f64; 4]>, D::Error> {
    let rows: Vec<[Option<f64>; 4]> = Deserialize::deserialize(d)?;
    Ok(rows.into_iter().map(|row| row.map(|v| v.unwrap_or(f64::NAN))).collect())
}

/// The input every crop is normalised by (the detector's normalisation).
pub fn input_spec(side: u32) -> InputSpec {
    ClassifierCard::new(side, 0.0, vec![], Provenance::default()).input
}

/// Loss weights per class: the inverse of each class's share, scaled to average 1 over
/// the faces (`1` everywhere without balancing, or for a class with no faces).
pub fn class_weights(counts: &[usize], balance: bool) -> Vec<f64> {
    let total: usize = counts.iter().sum();
    let present = counts.iter().filter(|&&n| n > 0).count().max(1);
    (counts.iter()).map(|&n| if balance && n > 0 { total as f64 / (present * n) as f64 } else { 1.0 }).collect()
}

/// Balanced accuracy: the mean over classes with faces of each class's recall.
pub fn balanced_accuracy(confusion: &[Vec<usize>]) -> f64 {
    let recalls: Vec<f64> = (confusion.iter().enumerate())
        .filter(|(_, row)| row.iter().sum::<usize>() > 0)
        .map(|(i, row)| row[i] as f64 / row.iter().sum::<usize>() as f64)
        .collect();
    recalls.iter().sum::<f64>() / recalls.len().max(1) as f64
}

/// Mean loss and the confusion matrix (rows: truth, columns: prediction) of `net` on the
/// unaugmented crops of `set`.
fn validate(
    net: &ClassifierNet,
    set: &FaceSet,
    cfg: &ClassifyConfig,
    weights: &Tensor,
    device: Device,
) -> (f64, Vec<Vec<usize>>) {
    let n = set.classes.len();
    let mut confusion = vec![vec![0; n]; n];
    let (mut loss, mut count) = (0.0, 0);
    let spec = input_spec(cfg.side);
    let all: Vec<usize> = (0..set.faces.len()).collect();
    for chunk in all.chunks(256) {
        let (data, labels) = batch(set, chunk, cfg, &spec, None);
        let s = cfg.side as i64;
        let x = Tensor::from_slice(&data).view([chunk.len() as i64, 3, s, s]).to_device(device);
        let y = Tensor::from_slice(&labels).to_device(device);
        let logits = tch::no_grad(|| net.forward_t(&x, false));
        let l = logits.cross_entropy_loss::<Tensor>(&y, Some(weights.shallow_clone()), Reduction::Sum, -100, 0.0);
        loss += l.double_value(&[]);
        count += chunk.len();
        let pred: Vec<i64> = Vec::try_from(logits.argmax(1, false).to_device(Device::Cpu)).unwrap_or_default();
        for (&t, &p) in labels.iter().zip(&pred) {
            confusion[t as usize][p as usize] += 1;
        }
    }
    (loss / count.max(1) as f64, confusion)
}

/// Train on `train_set` (validating on `val` when given), checkpointing into `out` after
/// every epoch; with `resume`, continue the checkpoint in `out`. Returns the metadata.
pub fn train(
    train_set: &FaceSet,
    val: Option<&FaceSet>,
    data: &str,
    cfg: &ClassifyConfig,
    out: &Path,
    resume: bool,
    device: Device,
) -> Result<ClassifierMeta> {
    cfg.validate()?;
    if train_set.faces.is_empty() {
        bail!("no faces to train the classifier on");
    }
    epochs::refuse_overwrite(out, resume)?;
    tch::manual_seed(cfg.seed as i64);
    let spec = ClassifierSpec::new(cfg.net_width, train_set.classes.len() as i64);
    let mut vs = nn::VarStore::new(device);
    let net = ClassifierNet::new(&vs.root(), spec.clone());
    let mut opt = Optimizer::new(&vs, OptimizerKind::Adam, cfg.weight_decay);
    let mut meta = ClassifierMeta {
        kind: CLASSIFIER_KIND.into(),
        spec,
        classes: train_set.classes.clone(),
        training_faces: train_set.counts(),
        config: cfg.clone(),
        data: data.into(),
        epochs: 0,
        steps: 0,
        history: Vec::new(),
    };
    if resume {
        meta = resumed(meta, out, &mut vs, &mut opt)?;
    }
    let weights =
        Tensor::from_slice(&class_weights(&train_set.counts(), cfg.balance)).to_kind(Kind::Float).to_device(device);
    let batch_size = cfg.batch_size.min(train_set.faces.len());
    let steps_per_epoch = train_set.faces.len().div_ceil(batch_size);
    log::info!(
        "training a classifier of {} classes ({}) on {} faces at {}x{}, {} epochs, device {device:?}",
        train_set.classes.len(),
        train_set.describe(),
        train_set.faces.len(),
        cfg.side,
        cfg.side,
        cfg.epochs
    );
    let run = Epochs {
        done: meta.epochs,
        epochs: cfg.epochs,
        last: cfg.epochs,
        steps_per_epoch,
        show: true,
        cpu_before: meta.history.last().map_or(0.0, |h| h[3]),
        cpu_start: cpu_seconds(),
    };
    let mut pass = Pass { net: &net, opt: &mut opt, set: train_set, cfg, weights: &weights, device, batch_size };
    run.run(|e| {
        let loss = pass.epoch(e)?;
        let (val_loss, val_bacc) = match val {
            Some(v) if !v.faces.is_empty() => {
                let (l, confusion) = validate(&net, v, cfg, &weights, device);
                (l, balanced_accuracy(&confusion))
            }
            _ => (f64::NAN, f64::NAN),
        };
        meta.epochs = e.number;
        meta.steps = pass.opt.steps();
        meta.history.push([loss, val_loss, val_bacc, e.cpu_seconds()]);
        checkpoint::save_with(out, &vs, pass.opt, &meta)?;
        plot_history(out, &meta.history)?;
        Ok(epoch_line(loss, val_loss, val_bacc))
    })?;
    Ok(meta)
}

/// One epoch's progress line; without a validation set (NaN) it says so instead of
/// printing NaN.
fn epoch_line(loss: f64, val_loss: f64, val_bacc: f64) -> String {
    if val_loss.is_nan() {
        format!("loss {loss:.4} (no validation set)")
    } else {
        format!("loss {loss:.4}, validation loss {val_loss:.4}, balanced accuracy {val_bacc:.3}")
    }
}

/// `fresh` (this run's metadata before any epoch) continued from the checkpoint in
/// `out`, whose weights and optimiser state are loaded: it must be of the same network
/// and classes.
fn resumed(fresh: ClassifierMeta, out: &Path, vs: &mut nn::VarStore, opt: &mut Optimizer) -> Result<ClassifierMeta> {
    let was: ClassifierMeta =
        checkpoint::read_meta_as(out).with_context(|| format!("{}: not a classifier checkpoint", out.display()))?;
    if was.spec != fresh.spec || was.classes != fresh.classes {
        bail!(
            "{}: the checkpoint is for classes {:?} at width {}, not this run's {:?}",
            out.display(),
            was.classes,
            was.config.net_width,
            fresh.classes
        );
    }
    checkpoint::restore(out, vs, opt, Some(was.steps))?;
    epochs::report_resume(Some((&was.config, &fresh.config)), &was.data, &fresh.data, was.epochs, opt.steps());
    let ClassifierMeta { config, data, training_faces, .. } = fresh;
    Ok(ClassifierMeta { config, data, training_faces, ..was })
}

/// What one epoch of training works with.
struct Pass<'a> {
    net: &'a ClassifierNet,
    opt: &'a mut Optimizer,
    set: &'a FaceSet,
    cfg: &'a ClassifyConfig,
    weights: &'a Tensor,
    device: Device,
    batch_size: usize,
}

impl Pass<'_> {
    /// One pass over the training faces in the epoch's order, with one epoch of
    /// learning-rate warm-up then cosine decay over the run. Returns the mean loss.
    fn epoch(&mut self, e: &Epoch) -> Result<f64> {
        let (cfg, set) = (self.cfg, self.set);
        let steps_per_epoch = set.faces.len().div_ceil(self.batch_size);
        let total = steps_per_epoch.saturating_mul(cfg.epochs as usize);
        let (spec_in, s) = (input_spec(cfg.side), cfg.side as i64);
        let mut rng = epochs::epoch_rng(cfg.seed, e.number);
        let mut order: Vec<usize> = (0..set.faces.len()).collect();
        order.shuffle(&mut rng);
        let mut sum = 0.0;
        for (k, chunk) in order.chunks(self.batch_size).enumerate() {
            let step = (e.number - 1) as usize * steps_per_epoch + k;
            let lr = warmup_cosine(cfg.lr, step, steps_per_epoch, total);
            let seed = rand::Rng::random::<u64>(&mut rng);
            let (data, labels) = batch(set, chunk, cfg, &spec_in, Some(seed));
            let x = Tensor::from_slice(&data).view([chunk.len() as i64, 3, s, s]).to_device(self.device);
            let y = Tensor::from_slice(&labels).to_device(self.device);
            let logits = self.net.forward_t(&x, true);
            let weights = Some(self.weights.shallow_clone());
            let loss = logits.cross_entropy_loss::<Tensor>(&y, weights, Reduction::Mean, -100, 0.0);
            let v = loss.double_value(&[]);
            if !v.is_finite() {
                bail!("the loss became {v} at step {step}: lower `lr` (now {})", cfg.lr);
            }
            sum += v;
            self.opt.backward_step(&loss, lr);
            e.step(format_args!("loss {:.3}", sum / (k + 1) as f64));
        }
        Ok(sum / steps_per_epoch as f64)
    }
}

/// `loss.png` (training and validation loss) and `accuracy.png` in the checkpoint.
fn plot_history(out: &Path, history: &[[f64; 4]]) -> Result<()> {
    let col =
        |i: usize| -> Vec<(f64, f64)> { history.iter().enumerate().map(|(e, h)| ((e + 1) as f64, h[i])).collect() };
    let epochs = (1, history.len() as u32);
    let (train, val, acc) = (col(0), col(1), col(2));
    let losses = Range::of(train.iter().chain(&val).map(|p| p.1));
    epoch_chart(
        &out.join("loss.png"),
        "classifier loss",
        epochs,
        ("loss", losses),
        &[Series { label: "training".into(), points: &train }, Series { label: "validation".into(), points: &val }],
    )?;
    epoch_chart(
        &out.join("accuracy.png"),
        "validation balanced accuracy",
        epochs,
        ("balanced accuracy", Range { lo: 0.0, hi: 1.0 }),
        &[Series { label: "validation".into(), points: &acc }],
    )
}

/// Export the checkpoint in `dir` to an ONNX classifier at `out` (written atomically).
pub fn export_checkpoint(dir: &Path, out: &Path) -> Result<ClassifierCard> {
    let meta: ClassifierMeta =
        checkpoint::read_meta_as(dir).with_context(|| format!("{}: not a classifier checkpoint", dir.display()))?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = ClassifierNet::new(&vs.root(), meta.spec.clone());
    checkpoint::load_weights(dir, &mut vs)?;
    let recipe =
        toml::to_string(&super::recipe::to_tables(&meta.config)).context("the classifier config does not serialise")?;
    let provenance = Provenance {
        data: crate::data::describe_sources(&meta.data),
        architecture: format!("classifier-{:.2}", meta.config.net_width),
        epochs: meta.epochs,
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        git_commit: crate::export::git_commit(),
        recipe,
    };
    let card = ClassifierCard {
        training_faces: meta.training_faces.clone(),
        display_names: meta.config.display_names(&meta.classes)?,
        ..ClassifierCard::new(meta.config.side, meta.config.margin, meta.classes.clone(), provenance)
    };
    card.validate()?;
    crate::export::write_model(out, &build_model(net.spec(), &vs.variables(), &card)?)?;
    Ok(card)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rare_classes_weigh_more_and_accuracy_is_balanced() {
        assert_eq!(class_weights(&[30, 10, 0], true), vec![40.0 / 60.0, 2.0, 1.0]);
        assert_eq!(class_weights(&[30, 10], false), vec![1.0, 1.0]);
        // 90 of 100 right in class 0, 1 of 10 in class 1: plain accuracy 0.83, balanced 0.5.
        let confusion = vec![vec![90, 10], vec![9, 1]];
        assert!((balanced_accuracy(&confusion) - 0.5).abs() < 1e-12);
        assert_eq!(balanced_accuracy(&[vec![0, 0], vec![0, 4]]), 1.0, "a class without faces is left out");
    }

    #[test]
    fn an_epoch_without_validation_says_so() {
        assert_eq!(epoch_line(0.25, f64::NAN, f64::NAN), "loss 0.2500 (no validation set)");
        assert_eq!(epoch_line(0.25, 0.5, 0.75), "loss 0.2500, validation loss 0.5000, balanced accuracy 0.750");
    }

    /// A run without validation data records NaN, which JSON writes as `null`: it reads
    /// back (a resume or an export works); numbers out of range are refused by name.
    #[test]
    fn metadata_round_trips_without_validation_and_is_range_checked() {
        let dir = std::env::temp_dir().join(format!("facecam-classifier-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let meta = ClassifierMeta {
            kind: CLASSIFIER_KIND.into(),
            spec: ClassifierSpec::new(0.5, 2),
            classes: vec!["a".into(), "b".into()],
            training_faces: vec![3, 4],
            config: ClassifyConfig::default(),
            data: "test".into(),
            epochs: 1,
            steps: 2,
            history: vec![[0.5, f64::NAN, f64::NAN, 1.0]],
        };
        let path = dir.join("meta.json");
        std::fs::write(&path, serde_json::to_string(&meta).unwrap()).unwrap();
        let back: ClassifierMeta = checkpoint::read_meta_as(&dir).unwrap();
        assert_eq!(back.history[0][0], 0.5);
        assert!(back.history[0][1].is_nan() && back.history[0][2].is_nan());
        let huge = ClassifierMeta { epochs: u32::MAX, ..meta };
        std::fs::write(&path, serde_json::to_string(&huge).unwrap()).unwrap();
        let err = format!("{:#}", checkpoint::read_meta_as::<ClassifierMeta>(&dir).unwrap_err());
        assert_eq!(err, format!("{}: `epochs` = 4294967295: must lie in 0..=100000", path.display()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn learning_rate_warms_up_then_decays() {
        assert!((warmup_cosine(1.0, 0, 10, 100) - 0.1).abs() < 1e-12);
        assert!((warmup_cosine(1.0, 10, 10, 100) - 1.0).abs() < 1e-12);
        assert!((warmup_cosine(1.0, 100, 10, 100) - 0.02).abs() < 1e-12);
    }
}
