//! The detector's training loop: batches built in the loop (CPU) or on a loader thread
//! while the network trains on the previous one (CUDA), the multibox loss, an optimiser
//! with warm-up and a cosine or step schedule, validation, and a checkpoint after every
//! epoch. The epochs themselves (resume messages, progress, CPU time) are run by
//! [`crate::epochs`].

use crate::checkpoint::{self, CheckpointMeta, EpochMetrics};
use crate::config::TrainConfig;
use crate::data::Sample;
use crate::epochs::{self, epoch_rng, Epoch, Epochs};
use crate::loader::{prepare, BatchMaker, HostBatch, ImageSet, Prepared};
use crate::proxy::{cpu_seconds, Proxy};
use crate::validate::{validate, ValLoss};
use anyhow::{bail, Result};
use edge::model::ModelCard;
use rand::{rngs::StdRng, seq::SliceRandom};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;
use tch::Device;

mod model;
use model::Model;

/// What a run produced.
#[derive(Debug)]
pub struct TrainReport {
    /// The checkpoint folder written.
    pub checkpoint: PathBuf,
    /// Mean loss per epoch.
    pub epoch_loss: Vec<f64>,
    /// Mean training throughput over the whole run, images per second.
    pub images_per_second: f64,
    /// Images that could not be read, with the reason; they were left out.
    pub skipped: Vec<(PathBuf, String)>,
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
    epochs::refuse_overwrite(out, resume)?;
    let device = cfg.device.resolve()?;
    let mut model = Model::new(cfg, device)?;
    let proxy = cfg.proxy.as_ref().map(Proxy::open).transpose()?;
    // The CPU clock counts from here: resuming and opening the data are part of the run.
    let cpu_start = cpu_seconds();
    let (done, cpu_before) = if resume {
        model.resume(cfg, out, data)?
    } else {
        if let Some(init) = &cfg.init {
            model.init_from(init, cfg)?;
        }
        (0, 0.0)
    };
    let set = TrainingSet::open(samples, val, cfg, model.card.clone())?;
    let steps_per_epoch = set.images.len().div_ceil(set.batch);
    if cfg.progress {
        announce(cfg, &model, &set, device);
    }
    let run = Epochs {
        done,
        epochs: cfg.epochs,
        last: cfg.stop_after.map_or(cfg.epochs, |s| s.min(cfg.epochs)),
        steps_per_epoch,
        show: cfg.progress,
        cpu_before,
        cpu_start,
    };
    let mut t = Trainer {
        cfg,
        device,
        out,
        data,
        model,
        set,
        proxy,
        total: steps_per_epoch.saturating_mul(cfg.epochs as usize),
        step: steps_per_epoch.saturating_mul(done as usize),
        seen: 0,
        started: Instant::now(),
        epoch_loss: Vec::new(),
    };
    run.run(|e| t.epoch(e))?;
    let images_per_second = t.seen as f64 / t.started.elapsed().as_secs_f64();
    Ok(TrainReport {
        checkpoint: out.to_path_buf(),
        epoch_loss: t.epoch_loss,
        images_per_second,
        skipped: t.set.skipped,
    })
}

/// The images of a run, opened, and how batches are made of them.
struct TrainingSet {
    images: ImageSet,
    skipped: Vec<(PathBuf, String)>,
    val: Vec<Prepared>,
    maker: BatchMaker,
    batch: usize,
}

impl TrainingSet {
    /// Open the training images (decoded into memory when `cfg.cache_images`) and decode
    /// the validation images, warning about those that cannot be read.
    fn open(samples: &[Sample], val: &[Sample], cfg: &TrainConfig, card: ModelCard) -> Result<Self> {
        // Keep enough resolution for crops to zoom in on faces.
        let max_side = 4 * cfg.width.max(cfg.height);
        let (images, skipped) = ImageSet::open(samples, max_side, cfg.cache_images);
        let (val, val_skipped) = prepare(val, max_side);
        for (path, why) in skipped.iter().chain(&val_skipped) {
            log::warn!("skipping {}: {why}", path.display());
        }
        if images.is_empty() {
            bail!("none of the {} training images could be read", samples.len());
        }
        let batch = cfg.batch_size.max(1).min(images.len());
        Ok(TrainingSet { images, skipped, val, maker: BatchMaker::new(card, cfg.match_rule()), batch })
    }
}

