//! The training loop: batches built in the loop (CPU) or on a loader thread while the
//! network trains on the previous one (CUDA), the multibox loss, an optimiser with warm-up and a cosine or step
//! schedule, a progress bar, validation, and a checkpoint after every epoch.

use crate::augment::AugmentConfig;
use crate::checkpoint::{self, CheckpointMeta, EpochMetrics};
use crate::data::Sample;
use crate::loader::{prepare, BatchMaker, HostBatch, ImageSet};
use crate::loss::multibox_loss;
use crate::net::{Arch, Net, NetSpec};
use crate::optim::Optimizer;
use crate::validate::validate;
use anyhow::{bail, Context, Result};
use edge::model::{ModelCard, Provenance};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;
use tch::{nn, Device};

/// Where to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when available, else CPU.
    Auto,
    Cpu,
    Cuda,
}

impl DeviceChoice {
    /// The tch device, or an error when CUDA is asked for and absent.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceChoice::Cuda => {
                bail!("--device cuda: libtorch sees no CUDA device (is this a CUDA build of torch, and a GPU present?)")
            }
        }
    }
}

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// How the learning rate falls after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Cosine decay to 2% of the base rate.
    Cosine,
    /// Multiplied by `step_gamma` at each fraction of training in `step_at`.
    Step,
}

/// Everything that decides a training run; readable from TOML (every key optional,
/// unknown keys refused), e.g.
///
/// ```toml
/// arch = "rfb"
/// epochs = 40
/// lr = 2e-3
/// schedule = "step"
/// step_at = [0.6, 0.85]
/// width = 320
/// height = 240
/// [augment]
/// crop = 0.8
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: u32,
    pub batch_size: usize,
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// Linear warm-up steps (default: 5% of all steps, at most 200).
    pub warmup_steps: Option<usize>,
    /// For the step schedule: fractions of training at which the rate is cut.
    pub step_at: Vec<f64>,
    /// For the step schedule: the factor of each cut.
    pub step_gamma: f64,
    /// Model input size.
    pub width: u32,
    pub height: u32,
    /// Network family.
    pub arch: Arch,
    /// Channel multiplier of the network.
    pub net_width: f64,
    pub match_iou: f32,
    pub neg_ratio: i64,
    /// Faces under this many input pixels are ignore regions.
    pub min_face_px: f32,
    pub seed: u64,
    pub device: DeviceChoice,
    /// Batches built ahead on a loader thread while the network trains (0: build each
    /// batch in the loop); by default 2 on CUDA and 0 on CPU, where the loader's threads
    /// and libtorch's would fight over the same cores. The batches are the same either way.
    pub prefetch: Option<usize>,
    /// Keep decoded training images in memory (off: decode each from its file when used,
    /// for sets larger than memory). The batches are the same either way.
    pub cache_images: bool,
    /// Validate every this many epochs (and after the last), when there is validation data.
    pub eval_every: u32,
    /// Show a progress bar.
    #[serde(skip)]
    pub progress: bool,
    /// Training-time augmentation.
    pub augment: AugmentConfig,
    /// Stop after this epoch, as if interrupted (the schedule still spans `epochs`);
    /// continue later with `resume`.
    #[serde(skip)]
    pub stop_after: Option<u32>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 16,
            lr: 1e-3,
            optimizer: OptimizerKind::Adam,
            weight_decay: 5e-4,
            schedule: Schedule::Cosine,
            warmup_steps: None,
            step_at: vec![0.66, 0.88],
            step_gamma: 0.1,
            width: 320,
            height: 240,
            arch: Arch::Slim,
            net_width: 1.0,
            match_iou: 0.35,
            neg_ratio: 3,
            min_face_px: 10.0,
            seed: 1,
            device: DeviceChoice::Auto,
            prefetch: None,
            cache_images: true,
            eval_every: 1,
            progress: true,
            augment: AugmentConfig::default(),
            stop_after: None,
        }
    }
}

