//! Everything that decides a training run ([`TrainConfig`], read from a recipe file by
//! `crate::recipe`) and the
//! learning-rate schedule it implies.

use crate::augment::AugmentConfig;
use crate::net::Arch;
use crate::proxy::ProxyConfig;
use crate::target::MatchRule;
use anyhow::{bail, Context, Result};
use edge::model::PriorConfig;
use std::path::PathBuf;
use tch::Device;

mod phase;
pub use phase::{phase_at, Phase};

/// The most epochs a run may have (a recipe's `epochs`, a checkpoint's count).
pub const MAX_EPOCHS: u32 = 100_000;

/// Where to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when available, else CPU.
    Auto,
    /// The CPU, even when CUDA is available.
    Cpu,
    /// The first CUDA device; an error when there is none.
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
    /// Adam, betas 0.9 and 0.999.
    Adam,
    /// SGD with momentum 0.9.
    Sgd,
}

/// The arithmetic of the training forward pass (weights stay fp32 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 on CPUs with native bf16 instructions (AVX-512 BF16 or AMX), else fp32.
    Auto,
    /// fp32 throughout.
    Fp32,
    /// bf16 convolutions (autocast-style); slow where the CPU lacks bf16 instructions.
    Bf16,
}

impl Precision {
    /// Whether to compute in bf16 on `device`.
    pub fn bf16(self, device: Device) -> bool {
        match self {
            Precision::Fp32 => false,
            Precision::Bf16 => true,
            // On CUDA bf16 needs Ampere or later: not guessed, asked for explicitly.
            Precision::Auto => device == Device::Cpu && cpu_has_bf16(),
        }
    }
}

/// Whether this CPU has native bf16 arithmetic (Linux: the `avx512_bf16` or `amx_bf16`
/// flag in /proc/cpuinfo).
pub fn cpu_has_bf16() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|t| {
        t.lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == "avx512_bf16" || f == "amx_bf16"))
    })
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
    /// Passes over the training images.
    pub epochs: u32,
    /// Images per optimiser step.
    pub batch_size: usize,
    /// Peak learning rate, reached after warm-up, then lowered by `schedule`.
    pub lr: f64,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// L2 weight decay, added to the gradient of the convolution weights only.
    pub weight_decay: f64,
    /// How the learning rate falls after warm-up.
    pub schedule: Schedule,
    /// Linear warm-up steps (default: 5% of all steps, at most 200).
    pub warmup_steps: Option<usize>,
    /// For the step schedule: fractions of training at which the rate is cut.
    pub step_at: Vec<f64>,
    /// For the step schedule: the factor of each cut.
    pub step_gamma: f64,
    /// Model input width, pixels.
    pub width: u32,
    /// Model input height, pixels.
    pub height: u32,
    /// Network family.
    pub arch: Arch,
    /// Channel multiplier of the network.
    pub net_width: f64,
    /// Prior sizes per detection level, in input pixels (none: the card's default,
    /// 10/16/24, 32/48, 64/96, 128/192/256). Keeping each level's count keeps the network,
    /// so a run can start from a checkpoint with the default sizes. A fifth level, listed
    /// first, adds a stride-4 level (its head fresh when starting from four levels).
    pub prior_sizes: Option<Vec<Vec<f32>>>,
    /// Add the stride-8 features, upsampled, to the stride-4 head's input
    /// (`NetSpec::with_stride4_context`); needs the stride-4 level.
    pub stride4_context: bool,
    /// Add the stride-16 features, upsampled, to the stride-8 head's input
    /// (`NetSpec::with_stride8_context`).
    pub stride8_context: bool,
    /// IoU at which a prior matches a face (see `target::MatchRule`).
    pub match_iou: f32,
    /// Hard-negative mining: background priors kept per positive in the class loss.
    pub neg_ratio: i64,
    /// Weight of the Distance-IoU box term added to smooth-L1 (`loss::diou_loss`); 0 leaves it out.
    pub iou_loss: f64,
    /// Faces under this many input pixels are ignore regions.
    pub min_face_px: f32,
    /// Coverage at which a prior near a face or ignore region is ignored rather than
    /// taught as background (0: plain IoU matching).
    pub near_iof: f32,
    /// Seed of the random choices (initial weights, shuffling, augmentation).
    pub seed: u64,
    /// Where to train.
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
    /// Arithmetic of the training forward pass.
    pub precision: Precision,
    /// Feed the network channels-last (NHWC-strided) batches: faster convolutions on CPU.
    pub channels_last: bool,
    /// Initial face probability of every prior (see `Net::init_heads`); 0 keeps
    /// libtorch's default initialisation of the heads.
    pub face_prior: f64,
    /// Proxy AP on a fixed WIDER val slice, measured through the exported model.
    pub proxy: Option<ProxyConfig>,
    /// Training-time augmentation (of the epochs outside `phases`, when there are none).
    pub augment: AugmentConfig,
    /// The schedule in phases (a recipe's `[[phase]]` tables): each epoch trains with the
    /// augmentation of its phase; empty: `augment` throughout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
    /// Start from this checkpoint folder's weights (fine-tuning: a fresh optimiser and
    /// schedule); its network must be this one, its input size may differ.
    pub init: Option<PathBuf>,
    /// The recipe file these settings were read from (named in the exported card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe_file: Option<PathBuf>,
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
            iou_loss: 0.0,
            min_face_px: 10.0,
            near_iof: 0.5,
            prior_sizes: None,
            stride4_context: false,
            stride8_context: false,
            seed: 1,
            device: DeviceChoice::Auto,
            prefetch: None,
            cache_images: true,
            eval_every: 1,
            progress: true,
            precision: Precision::Auto,
            channels_last: true,
            face_prior: 0.01,
            proxy: None,
            augment: AugmentConfig::default(),
            phases: Vec::new(),
            init: None,
            recipe_file: None,
            stop_after: None,
        }
    }
}

