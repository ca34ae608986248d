//! The training loop: batches built in the loop (CPU) or on a loader thread while the
//! network trains on the previous one (CUDA), the multibox loss, an optimiser with warm-up and a cosine or step
//! schedule, a progress bar, validation, and a checkpoint after every epoch.

use crate::checkpoint::{self, CheckpointMeta, EpochMetrics};
use crate::config::TrainConfig;
use crate::data::Sample;
use crate::loader::{prepare, BatchMaker, HostBatch, ImageSet};
use crate::loss::{diou_loss, multibox_loss};
use crate::net::{Compute, Net, NetSpec};
use crate::optim::Optimizer;
use crate::proxy::{cpu_seconds, Proxy};
use crate::validate::validate;
use anyhow::{bail, Context, Result};
use edge::model::{ModelCard, Provenance};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;
use tch::nn;

/// What a run produced.
#[derive(Debug)]
pub struct TrainReport {
    pub checkpoint: PathBuf,
    /// Mean loss per epoch.
    pub epoch_loss: Vec<f64>,
    pub images_per_second: f64,
    pub skipped: Vec<(PathBuf, String)>,
}

/// The settings that differ between two configurations, as `name: old → new`.
pub fn changed_settings<T: serde::Serialize>(was: &T, now: &T) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(was), serde_json::to_value(now))
    else {
        return vec!["(settings not comparable)".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| v.map_or("unset".to_string(), |v| v.to_string());
    (keys.into_iter())
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {} → {}", show(a.get(k)), show(b.get(k))))
        .collect()
}

/// The RNG of one epoch: derived from the seed and the epoch alone, so a run resumed at
/// an epoch boundary draws exactly what the uninterrupted run drew.
pub(crate) fn epoch_rng(seed: u64, epoch: u32) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(epoch as u64))
}

