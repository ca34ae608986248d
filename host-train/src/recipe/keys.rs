//! Every recipe key once: its table, what it means, its range (the text `config
//! --print` shows; `TrainConfig::validate` checks the numbers), and the place of a key
//! in a recipe's text for error messages.

/// One key of a recipe.
pub struct Key {
    /// Its table: `data`, `net`, `target`, `optim`, `run` or `augment`.
    pub table: &'static str,
    /// Its name in the table.
    pub key: &'static str,
    /// The `TrainConfig` field `validate` names for it (its own name where none).
    pub field: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// What values it takes.
    pub range: &'static str,
    /// An example value, shown commented out, for keys that are absent by default.
    pub example: &'static str,
}

const fn k(table: &'static str, key: &'static str, field: &'static str, doc: &'static str, range: &'static str) -> Key {
    Key { table, key, field, doc, range, example: "" }
}

const fn ex(key: Key, example: &'static str) -> Key {
    Key { example, ..key }
}

/// Every key, table by table in the order `config --print` shows them.
pub const KEYS: &[Key] = &[
    ex(k("data", "sources", "", "training sources, KIND:PATH[@OPTION] as --data, each drawn `weight` times per epoch (--data replaces them all)", "weight 1..=16, default 1"), r#"[{ spec = "wider:../../shared/data/widerface-subset@train", weight = 3 }, { spec = "voc:../../shared/data/face-mask" }]"#),
    ex(k("data", "val", "", "validation sources, measured after every epoch (--val replaces them)", "source specs"), r#"["wider:../../shared/data/widerface-subset@val"]"#),
    ex(k("data", "exclude", "", "a file of photo names left out of training, e.g. the held-out photos (--exclude replaces it)", "a file"), r#""holdout.txt""#),
    ex(k("data", "proxy_images", "", "WIDER val images folder for the proxy AP (--proxy-images replaces it)", "a folder"), r#""~/.cache/facecam/wider-val/WIDER_val/images""#),
    ex(k("data", "proxy_gt", "", "the official WIDER val .mat ground truth of the proxy [default: ../shared/data/widerface-val-gt/ground_truth from the working folder]", "a folder"), r#""$HOME/wider/ground_truth""#),
    ex(k("data", "proxy_stride", "", "every this many-th val image is in the proxy slice [default 10]", "1..=1000"), "10"),
    ex(k("data", "proxy_every", "", "measure the proxy every this many epochs (and after the last) [default 1]", "1..=1000"), "2"),
    k("net", "arch", "arch", "network family", "\"slim\" or \"rfb\""),
    k("net", "width", "net_width", "channel multiplier of the network", "(0, 8]"),
    ex(k("net", "prior_sizes", "prior_sizes", "prior sizes per level in input pixels: 4 levels (strides 8, 16, 32, 64) or 5 (a stride-4 level first) [default: 10/16/24, 32/48, 64/96, 128/192/256]", "1 to 8 sizes per level, each in [1, 4096]"), "[[4.0], [6.0, 11.0, 18.0], [32.0, 48.0], [64.0, 96.0], [128.0, 192.0, 256.0]]"),
    k("net", "stride4_context", "stride4_context", "stride-8 features, upsampled, added to the stride-4 head's input", "true needs five prior_sizes levels"),
    k("net", "stride8_context", "stride8_context", "stride-16 features, upsampled, added to the stride-8 head's input", "true or false"),
    k("net", "input_size", "width", "model input [width, height], pixels", "16..=4096 each"),
    ex(k("net", "init", "", "start from this checkpoint folder's weights (fine-tuning: fresh optimiser and schedule); absent [net]/[target] keys take the checkpoint's", "a checkpoint folder"), r#""../models/facecam.ckpt""#),
    k("target", "match_iou", "match_iou", "IoU at which a prior matches a face", "(0, 1]"),
    k("target", "min_face_px", "min_face_px", "faces under this many input pixels are ignore regions", "[0, 4096]"),
    k("target", "near_iof", "near_iof", "coverage at which a prior near a face or ignore region is ignored rather than background (0: off)", "[0, 1]"),
    k("target", "neg_ratio", "neg_ratio", "hard-negative mining: background priors kept per positive", "1..=100"),
    k("target", "face_prior", "face_prior", "initial face probability of every prior (0: libtorch's initialisation)", "0 or (0, 0.5]"),
    k("target", "iou_loss", "iou_loss", "weight of the Distance-IoU box term beside smooth-L1 (0: off)", "[0, 100]"),
    k("optim", "epochs", "epochs", "passes over the training images (with phases: their sum when absent)", "1..=100000"),
    k("optim", "batch_size", "batch_size", "images per optimiser step", "1..=4096"),
    k("optim", "optimizer", "optimizer", "the optimiser", "\"adam\" or \"sgd\""),
    k("optim", "lr", "lr", "peak learning rate, after warm-up", "(0, 10]"),
    k("optim", "weight_decay", "weight_decay", "L2 decay of convolution weights", "[0, 0.1]"),
    k("optim", "schedule", "schedule", "after warm-up: cosine to 2% of lr, or step cuts", "\"cosine\" or \"step\""),
    ex(k("optim", "warmup_steps", "warmup_steps", "linear warm-up steps [default: 5% of all steps, at most 200]", "0..=10000000"), "200"),
    k("optim", "step_at", "step_at", "step schedule: fractions of training at which the rate is cut", "each in [0, 1]"),
    k("optim", "step_gamma", "step_gamma", "step schedule: the factor of each cut", "(0, 1]"),
    k("optim", "precision", "precision", "forward-pass arithmetic: bf16 where the CPU has bf16 instructions (auto), fp32 or bf16", "\"auto\", \"fp32\" or \"bf16\""),
    k("optim", "channels_last", "channels_last", "channels-last batches (faster CPU convolutions)", "true or false"),
    k("run", "seed", "seed", "seed of initial weights, order and augmentation", "any whole number >= 0"),
    k("run", "device", "device", "where to train", "\"auto\", \"cpu\" or \"cuda\""),
    ex(k("run", "prefetch", "prefetch", "batches built ahead on a loader thread [default: 2 on CUDA, 0 on CPU]", "0..=64"), "2"),
    k("run", "cache_images", "cache_images", "keep decoded training images in memory", "true or false"),
    k("run", "eval_every", "eval_every", "validate every this many epochs (and after the last)", "1..=100000"),
    k("augment", "crop", "augment.crop", "probability of an SSD-style random crop", "[0, 1]"),
    k("augment", "min_overlaps", "augment.min_overlaps", "minimum kept fractions of each face, one drawn per crop", "each in [0, 1]"),
    k("augment", "min_crop_scale", "augment.min_crop_scale", "smallest crop side, as a fraction of the short side", "(0, 1]"),
    k("augment", "expand", "augment.expand", "probability of zooming out (faces get smaller)", "[0, 1]"),
    k("augment", "max_expand", "augment.max_expand", "largest zoom-out canvas, as a multiple of the image", "[1, 8]"),
    k("augment", "flip", "augment.flip", "probability of a horizontal flip", "[0, 1]"),
    k("augment", "photometric", "augment.photometric", "probability of each photometric change", "[0, 1]"),
];

/// The 1-based line and column of byte `at` of `text`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Where `key` of table `table` (`phase.augment` for a phase's) is set in `text`.
pub fn find(text: &str, table: &str, key: &str) -> Option<(usize, usize)> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(h) = t.strip_prefix('[') {
            current = h.trim_start_matches('[').split(']').next().unwrap_or_default().trim().to_string();
        } else if current == table && t.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('=')) {
            return Some((i + 1, line.len() - t.len() + 1));
        }
    }
    None
}

/// `validate`'s message about a field (`` `lr` = -1: must be … ``) in the recipe's words:
/// the key with its table and, where it is in `text`, `LINE:COL: ` before it.
pub fn place(text: &str, message: &str) -> anyhow::Error {
    let phase = message.starts_with("phase `");
    let field = message.split('`').nth(if phase { 3 } else { 1 }).unwrap_or_default();
    let Some(key) = KEYS.iter().find(|k| k.field == field && !k.field.is_empty()) else {
        return anyhow::anyhow!(" {message}");
    };
    let (table, name) = (if phase { "phase.augment" } else { key.table }, key.key);
    let renamed = message.replacen(&format!("`{field}`"), &format!("`{}.{name}`", key.table), 1);
    match find(text, table, name).or_else(|| find(text, "", name)) {
        Some((l, c)) => anyhow::anyhow!("{l}:{c}: {renamed}"),
        None => anyhow::anyhow!(" {renamed}"),
    }
}

/// For an unknown top-level key that is a key of some table (a recipe from before the
/// tables): where it belongs now.
pub fn table_hint(message: &str) -> String {
    let top = message.contains("expected one of `data`, `net`");
    let name = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next());
    let key =
        name.and_then(|n| KEYS.iter().find(|k| k.key == n || k.field == n || (n == "height" && k.key == "input_size")));
    match (top, key) {
        (true, Some(k)) => format!(
            "; it belongs in [{}] as `{}` (recipes are written in tables: `facecam-train config --print`)",
            k.table, k.key
        ),
        _ => String::new(),
    }
}