impl TrainConfig {
    /// Read a TOML training config; errors name the file and the offending key.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let cfg: Self =
            toml::from_str(&text).with_context(|| format!("{}: invalid training config", path.display()))?;
        Ok(Self { progress: true, ..cfg })
    }

    /// Learning rate at `step` of `total`: linear warm-up, then the schedule.
    pub fn learning_rate(&self, step: usize, total: usize) -> f64 {
        let warm = self.warmup_steps.unwrap_or((total / 20).clamp(1, 200)).max(1);
        if step < warm {
            return self.lr * (step + 1) as f64 / warm as f64;
        }
        match self.schedule {
            Schedule::Cosine => {
                let t = (step - warm) as f64 / (total - warm).max(1) as f64;
                self.lr * (0.02 + 0.98 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
            }
            Schedule::Step => {
                let done = step as f64 / total.max(1) as f64;
                self.lr * self.step_gamma.powi(self.step_at.iter().filter(|&&m| done >= m).count() as i32)
            }
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct TrainReport {
    pub checkpoint: PathBuf,
    /// Mean loss per epoch.
    pub epoch_loss: Vec<f64>,
    pub images_per_second: f64,
    pub skipped: Vec<(PathBuf, String)>,
}

/// The RNG of one epoch: derived from the seed and the epoch alone, so a run resumed at
/// an epoch boundary draws exactly what the uninterrupted run drew.
fn epoch_rng(seed: u64, epoch: u32) -> StdRng {
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
    let device = cfg.device.resolve()?;
    tch::manual_seed(cfg.seed as i64);
    let card = ModelCard::new(cfg.width, cfg.height, Provenance::default());
    let spec = NetSpec::new(cfg.arch, cfg.net_width, &card.priors.anchors_per_cell(), card.classes.len() as i64);
    let mut vs = nn::VarStore::new(device);
    let net = Net::new(&vs.root(), spec.clone());
    let mut opt = Optimizer::new(&vs, cfg.optimizer, cfg.weight_decay);
    let mut done = 0;
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
        if meta
            .config
            .as_ref()
            .is_some_and(|c| TrainConfig { stop_after: None, progress: c.progress, ..cfg.clone() } != *c)
        {
            eprintln!("warning: resuming with settings that differ from the checkpoint's");
        }
        done = meta.epochs;
        eprintln!("resuming after epoch {done} (step {})", opt.steps());
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
    let maker = BatchMaker::new(card, cfg.match_iou, cfg.min_face_px);
    let batch = cfg.batch_size.max(1).min(images.len());
    let steps_per_epoch = images.len().div_ceil(batch);
    let total = steps_per_epoch * cfg.epochs as usize;
    let mut step = steps_per_epoch * done as usize;
    let bar = if cfg.progress { ProgressBar::new(total as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps eta {eta}  {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_position(step as u64);
    if cfg.progress {
        eprintln!(
            "training {} ({} parameters) on {} images ({}; {} for validation) at {}x{}, {} epochs, device {:?}",
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
            device
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
            let total_loss = &loss.class + &loss.boxes;
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
        };
        checkpoint::save(out, &vs, &opt, &meta).context("saving checkpoint")?;
        let ips = images.len() as f64 / epoch_started.elapsed().as_secs_f64();
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
            },
        )?;
        checkpoint::plot_losses(out)?;
        let mut line = format!("epoch {epoch}/{}: mean loss {mean:.4}", cfg.epochs);
        if let Some(v) = v {
            line += &format!(", validation loss {:.4} (cls {:.3} box {:.3})", v.loss, v.class, v.boxes);
        }
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
    fn toml_configs_read_and_unknown_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("facecam-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "epochs = 7\noptimizer = \"sgd\"\narch = \"rfb\"\nschedule = \"step\"\n[augment]\ncrop = 0.0\n",
        )
        .unwrap();
        let cfg = TrainConfig::from_toml_file(&good).unwrap();
        assert_eq!((cfg.epochs, cfg.optimizer, cfg.augment.crop), (7, OptimizerKind::Sgd, 0.0));
        assert_eq!((cfg.arch, cfg.schedule), (Arch::Rfb, Schedule::Step));
        assert_eq!(cfg.lr, TrainConfig::default().lr);
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "epochs = 7\nlearning_rate = 1\n").unwrap();
        let err = format!("{:#}", TrainConfig::from_toml_file(&bad).unwrap_err());
        assert!(err.contains("bad.toml") && err.contains("learning_rate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn learning_rate_warms_up_then_decays() {
        let cfg = TrainConfig { lr: 1.0, ..Default::default() };
        let lr = |s| cfg.learning_rate(s, 1000);
        assert!(lr(0) < lr(40));
        assert!((lr(50) - 1.0).abs() < 1e-3);
        assert!(lr(500) < lr(100));
        assert!((lr(999) - 0.02).abs() < 1e-3);
    }

    #[test]
    fn step_schedule_cuts_at_its_milestones() {
        let cfg = TrainConfig {
            lr: 1.0,
            schedule: Schedule::Step,
            warmup_steps: Some(10),
            step_at: vec![0.5, 0.75],
            ..Default::default()
        };
        let lr = |s| cfg.learning_rate(s, 100);
        assert_eq!(lr(4), 0.5, "warming up");
        assert_eq!((lr(10), lr(49)), (1.0, 1.0));
        assert!((lr(50) - 0.1).abs() < 1e-12 && (lr(74) - 0.1).abs() < 1e-12);
        assert!((lr(75) - 0.01).abs() < 1e-12 && (lr(99) - 0.01).abs() < 1e-12);
    }
}