/// Train on `samples`, validating on `val` (may be empty), checkpointing into `out`
/// after each epoch. With `resume`, continue from the checkpoint in `out` (weights,
/// optimiser state, epoch and step), which must come from the same configuration.
pub fn train(
    samples: &[Sample],
    val: &[Sample],
    data: &str,
    cfg: &TrainConfig,
    out: &Path,
    resume: bool,
) -> Result<TrainReport> {
    if samples.is_empty() {
        bail!("no training samples");
    }
    cfg.validate()?;
    if !resume && out.join("meta.json").exists() {
        bail!(
            "{}: holds a checkpoint already; continue it with --resume, or train into another folder \
             (nothing was overwritten)",
            out.display()
        );
    }
    let device = cfg.device.resolve()?;
    tch::manual_seed(cfg.seed as i64);
    let card = ModelCard { priors: cfg.priors(), ..ModelCard::new(cfg.width, cfg.height, Provenance::default()) };
    let mut spec = NetSpec::new(cfg.arch, cfg.net_width, &card.priors.anchors_per_cell(), card.classes.len() as i64);
    if cfg.stride4_context {
        spec = spec.with_stride4_context().context("`stride4_context` needs a stride-4 level")?;
    }
    if cfg.stride8_context {
        spec = spec.with_stride8_context().context("`stride8_context`: the network has no stride-8 level")?;
    }
    let mut vs = nn::VarStore::new(device);
    let mut net = Net::new(&vs.root(), spec.clone());
    let compute = Compute { bf16: cfg.precision.bf16(device), channels_last: cfg.channels_last };
    net.set_compute(compute);
    // 0 keeps libtorch's initialisation; `validate` has checked the range.
    if cfg.face_prior > 0.0 {
        net.init_heads(cfg.face_prior);
    }
    let proxy = cfg.proxy.as_ref().map(Proxy::open).transpose()?;
    let mut opt = Optimizer::new(&vs, cfg.optimizer, cfg.weight_decay);
    let mut done = 0;
    // CPU seconds of training: earlier sessions' (from the run's metrics) plus this
    // process's since here, less what the proxy measurements took.
    let mut cpu_before = 0.0;
    let cpu_start = cpu_seconds();
    let mut cpu_proxy = 0.0;
    if resume {
        let meta = checkpoint::resume(out, &mut vs, &mut opt)?;
        if meta.spec != spec || (meta.width, meta.height) != (cfg.width, cfg.height) {
            bail!(
                "{}: the checkpoint is for {} at {}x{}, not this configuration",
                out.display(),
                meta.spec.name,
                meta.width,
                meta.height
            );
        }
        if let Some(was) = &meta.config {
            let now = TrainConfig { stop_after: was.stop_after, progress: was.progress, ..cfg.clone() };
            let changed = changed_settings(was, &now);
            if !changed.is_empty() {
                eprintln!("warning: resuming with settings that differ from the checkpoint's: {}", changed.join(", "));
            }
        }
        if meta.data != data {
            eprintln!("warning: resuming on other data than the checkpoint's:\n  was {}\n  now {data}", meta.data);
        }
        done = meta.epochs;
        cpu_before = checkpoint::read_metrics(out)
            .ok()
            .and_then(|rows| rows.iter().rev().find(|m| m.epoch <= done).map(|m| m.cpu_seconds))
            .filter(|c| c.is_finite())
            .unwrap_or(0.0);
        eprintln!("resuming after epoch {done} (step {})", opt.steps());
    } else if let Some(init) = &cfg.init {
        let meta = checkpoint::read_meta(init)?;
        if meta.spec == spec {
            checkpoint::init_from(init, &mut vs)?;
            eprintln!("starting from the weights of {} ({} epochs)", init.display(), meta.epochs);
        } else if spec.backbone_in(&meta.spec).is_some() {
            let (meta, fresh) = checkpoint::init_from_related(init, &mut vs, &spec)?;
            // `backbone.7.branch0.1.conv.weight` → `backbone.7`: the layers, not each tensor.
            let layers: std::collections::BTreeSet<String> =
                fresh.iter().map(|n| n.split('.').take(2).collect::<Vec<_>>().join(".")).collect();
            eprintln!(
                "starting from the weights of {} ({}, {} epochs); {} of this {}'s {} tensors start fresh ({})",
                init.display(),
                meta.spec.name,
                meta.epochs,
                fresh.len(),
                spec.name,
                vs.variables().len(),
                layers.into_iter().collect::<Vec<_>>().join(", ")
            );
        } else {
            bail!("{}: `init` holds {}, not this run's {}", init.display(), meta.spec.name, spec.name);
        }
    }

    // Keep enough resolution for crops to zoom in on faces.
    let max_side = 4 * cfg.width.max(cfg.height);
    let (images, skipped) = ImageSet::open(samples, max_side, cfg.cache_images);
    let (val_prepared, val_skipped) = prepare(val, max_side);
    for (path, why) in skipped.iter().chain(&val_skipped) {
        eprintln!("warning: skipping {}: {why}", path.display());
    }
    if images.is_empty() {
        bail!("none of the {} training images could be read", samples.len());
    }
    let maker = BatchMaker::new(card, cfg.match_rule());
    let variances = maker.card.priors.variances;
    let batch = cfg.batch_size.max(1).min(images.len());
    let steps_per_epoch = images.len().div_ceil(batch);
    let total = steps_per_epoch * cfg.epochs as usize;
    let mut step = steps_per_epoch * done as usize;
    let bar = crate::progress::bar(cfg.progress, total, "steps");
    bar.set_position(step as u64);
    if cfg.progress {
        eprintln!(
            "training {} ({} parameters) on {} images ({}; {} for validation) at {}x{}, {} epochs, device {:?}{}",
            spec.name,
            spec.parameters(),
            images.len(),
            match images.cached_bytes() {
                0 => "read from disk as needed".to_string(),
                b => format!("{} MiB decoded in memory", b >> 20),
            },
            val_prepared.len(),
            cfg.width,
            cfg.height,
            cfg.epochs,
            device,
            if compute.bf16 { ", bf16" } else { "" }
        );
    }
    let mut epoch_loss = Vec::new();
    let started = Instant::now();
    let mut seen = 0usize;
    let last = cfg.stop_after.map_or(cfg.epochs, |s| s.min(cfg.epochs));
    for epoch in done + 1..=last {
        let mut rng = epoch_rng(cfg.seed, epoch);
        let mut order: Vec<usize> = (0..images.len()).collect();
        order.shuffle(&mut rng);
        let (mut sum, mut cls_sum, mut box_sum, mut count) = (0.0, 0.0, 0.0, 0);
        let epoch_started = Instant::now();
        let mut lr = cfg.lr;
        let mut train_step = |hb: HostBatch| -> Result<()> {
            lr = cfg.learning_rate(step, total);
            let b = hb.to_device(device);
            let (conf, loc) = net.forward_t(&b.images, true);
            let loss = multibox_loss(&conf, &loc, &b.labels, &b.loc_t, cfg.neg_ratio);
            let mut total_loss = &loss.class + &loss.boxes;
            if cfg.iou_loss > 0.0 {
                total_loss += diou_loss(&loc, &b.loc_t, &b.labels, variances) * cfg.iou_loss;
            }
            opt.backward_step(&total_loss, lr);
            let v = total_loss.double_value(&[]);
            if !v.is_finite() {
                bail!("training diverged at epoch {epoch}, step {step} (loss {v}); try a lower --lr");
            }
            let (c, x) = (loss.class.double_value(&[]), loss.boxes.double_value(&[]));
            (sum, cls_sum, box_sum, count) = (sum + v, cls_sum + c, box_sum + x, count + 1);
            step += 1;
            seen += hb.dims[0] as usize;
            let ips = seen as f64 / started.elapsed().as_secs_f64();
            bar.set_message(format!(
                "epoch {epoch}/{}  loss {v:.3} (cls {c:.3} box {x:.3})  lr {lr:.2e}  {ips:.1} img/s",
                cfg.epochs
            ));
            bar.inc(1);
            Ok(())
        };
        let make = |chunk: &[usize], rng: &mut StdRng| images.batch(&maker, chunk, rng, Some(&cfg.augment));
        let prefetch = cfg.prefetch.unwrap_or(if device.is_cuda() { 2 } else { 0 });
        if prefetch == 0 {
            for chunk in order.chunks(batch) {
                train_step(make(chunk, &mut rng)?)?;
            }
        } else {
            // The loader thread draws from the epoch RNG in the same order as the
            // in-loop path, so the batches are identical.
            std::thread::scope(|s| -> Result<()> {
                let (tx, rx) = mpsc::sync_channel(prefetch);
                s.spawn(move || {
                    for chunk in order.chunks(batch) {
                        if tx.send(make(chunk, &mut rng)).is_err() {
                            break; // the training loop stopped early
                        }
                    }
                });
                rx.into_iter().try_for_each(|hb| train_step(hb?))
            })?;
        }
        let n = count as f64;
        let mean = sum / n;
        epoch_loss.push(mean);
        let validating = !val_prepared.is_empty() && (epoch % cfg.eval_every.max(1) == 0 || epoch == cfg.epochs);
        let v = if validating {
            let grid = out.join("predictions").join(format!("epoch-{epoch:03}.png"));
            let v = validate(&net, &maker, &val_prepared, batch, cfg.neg_ratio, device, Some((grid.as_path(), 0.5)))?;
            Some(v)
        } else {
            None
        };
        let meta = CheckpointMeta {
            spec: spec.clone(),
            width: cfg.width,
            height: cfg.height,
            epochs: epoch,
            data: data.to_string(),
            last_loss: mean,
            config: Some(TrainConfig { stop_after: None, ..cfg.clone() }),
            steps: Some(opt.steps()),
        };
        checkpoint::save(out, &vs, &opt, &meta).context("saving checkpoint")?;
        let ips = images.len() as f64 / epoch_started.elapsed().as_secs_f64();
        let cpu = cpu_before + cpu_seconds() - cpu_start - cpu_proxy;
        let proxy_started = cpu_seconds();
        let proxy_ap = match &proxy {
            Some(p) if p.due(epoch, cfg.epochs) => {
                let model = out.join("proxy.onnx");
                crate::export::export_checkpoint(out, &model, None)?;
                p.measure(&model)?
            }
            _ => [f64::NAN; 3],
        };
        cpu_proxy += cpu_seconds() - proxy_started;
        let nan = f64::NAN;
        checkpoint::append_metrics(
            out,
            &EpochMetrics {
                epoch,
                loss: mean,
                class: cls_sum / n,
                boxes: box_sum / n,
                lr,
                images_per_second: ips,
                val_loss: v.map_or(nan, |v| v.loss),
                val_class: v.map_or(nan, |v| v.class),
                val_boxes: v.map_or(nan, |v| v.boxes),
                cpu_seconds: cpu,
                proxy_ap,
            },
        )?;
        checkpoint::plot_losses(out)?;
        let mut line = format!("epoch {epoch}/{}: mean loss {mean:.4}", cfg.epochs);
        if let Some(v) = v {
            line += &format!(", validation loss {:.4} (cls {:.3} box {:.3})", v.loss, v.class, v.boxes);
        }
        if proxy_ap[0].is_finite() {
            line += &format!(", proxy AP {:.3}/{:.3}/{:.3}", proxy_ap[0], proxy_ap[1], proxy_ap[2]);
        }
        line += &format!(", {:.2} CPU h", cpu / 3600.0);
        if bar.is_hidden() {
            if cfg.progress {
                eprintln!("{line}");
            }
        } else {
            bar.println(line);
        }
    }
    bar.finish_and_clear();
    let images_per_second = seen as f64 / started.elapsed().as_secs_f64();
    Ok(TrainReport { checkpoint: out.to_path_buf(), epoch_loss, images_per_second, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_settings_are_named_with_both_values() {
        let was = TrainConfig::default();
        assert!(changed_settings(&was, &was.clone()).is_empty());
        let now = TrainConfig { lr: was.lr * 2.0, epochs: was.epochs + 1, ..was.clone() };
        let changed = changed_settings(&was, &now);
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert!(changed[0].starts_with("epochs: ") && changed[1].starts_with("lr: "), "{changed:?}");
        assert!(changed[1].contains(&format!("{} → {}", was.lr, was.lr * 2.0)), "{changed:?}");
    }
}
