//! The tables of a recipe file as written: every key optional (absent: the default, or
//! with `--init`, the checkpoint's), unknown keys refused with their line and column.
//! [`super::keys`] holds each key's range and the text `config --print` shows.

use crate::config::{DeviceChoice, OptimizerKind, Precision, Schedule};
use crate::net::Arch;
use serde::{Deserialize, Serialize};

/// A whole recipe file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecipeFile {
    /// What is trained on, validated on, left out, and the proxy AP's images.
    #[serde(skip_serializing_if = "DataTable::is_empty")]
    pub data: DataTable,
    /// The network, and the checkpoint it starts from.
    pub net: NetTable,
    /// What is taught: the matching rule and the loss.
    pub target: TargetTable,
    /// The optimiser, its schedule and the arithmetic.
    pub optim: OptimTable,
    /// Seed, device, caching and validation cadence.
    pub run: RunTable,
    /// Training-time augmentation (the phases may change it).
    pub augment: AugmentTable,
    /// The schedule in phases, in order; each overrides `[augment]` keys for its epochs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phase: Vec<PhaseTable>,
}

/// One data source and how often it is drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// `KIND:PATH[@OPTION]`, as `--data`; PATH relative to the recipe's folder.
    pub spec: String,
    /// Times the source is listed per epoch (1..=16; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// `[data]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataTable {
    /// Training sources (`--data` replaces them all).
    pub sources: Option<Vec<SourceEntry>>,
    /// Validation sources (`--val` replaces them).
    pub val: Option<Vec<String>>,
    /// A file of photo names to leave out (`--exclude` replaces it).
    pub exclude: Option<String>,
    /// WIDER val images folder for the proxy AP (`--proxy-images` replaces it).
    pub proxy_images: Option<String>,
    /// The official WIDER val `.mat` ground truth for the proxy.
    pub proxy_gt: Option<String>,
    /// Every this many-th val image is in the proxy slice.
    pub proxy_stride: Option<u32>,
    /// Measure the proxy every this many epochs.
    pub proxy_every: Option<u32>,
}

impl DataTable {
    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `[net]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetTable {
    /// Network family.
    pub arch: Option<Arch>,
    /// Channel multiplier.
    pub width: Option<f64>,
    /// Prior sizes per level, input pixels; five levels add a stride-4 level.
    pub prior_sizes: Option<Vec<Vec<f32>>>,
    /// Stride-8 features upsampled into the stride-4 head.
    pub stride4_context: Option<bool>,
    /// Stride-16 features upsampled into the stride-8 head.
    pub stride8_context: Option<bool>,
    /// Model input size, `[width, height]` pixels.
    pub input_size: Option<[u32; 2]>,
    /// Checkpoint folder whose weights start the run (relative to the recipe's folder).
    pub init: Option<String>,
}

/// `[target]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetTable {
    /// IoU at which a prior matches a face.
    pub match_iou: Option<f32>,
    /// Faces under this many input pixels are ignore regions.
    pub min_face_px: Option<f32>,
    /// Coverage at which a prior near a face is ignored rather than background.
    pub near_iof: Option<f32>,
    /// Background priors kept per positive (hard-negative mining).
    pub neg_ratio: Option<i64>,
    /// Initial face probability of every prior.
    pub face_prior: Option<f64>,
    /// Weight of the Distance-IoU box term.
    pub iou_loss: Option<f64>,
}

/// `[optim]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimTable {
    /// Passes over the training images (with phases: their sum when absent).
    pub epochs: Option<u32>,
    /// Images per step.
    pub batch_size: Option<usize>,
    /// The optimiser.
    pub optimizer: Option<OptimizerKind>,
    /// Peak learning rate.
    pub lr: Option<f64>,
    /// L2 weight decay on convolution weights.
    pub weight_decay: Option<f64>,
    /// Cosine or step decay after warm-up.
    pub schedule: Option<Schedule>,
    /// Linear warm-up steps.
    pub warmup_steps: Option<usize>,
    /// Step schedule: fractions of training at which the rate is cut.
    pub step_at: Option<Vec<f64>>,
    /// Step schedule: the factor of each cut.
    pub step_gamma: Option<f64>,
    /// Arithmetic of the forward pass.
    pub precision: Option<Precision>,
    /// Channels-last batches.
    pub channels_last: Option<bool>,
}

/// `[run]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunTable {
    /// Seed of weights, order and augmentation.
    pub seed: Option<u64>,
    /// Where to train.
    pub device: Option<DeviceChoice>,
    /// Batches built ahead on a loader thread.
    pub prefetch: Option<usize>,
    /// Keep decoded images in memory.
    pub cache_images: Option<bool>,
    /// Validate every this many epochs.
    pub eval_every: Option<u32>,
}

/// `[augment]`, and a phase's overrides of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentTable {
    /// Probability of a random crop.
    pub crop: Option<f64>,
    /// Minimum kept fractions of each face, one drawn per crop.
    pub min_overlaps: Option<Vec<f32>>,
    /// Smallest crop side, fraction of the short side.
    pub min_crop_scale: Option<f32>,
    /// Probability of zooming out.
    pub expand: Option<f64>,
    /// Largest zoom-out canvas, multiple of the image size.
    pub max_expand: Option<f32>,
    /// Probability of a horizontal flip.
    pub flip: Option<f64>,
    /// Probability of each photometric change.
    pub photometric: Option<f64>,
}

/// One `[[phase]]`: a stretch of epochs with its own augmentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhaseTable {
    /// Epochs of this phase (required).
    pub epochs: Option<u32>,
    /// A name for logs and comments.
    pub name: Option<String>,
    /// `[augment]` keys this phase changes; the others keep `[augment]`'s values.
    pub augment: AugmentTable,
}
