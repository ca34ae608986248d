//! `train`: the detector's training run, and the options both trainers share.

use super::{count, data_spec, load_photos};
use anyhow::Result;
use clap::Args;
use edge::cmdline::float_in;
use edge::preprocess::parse_size;
use host_train::augment::AugmentConfig;
use host_train::config::{DeviceChoice, OptimizerKind, Schedule, TrainConfig};
use host_train::eval::ap::Rule;
use host_train::net::Arch;
use host_train::proxy::ProxyConfig;
use host_train::recipe::{self, DataRecipe};
use host_train::{data, export};
use std::ops::Bound::{Excluded, Included};
use std::path::PathBuf;

/// The options of both trainers (`train` and `classify`): data, recipe, the common
/// knobs, and what to do at the end.
#[derive(Args)]
pub struct TrainFlags {
    #[command(flatten)]
    pub data: RecipeData,
    /// Held-out validation data (same forms as --data), measured after every epoch:
    /// loss curves and, for a detector, a grid of predictions; for a classifier, its
    /// balanced accuracy [default: a detector recipe's `[data] val`].
    #[arg(long = "val", value_parser = data_spec)]
    pub val: Vec<String>,
    /// A TOML recipe (a detector's: recipes/facecam.toml, its keys listed by
    /// `facecam-train config --print`); the flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    // epochs, batch size and lr are checked with the recipe's values (`TrainConfig::validate`,
    // exit 2), so a flag and a recipe key out of range get the same message.
    /// Passes over the training data, 1..=100000 [default: the recipe's].
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Images (or face crops) per step, 1..=4096 [default: the recipe's].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate: (0, 10] for a detector, 1e-7..=1 for a classifier [default: the
    /// recipe's].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Where to train: auto (CUDA when available, else CPU), cpu or cuda [default: the
    /// recipe's, else auto].
    #[arg(long, value_enum)]
    pub device: Option<DeviceChoice>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Also export the final checkpoint to this ONNX file.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Leave out of training the photos named in this file (one file name per line), e.g.
    /// the photos held out for testing (`recipes/holdout.txt`); names not in the data are
    /// fine (they may sit in another split) [default: a detector recipe's `[data] exclude`].
    #[arg(long)]
    pub exclude: Option<PathBuf>,
}

/// The training data of a trainer: `--data`, or a detector recipe's `[data] sources`.
#[derive(Args)]
pub struct RecipeData {
    /// A data source, `KIND:PATH[@OPTION]…` (repeat for several): kinds wider, labelme,
    /// voc, coco, yolo, crops; options a class list (`a,b`, `*` for all) and a split
    /// (`train`, `val`, `test`, or `=70/15/15` percent) [default: the recipe's `[data]
    /// sources`; given, these replace them].
    #[arg(long = "data", value_parser = data_spec, required_unless_present = "config")]
    pub data: Vec<String>,
}

/// `train`'s options.
#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    common: TrainFlags,
    /// Checkpoint folder.
    #[arg(long, default_value = "out/checkpoint")]
    out: PathBuf,
    /// The optimiser [default: the recipe's, else adam].
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// The learning-rate schedule [default: the recipe's].
    #[arg(long, value_enum)]
    schedule: Option<Schedule>,
    /// Network family [default: the recipe's, else slim].
    #[arg(long, value_enum)]
    arch: Option<Arch>,
    /// Model input size, WIDTHxHEIGHT [default: the recipe's, else 320x240].
    #[arg(long, alias = "input", value_parser = parse_size)]
    input_size: Option<(u32, u32)>,
    /// Channel multiplier of the network, in (0, 8] [default: the recipe's, else 1].
    #[arg(long, value_parser = float_in((Excluded(0.0), Included(8.0)), ""))]
    width: Option<f64>,
    /// Stop after this epoch, 1..=100000 (the schedule still spans --epochs); continue
    /// with --resume.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    stop_after: Option<u32>,
    /// Start from the weights of this checkpoint folder with a fresh optimiser and
    /// schedule: fine-tuning on your own photos, e.g. `--init models/facecam.ckpt` (the
    /// shipped model's). The network and the target rule are the checkpoint's, unless a
    /// recipe or flag sets them.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Turn training augmentation off (it is on by default).
    #[arg(long)]
    no_augment: bool,
    /// Decode training images from disk for every batch instead of keeping them
    /// decoded in memory (for sets larger than memory; slower).
    #[arg(long)]
    no_cache: bool,
    /// Use at most this many images, 1 or more (for quick runs).
    #[arg(long, value_parser = count(1, u64::MAX))]
    limit: Option<usize>,
    /// Random seed for initial weights, order and augmentation [default: the recipe's, else 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Proxy AP during training: the WIDER val images folder (`EVENT/NAME.jpg`); the
    /// official protocol on every `--proxy-stride`-th image, through the exported model.
    #[arg(long)]
    proxy_images: Option<PathBuf>,
    /// The official WIDER val `.mat` files for the proxy [default: the recipe's, else
    /// ../shared/data/widerface-val-gt/ground_truth].
    #[arg(long)]
    proxy_gt: Option<PathBuf>,
    /// Every this many-th val image is in the proxy slice (1..=1000) [default: the
    /// recipe's, else 10].
    #[arg(long, value_parser = count(1, 1000))]
    proxy_stride: Option<usize>,
    /// Measure the proxy every this many epochs (1..=1000) [default: the recipe's, else 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    proxy_every: Option<u32>,
}