/// The line that opens a run: what is trained, on what, where.
fn announce(cfg: &TrainConfig, model: &Model, set: &TrainingSet, device: Device) {
    log::info!(
        "training {} ({} parameters) on {} images ({}; {} for validation) at {}x{}, {} epochs{}, device {:?}{}",
        model.spec.name,
        model.spec.parameters(),
        set.images.len(),
        match set.images.cached_bytes() {
            0 => "read from disk as needed".to_string(),
            b => format!("{} MiB decoded in memory", b >> 20),
        },
        set.val.len(),
        cfg.width,
        cfg.height,
        cfg.epochs,
        match cfg.phases.is_empty() {
            true => String::new(),
            false => format!(
                " (phases: {})",
                cfg.phases.iter().map(|p| format!("{} {}", p.name, p.epochs)).collect::<Vec<_>>().join(", ")
            ),
        },
        device,
        if model.compute.bf16 { ", bf16" } else { "" }
    );
}

/// Sums of one epoch's steps.
#[derive(Debug, Clone, Copy)]
struct EpochSums {
    loss: f64,
    class: f64,
    boxes: f64,
    steps: usize,
    /// The learning rate of the last step.
    lr: f64,
}

/// One session of a run, epoch by epoch.
struct Trainer<'a> {
    cfg: &'a TrainConfig,
    device: Device,
    out: &'a Path,
    data: &'a str,
    model: Model,
    set: TrainingSet,
    proxy: Option<Proxy>,
    /// Steps of the whole run, and steps done (over every session).
    total: usize,
    step: usize,
    /// Images trained on in this session, since `started`.
    seen: usize,
    started: Instant,
    epoch_loss: Vec<f64>,
}

