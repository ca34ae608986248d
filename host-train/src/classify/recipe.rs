//! A classifier's recipe in tables, as a detector's (`crate::recipe`): `[net]` (width,
//! side, margin), `[target]` (balance, min_face_px), `[optim]` (epochs, batch_size, lr,
//! weight_decay), `[run]` (seed), `[augment]` (shift, scale, rotate, flip, colour) and
//! `[class_names]`; every key optional, unknown keys refused at their line and column.

use super::ClassifyConfig;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[net]`: the network and its input crops.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetTable {
    /// Channel multiplier, 0.25..=4.
    pub width: Option<f64>,
    /// Square input side in pixels, 16..=256.
    pub side: Option<u32>,
    /// Context around each face box, as a fraction of its size, 0..=1.
    pub margin: Option<f32>,
}

/// `[target]`: which faces teach, and how classes are weighed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetTable {
    /// Weigh the loss by inverse class frequency.
    pub balance: Option<bool>,
    /// Faces smaller than this many pixels are left out, 1..=4096.
    pub min_face_px: Option<f32>,
}

/// `[optim]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimTable {
    /// Passes over the faces, 1..=100000.
    pub epochs: Option<u32>,
    /// Crops per step, 1..=4096.
    pub batch_size: Option<usize>,
    /// Peak learning rate, 1e-7..=1.
    pub lr: Option<f64>,
    /// L2 weight decay, 0..=0.1.
    pub weight_decay: Option<f64>,
}

/// `[run]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunTable {
    /// Seed of weights, order and augmentation.
    pub seed: Option<u64>,
}

/// `[augment]`: jitter of each crop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentTable {
    /// Shift, fraction of the box, 0..=0.5.
    pub shift: Option<f32>,
    /// Scale change, fraction, 0..=0.5.
    pub scale: Option<f32>,
    /// Rotation, degrees, 0..=45.
    pub rotate: Option<f32>,
    /// Probability of a horizontal flip.
    pub flip: Option<f64>,
    /// Strength of colour changes, 0..=1.
    pub colour: Option<f32>,
}

/// A classifier recipe file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifyRecipe {
    /// The network.
    pub net: NetTable,
    /// What teaches.
    pub target: TargetTable,
    /// The optimiser.
    pub optim: OptimTable,
    /// The seed.
    pub run: RunTable,
    /// Crop jitter.
    pub augment: AugmentTable,
    /// Display names by class id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub class_names: BTreeMap<String, String>,
}

/// Parse a classifier recipe's tables into a config (not yet range-checked); errors
/// start with `LINE:COL: `.
pub fn parse(text: &str) -> Result<ClassifyConfig> {
    edge::input::nesting::check_toml(text)?;
    let r: ClassifyRecipe = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| crate::recipe::keys::line_col(text, s.start));
        let at = at.map_or(String::new(), |(l, c)| format!("{l}:{c}: "));
        anyhow::anyhow!("{at}{}", e.message().trim().replace('\n', "; "))
    })?;
    let mut c = ClassifyConfig { class_names: r.class_names, ..ClassifyConfig::default() };
    macro_rules! set {
        ($table:expr, $($key:ident => $field:ident),*) => {$( if let Some(v) = $table.$key { c.$field = v; } )*};
    }
    set!(r.net, width => net_width, side => side, margin => margin);
    set!(r.target, balance => balance, min_face_px => min_face_px);
    set!(r.optim, epochs => epochs, batch_size => batch_size, lr => lr, weight_decay => weight_decay);
    set!(r.run, seed => seed);
    set!(r.augment, shift => shift, scale => scale, rotate => rotate, flip => flip, colour => colour);
    Ok(c)
}

/// `c` as a recipe's tables (an exported card's recipe; [`parse`] reads it back).
pub fn to_tables(c: &ClassifyConfig) -> ClassifyRecipe {
    ClassifyRecipe {
        net: NetTable { width: Some(c.net_width), side: Some(c.side), margin: Some(c.margin) },
        target: TargetTable { balance: Some(c.balance), min_face_px: Some(c.min_face_px) },
        optim: OptimTable {
            epochs: Some(c.epochs),
            batch_size: Some(c.batch_size),
            lr: Some(c.lr),
            weight_decay: Some(c.weight_decay),
        },
        run: RunTable { seed: Some(c.seed) },
        augment: AugmentTable {
            shift: Some(c.shift),
            scale: Some(c.scale),
            rotate: Some(c.rotate),
            flip: Some(c.flip),
            colour: Some(c.colour),
        },
        class_names: c.class_names.clone(),
    }
}