impl TrainArgs {
    /// The recipe (or the defaults) with these flags applied, the network taken from
    /// `init`'s checkpoint where neither sets it, checked; and the run's data.
    fn config(&self, progress: bool) -> Result<(TrainConfig, DataRecipe)> {
        let (mut cfg, mut data, mut given) = match &self.common.config {
            Some(path) => {
                let r = recipe::load(path)?;
                (r.train, r.data, r.given)
            }
            None => (TrainConfig::default(), DataRecipe::default(), Vec::new()),
        };
        let c = &self.common;
        cfg.epochs = c.epochs.unwrap_or(cfg.epochs);
        cfg.batch_size = c.batch_size.unwrap_or(cfg.batch_size);
        cfg.lr = c.lr.unwrap_or(cfg.lr);
        cfg.device = c.device.unwrap_or(cfg.device);
        cfg.optimizer = self.optimizer.unwrap_or(cfg.optimizer);
        cfg.schedule = self.schedule.unwrap_or(cfg.schedule);
        cfg.arch = self.arch.unwrap_or(cfg.arch);
        (cfg.width, cfg.height) = self.input_size.unwrap_or((cfg.width, cfg.height));
        cfg.net_width = self.width.unwrap_or(cfg.net_width);
        for (flag, field) in [(self.arch.is_some(), "arch"), (self.width.is_some(), "net_width")] {
            given.extend(flag.then_some(field));
        }
        given.extend(self.input_size.map(|_| "input_size"));
        cfg.seed = self.seed.unwrap_or(cfg.seed);
        cfg.progress = progress;
        cfg.stop_after = self.stop_after;
        cfg.init = self.init.clone().or(cfg.init);
        if self.no_augment {
            cfg.augment = AugmentConfig::none();
            cfg.phases.iter_mut().for_each(|p| p.augment = AugmentConfig::none());
        }
        if self.no_cache {
            cfg.cache_images = false;
        }
        self.override_data(&mut data)?;
        if let Some(images) = &data.proxy_images {
            let gt = data.proxy_gt.clone().unwrap_or_else(|| "../shared/data/widerface-val-gt/ground_truth".into());
            let (stride, every) = (data.proxy_stride.unwrap_or(10), data.proxy_every.unwrap_or(1));
            cfg.proxy = Some(ProxyConfig { images: images.clone(), gt, stride, every });
        }
        if let (Some(init), false) = (cfg.init.clone(), c.resume) {
            fine_tune(&mut cfg, &init, &given)?;
        }
        cfg.validate().map_err(edge::exit::usage)?;
        Ok((cfg, data))
    }

    /// The recipe's `[data]` with the flags given in its place.
    fn override_data(&self, data: &mut DataRecipe) -> Result<()> {
        let c = &self.common;
        if !c.data.data.is_empty() {
            data.sources = c.data.data.clone();
        }
        if !c.val.is_empty() {
            data.val = c.val.clone();
        }
        data.exclude = c.exclude.clone().or(data.exclude.take());
        data.proxy_images = self.proxy_images.clone().or(data.proxy_images.take());
        data.proxy_gt = self.proxy_gt.clone().or(data.proxy_gt.take());
        data.proxy_stride = self.proxy_stride.or(data.proxy_stride);
        data.proxy_every = self.proxy_every.or(data.proxy_every);
        if data.sources.is_empty() {
            let recipe = c.config.as_ref().map_or(String::new(), |p| format!("{}: ", p.display()));
            let err = anyhow::anyhow!("{recipe}no training data: give --data, or `sources` in the recipe's [data]");
            return Err(edge::exit::usage(err));
        }
        Ok(())
    }
}

/// A run that starts from the checkpoint `init` builds its network and teaches by its
/// rule, except where the recipe or a flag (`given`) says otherwise.
fn fine_tune(cfg: &mut TrainConfig, init: &std::path::Path, given: &[&str]) -> Result<()> {
    let meta = host_train::checkpoint::read_meta(init)?;
    if let Some(from) = &meta.config {
        let taken = recipe::inherit(cfg, from, given);
        if !taken.is_empty() {
            log::info!("from {}'s settings: {}", init.display(), taken.join(", "));
        }
    }
    Ok(())
}

/// `facecam-train train`.
pub fn train(a: TrainArgs, progress: bool) -> Result<()> {
    let (cfg, data) = a.config(progress)?;
    let c = &a.common;
    let mut samples = load_photos(&data.sources)?;
    if let Some(list) = &data.exclude {
        let n = data::exclude_listed(&mut samples, list)?;
        log::info!("left out {n} images listed in {}", list.display());
    }
    if let Some(n) = a.limit {
        samples.truncate(n);
    }
    let val_samples = if data.val.is_empty() { Vec::new() } else { load_photos(&data.val)? };
    let report = host_train::train::train(&samples, &val_samples, &data.sources.join(" "), &cfg, &a.out, c.resume)?;
    println!(
        "trained {} epochs at {:.1} images/s; final loss {:.4}; checkpoint in {}",
        report.epoch_loss.len(),
        report.images_per_second,
        report.epoch_loss.last().copied().unwrap_or(f64::NAN),
        report.checkpoint.display()
    );
    if let Some(path) = &c.export {
        if val_samples.is_empty() {
            log::warn!("no --val data: {} has no threshold in its card (the camera uses 0.6)", path.display());
            export::export_checkpoint(&a.out, path, None)?;
        } else {
            super::val::export_chosen(&a.out, path, &val_samples, Rule::default())?;
        }
        println!("exported {}", path.display());
    }
    Ok(())
}