impl TrainConfig {
    /// The augmentation of epoch `epoch` (numbered from 1): its phase's, else `augment`.
    pub fn augment_at(&self, epoch: u32) -> &AugmentConfig {
        phase_at(&self.phases, epoch).map_or(&self.augment, |p| &p.augment)
    }

    /// Check every numeric setting against its range; the error names the key (as in
    /// TOML; the command-line flag of the same name sets the same key).
    pub fn validate(&self) -> Result<()> {
        fn check(key: &str, v: f64, lo: f64, hi: f64, what: &str) -> Result<()> {
            if !(v.is_finite() && v >= lo && v <= hi) {
                bail!("`{key}` = {v}: must be {what}");
            }
            Ok(())
        }
        fn positive(key: &str, v: f64, hi: f64) -> Result<()> {
            if !(v.is_finite() && v > 0.0 && v <= hi) {
                bail!("`{key}` = {v}: must be above 0 and at most {hi}");
            }
            Ok(())
        }
        let a = &self.augment;
        check("epochs", self.epochs as f64, 1.0, MAX_EPOCHS as f64, "1..=100000")?;
        check("batch_size", self.batch_size as f64, 1.0, 4096.0, "1..=4096")?;
        positive("lr", self.lr, 10.0)?;
        check("weight_decay", self.weight_decay, 0.0, 0.1, "in [0, 0.1]")?;
        if let Some(w) = self.warmup_steps {
            check("warmup_steps", w as f64, 0.0, 1e7, "0..=10000000")?;
        }
        for &m in &self.step_at {
            check("step_at", m, 0.0, 1.0, "fractions of training in [0, 1]")?;
        }
        positive("step_gamma", self.step_gamma, 1.0)?;
        check("width", self.width as f64, 16.0, 4096.0, "16..=4096 pixels")?;
        check("height", self.height as f64, 16.0, 4096.0, "16..=4096 pixels")?;
        positive("net_width", self.net_width, 8.0)?;
        if let Some(levels) = &self.prior_sizes {
            if !matches!(levels.len(), 4 | 5) || levels.iter().any(|l| l.is_empty() || l.len() > 8) {
                bail!(
                    "`prior_sizes`: needs 4 levels (strides 8, 16, 32, 64), or 5 (a stride-4 level first), \
                     of 1 to 8 sizes each"
                );
            }
            for &s in levels.iter().flatten() {
                check("prior_sizes", s as f64, 1.0, 4096.0, "sizes in [1, 4096] input pixels")?;
            }
        }
        if self.stride4_context && self.prior_sizes.as_ref().is_none_or(|l| l.len() != 5) {
            bail!("`stride4_context`: needs a stride-4 level (five `prior_sizes` levels)");
        }
        positive("match_iou", self.match_iou as f64, 1.0)?;
        check("neg_ratio", self.neg_ratio as f64, 1.0, 100.0, "1..=100")?;
        check("iou_loss", self.iou_loss, 0.0, 100.0, "in [0, 100]")?;
        check("min_face_px", self.min_face_px as f64, 0.0, 4096.0, "in [0, 4096] pixels")?;
        check("near_iof", self.near_iof as f64, 0.0, 1.0, "in [0, 1] (0: off)")?;
        check("face_prior", self.face_prior, 0.0, 0.5, "0 (default initialisation) or in (0, 0.5]")?;
        check("eval_every", self.eval_every as f64, 1.0, 100_000.0, "1..=100000")?;
        if let Some(p) = self.prefetch {
            check("prefetch", p as f64, 0.0, 64.0, "0..=64")?;
        }
        for (key, p) in [("augment.crop", a.crop), ("augment.expand", a.expand), ("augment.flip", a.flip)] {
            check(key, p, 0.0, 1.0, "a probability in [0, 1]")?;
        }
        check("augment.photometric", a.photometric, 0.0, 1.0, "a probability in [0, 1]")?;
        for &m in &a.min_overlaps {
            check("augment.min_overlaps", m as f64, 0.0, 1.0, "fractions in [0, 1]")?;
        }
        positive("augment.min_crop_scale", a.min_crop_scale as f64, 1.0)?;
        check("augment.max_expand", a.max_expand as f64, 1.0, 8.0, "in [1, 8]")?;
        for p in &self.phases {
            check("phase.epochs", p.epochs as f64, 1.0, MAX_EPOCHS as f64, "1..=100000")?;
            Self { augment: p.augment.clone(), phases: Vec::new(), ..Self::default() }
                .validate()
                .with_context(|| format!("phase `{}`", p.name))?;
        }
        Ok(())
    }