impl Trainer<'_> {
    /// Train one epoch, validate, checkpoint and record it; returns its line.
    fn epoch(&mut self, e: &Epoch) -> Result<String> {
        let sums = self.batches(e)?;
        self.finish(e, sums)
    }

    /// One pass over the training images in the epoch's order.
    fn batches(&mut self, e: &Epoch) -> Result<EpochSums> {
        let Trainer { cfg, device, model, set, total, step, seen, started, .. } = self;
        let (cfg, device, total, started, set) = (*cfg, *device, *total, *started, &*set);
        let mut rng = epoch_rng(cfg.seed, e.number);
        let mut order: Vec<usize> = (0..set.images.len()).collect();
        order.shuffle(&mut rng);
        let mut sums = EpochSums { loss: 0.0, class: 0.0, boxes: 0.0, steps: 0, lr: cfg.lr };
        let variances = set.maker.card.priors.variances;
        let train_step = |hb: HostBatch| -> Result<()> {
            let lr = cfg.learning_rate(*step, total);
            let (v, c, x) = model.learn(&hb.to_device(device), cfg, variances, lr);
            if !v.is_finite() {
                bail!("training diverged at epoch {}, step {step} (loss {v}); try a lower --lr", e.number);
            }
            let s = sums;
            sums = EpochSums { loss: s.loss + v, class: s.class + c, boxes: s.boxes + x, steps: s.steps + 1, lr };
            *step += 1;
            *seen += hb.dims[0] as usize;
            let ips = *seen as f64 / started.elapsed().as_secs_f64();
            e.step(format_args!("loss {v:.3} (cls {c:.3} box {x:.3})  lr {lr:.2e}  {ips:.1} img/s"));
            Ok(())
        };
        let augment = cfg.augment_at(e.number);
        let make = |chunk: &[usize], rng: &mut StdRng| set.images.batch(&set.maker, chunk, rng, Some(augment));
        let prefetch = cfg.prefetch.unwrap_or(if device.is_cuda() { 2 } else { 0 });
        feed(&order, set.batch, prefetch, rng, make, train_step)?;
        Ok(sums)
    }

    /// Validate (when due), checkpoint, measure the proxy AP (when due, off the CPU
    /// clock), append the epoch's metrics and redraw the loss plot.
    fn finish(&mut self, e: &Epoch, sums: EpochSums) -> Result<String> {
        let (out, epoch) = (self.out, e.number);
        let n = sums.steps as f64;
        let mean = sums.loss / n;
        self.epoch_loss.push(mean);
        let v = self.validate_when_due(epoch)?;
        self.save(epoch, mean)?;
        let ips = self.set.images.len() as f64 / e.elapsed().as_secs_f64();
        let cpu = e.cpu_seconds();
        let proxy_ap = e.off_the_clock(|| self.measure_proxy(epoch))?;
        let nan = f64::NAN;
        let metrics = EpochMetrics {
            epoch,
            loss: mean,
            class: sums.class / n,
            boxes: sums.boxes / n,
            lr: sums.lr,
            images_per_second: ips,
            val_loss: v.map_or(nan, |v| v.loss),
            val_class: v.map_or(nan, |v| v.class),
            val_boxes: v.map_or(nan, |v| v.boxes),
            cpu_seconds: cpu,
            proxy_ap,
        };
        checkpoint::append_metrics(out, &metrics)?;
        checkpoint::plot_losses(out)?;
        let mut line = format!("mean loss {mean:.4}");
        if let Some(v) = v {
            line += &format!(", validation loss {:.4} (cls {:.3} box {:.3})", v.loss, v.class, v.boxes);
        }
        if proxy_ap[0].is_finite() {
            line += &format!(", proxy AP {:.3}/{:.3}/{:.3}", proxy_ap[0], proxy_ap[1], proxy_ap[2]);
        }
        line += &format!(", {:.2} CPU h", cpu / 3600.0);
        Ok(line)
    }

    /// The validation loss every `eval_every` epochs and at the last, with a picture of
    /// the predictions in `predictions/epoch-NNN.png`; none without validation images.
    fn validate_when_due(&self, epoch: u32) -> Result<Option<ValLoss>> {
        let (cfg, set) = (self.cfg, &self.set);
        let due = epoch.is_multiple_of(cfg.eval_every.max(1)) || epoch == cfg.epochs;
        if set.val.is_empty() || !due {
            return Ok(None);
        }
        let grid = self.out.join("predictions").join(format!("epoch-{epoch:03}.png"));
        let net = &self.model.net;
        let v =
            validate(net, &set.maker, &set.val, set.batch, cfg.neg_ratio, self.device, Some((grid.as_path(), 0.5)))?;
        Ok(Some(v))
    }

    /// Checkpoint the run after `epoch`.
    fn save(&self, epoch: u32, mean: f64) -> Result<()> {
        let (cfg, model) = (self.cfg, &self.model);
        let meta = CheckpointMeta {
            spec: model.spec.clone(),
            width: cfg.width,
            height: cfg.height,
            epochs: epoch,
            data: self.data.to_string(),
            last_loss: mean,
            config: Some(TrainConfig { stop_after: None, ..cfg.clone() }),
            steps: Some(model.opt.steps()),
        };
        checkpoint::save(self.out, &model.vs, &model.opt, &meta)
    }

    /// Proxy AP of the checkpoint when due (NaN otherwise).
    fn measure_proxy(&self, epoch: u32) -> Result<[f64; 3]> {
        match &self.proxy {
            Some(p) if p.due(epoch, self.cfg.epochs) => {
                let model = self.out.join("proxy.onnx");
                crate::export::export_checkpoint(self.out, &model, None)?;
                p.measure(&model)
            }
            _ => Ok([f64::NAN; 3]),
        }
    }
}

/// Hand `step` the batches of `order`, `batch` images each, made by `make` from the
/// epoch's `rng`: in the loop, or (`prefetch` > 0) on a loader thread that keeps up to
/// `prefetch` batches ready. The loader thread draws from the RNG in the same order as
/// the in-loop path, so the batches are identical.
fn feed(
    order: &[usize],
    batch: usize,
    prefetch: usize,
    mut rng: StdRng,
    make: impl Fn(&[usize], &mut StdRng) -> Result<HostBatch> + Send,
    mut step: impl FnMut(HostBatch) -> Result<()>,
) -> Result<()> {
    if prefetch == 0 {
        for chunk in order.chunks(batch) {
            step(make(chunk, &mut rng)?)?;
        }
        return Ok(());
    }
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = mpsc::sync_channel(prefetch);
        s.spawn(move || {
            for chunk in order.chunks(batch) {
                if tx.send(make(chunk, &mut rng)).is_err() {
                    break; // the training loop stopped early
                }
            }
        });
        rx.into_iter().try_for_each(|hb| step(hb?))
    })
}
