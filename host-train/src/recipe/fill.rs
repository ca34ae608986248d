//! Between a recipe's tables and a [`TrainConfig`]: the keys a recipe sets, the
//! network and target rule a fine-tuning run takes from its checkpoint, and what differs
//! between the two when they cannot both hold.

use super::tables::{AugmentTable, NetTable, OptimTable, PhaseTable, RecipeFile, RunTable, TargetTable};
use crate::augment::AugmentConfig;
use crate::config::TrainConfig;

/// Set `cfg`'s fields from every key `file` gives; returns the `[net]`/`[target]` fields
/// given (named as `TrainConfig`'s).
pub(super) fn apply(file: &RecipeFile, cfg: &mut TrainConfig) -> Vec<&'static str> {
    let mut given = Vec::new();
    macro_rules! set {
        ($table:expr, $($key:ident => $field:ident),* $(,)?) => {$(
            if let Some(v) = &$table.$key {
                cfg.$field = v.clone().into();
                given.push(stringify!($field));
            }
        )*};
    }
    let (n, t, o, r) = (&file.net, &file.target, &file.optim, &file.run);
    set!(n, arch => arch, width => net_width, stride4_context => stride4_context, stride8_context => stride8_context);
    if let Some(p) = &n.prior_sizes {
        cfg.prior_sizes = Some(p.clone());
        given.push("prior_sizes");
    }
    if let Some([w, h]) = n.input_size {
        (cfg.width, cfg.height) = (w, h);
        given.push("input_size");
    }
    set!(t, match_iou => match_iou, min_face_px => min_face_px, near_iof => near_iof, neg_ratio => neg_ratio,
        face_prior => face_prior, iou_loss => iou_loss);
    let mark = given.len();
    set!(o, epochs => epochs, batch_size => batch_size, optimizer => optimizer, lr => lr,
        weight_decay => weight_decay, schedule => schedule, step_at => step_at, step_gamma => step_gamma,
        precision => precision, channels_last => channels_last);
    cfg.warmup_steps = o.warmup_steps.or(cfg.warmup_steps);
    set!(r, seed => seed, device => device, cache_images => cache_images, eval_every => eval_every);
    cfg.prefetch = r.prefetch.or(cfg.prefetch);
    augment(&file.augment, &mut cfg.augment);
    given.truncate(mark);
    given
}

/// Apply the augmentation keys `t` gives to `a`.
pub(super) fn augment(t: &AugmentTable, a: &mut AugmentConfig) {
    macro_rules! set {
        ($($key:ident),*) => {$( if let Some(v) = &t.$key { a.$key = v.clone(); } )*};
    }
    set!(crop, min_overlaps, min_crop_scale, expand, max_expand, flip, photometric);
}

/// The `[net]` and `[target]` keys of `cfg` that `given` leaves unset, and its input
/// size, taken from `from` (the checkpoint's settings): a fine-tuning run builds the
/// checkpoint's network and teaches by its rule unless told otherwise. Returns the
/// fields taken.
pub fn inherit(cfg: &mut TrainConfig, from: &TrainConfig, given: &[&str]) -> Vec<&'static str> {
    let mut taken = Vec::new();
    macro_rules! take {
        ($($field:ident),*) => {$(
            if !given.contains(&stringify!($field)) && cfg.$field != from.$field {
                cfg.$field = from.$field.clone();
                taken.push(stringify!($field));
            }
        )*};
    }
    take!(arch, net_width, prior_sizes, stride4_context, stride8_context);
    take!(match_iou, min_face_px, near_iof, neg_ratio, face_prior, iou_loss);
    if !given.contains(&"input_size") && (cfg.width, cfg.height) != (from.width, from.height) {
        (cfg.width, cfg.height) = (from.width, from.height);
        taken.push("input_size");
    }
    taken
}

/// The `[net]` keys whose values differ between a checkpoint's settings and a run's:
/// `net.stride8_context: checkpoint true, recipe false`.
pub fn net_diff(ckpt: &TrainConfig, run: &TrainConfig) -> Vec<String> {
    fn show<T: serde::Serialize>(v: &T) -> String {
        match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(serde_json::Value::Null) => "absent".into(),
            Ok(v) => v.to_string(),
            Err(_) => "?".into(),
        }
    }
    let mut out = Vec::new();
    macro_rules! diff {
        ($($field:ident => $key:literal),*) => {$(
            if ckpt.$field != run.$field {
                out.push(format!("net.{}: checkpoint {}, recipe {}", $key, show(&ckpt.$field), show(&run.$field)));
            }
        )*};
    }
    diff!(arch => "arch", net_width => "width", prior_sizes => "prior_sizes", stride4_context => "stride4_context",
        stride8_context => "stride8_context");
    out
}

/// What to tell a run whose network the checkpoint's weights do not fit: the `[net]`
/// keys that differ from the checkpoint's settings `ckpt` (when it recorded them) and
/// how to fix it, as the end of one line.
pub fn mismatch_fix(ckpt: Option<&TrainConfig>, run: &TrainConfig) -> String {
    let diff = ckpt.map(|c| net_diff(c, run)).unwrap_or_default();
    if diff.is_empty() {
        return "; pass the recipe it was trained with (--config)".into();
    }
    format!(
        " ({}): drop these keys from the recipe (the checkpoint's are then used) or pass the checkpoint's recipe \
         with --config",
        diff.join("; ")
    )
}

/// `cfg` as a recipe's tables (every setting; no `[data]`, which a `TrainConfig` does
/// not hold): what an exported card records, readable again with `--config`.
pub fn to_tables(cfg: &TrainConfig) -> RecipeFile {
    let aug = |a: &AugmentConfig| AugmentTable {
        crop: Some(a.crop),
        min_overlaps: Some(a.min_overlaps.clone()),
        min_crop_scale: Some(a.min_crop_scale),
        expand: Some(a.expand),
        max_expand: Some(a.max_expand),
        flip: Some(a.flip),
        photometric: Some(a.photometric),
    };
    let c = cfg.clone();
    RecipeFile {
        data: Default::default(),
        net: NetTable {
            arch: Some(c.arch),
            width: Some(c.net_width),
            prior_sizes: c.prior_sizes,
            stride4_context: Some(c.stride4_context),
            stride8_context: Some(c.stride8_context),
            input_size: Some([c.width, c.height]),
            init: c.init.map(|p| p.display().to_string()),
        },
        target: TargetTable {
            match_iou: Some(c.match_iou),
            min_face_px: Some(c.min_face_px),
            near_iof: Some(c.near_iof),
            neg_ratio: Some(c.neg_ratio),
            face_prior: Some(c.face_prior),
            iou_loss: Some(c.iou_loss),
        },
        optim: OptimTable {
            epochs: Some(c.epochs),
            batch_size: Some(c.batch_size),
            optimizer: Some(c.optimizer),
            lr: Some(c.lr),
            weight_decay: Some(c.weight_decay),
            schedule: Some(c.schedule),
            warmup_steps: c.warmup_steps,
            step_at: Some(c.step_at),
            step_gamma: Some(c.step_gamma),
            precision: Some(c.precision),
            channels_last: Some(c.channels_last),
        },
        run: RunTable {
            seed: Some(c.seed),
            device: Some(c.device),
            prefetch: c.prefetch,
            cache_images: Some(c.cache_images),
            eval_every: Some(c.eval_every),
        },
        augment: aug(&c.augment),
        phase: (c.phases.iter())
            .map(|p| PhaseTable { epochs: Some(p.epochs), name: Some(p.name.clone()), augment: aug(&p.augment) })
            .collect(),
    }
}