    /// The priors these settings train (the card's default unless `prior_sizes` is set).
    pub fn priors(&self) -> PriorConfig {
        let mut p = PriorConfig::default();
        if let Some(sizes) = &self.prior_sizes {
            if sizes.len() == p.steps.len() + 1 {
                p.steps.insert(0, 4);
            }
            p.min_sizes = sizes.clone();
        }
        p
    }

    /// The labelling rule these settings describe.
    pub fn match_rule(&self) -> MatchRule {
        MatchRule { iou: self.match_iou, min_face_px: self.min_face_px, near: self.near_iof }
    }

    /// Learning rate at `step` of `total`: linear warm-up, then the schedule.
    pub fn learning_rate(&self, step: usize, total: usize) -> f64 {
        let warm = self.warmup_steps.unwrap_or((total / 20).clamp(1, 200)).max(1);
        if step < warm {
            return self.lr * (step + 1) as f64 / warm as f64;
        }
        match self.schedule {
            Schedule::Cosine => warmup_cosine(self.lr, step, warm, total),
            Schedule::Step => {
                let done = step as f64 / total.max(1) as f64;
                self.lr * self.step_gamma.powi(self.step_at.iter().filter(|&&m| done >= m).count() as i32)
            }
        }
    }
}

/// `peak` after a linear warm-up over the first `warm` steps (at least 1), then cosine
/// decay to 2% of `peak` at step `total`: the detector's cosine schedule and the
/// classifier's.
pub fn warmup_cosine(peak: f64, step: usize, warm: usize, total: usize) -> f64 {
    let warm = warm.max(1);
    if step < warm {
        return peak * (step + 1) as f64 / warm as f64;
    }
    let t = (step - warm) as f64 / (total - warm).max(1) as f64;
    peak * (0.02 + 0.98 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

#[cfg(test)]
mod tests;
