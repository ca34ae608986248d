//! An exported model measured on the user's own labelled photos ([`measure`]), and the
//! card threshold written from that measurement: by `facecam-train val
//! --write-threshold` ([`set_threshold`]) and by `export` / `train --export`
//! ([`export_measured`]).

use super::ap::{Curve, Operating, Rule};
use super::run_wider::eval_options;
use crate::data::Sample;
use anyhow::{bail, Context, Result};
use edge::detector::Detector;
use edge::model::{AnyCard, ModelCard, CARD_KEY};
use std::path::{Path, PathBuf};

/// The highest threshold a card can hold (it must lie strictly below 1): a score that
/// rounds to 1.0 in f32 still passes it.
const HIGHEST: f32 = 0.999_999;

/// Run `model` over `samples` with the evaluation's post-processing (the camera's NMS,
/// a low threshold so the whole curve is seen): the scored outcomes, and the model's card.
pub fn measure(model: &Path, samples: &[Sample], progress: bool) -> Result<(Curve, ModelCard)> {
    let mut detector = Detector::load(model)?;
    let card = detector.card().clone();
    detector.options = eval_options();
    let bar = crate::progress::bar(progress, samples.len(), "images");
    let mut curve = Curve::default();
    for s in samples {
        let img = edge::source::decode::read_image(&s.image)?;
        curve.add_image(&detector.detect(&img)?, &s.boxes);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((curve, card))
}

/// The threshold a card stores for an operating point (below 1, as a card requires).
pub fn card_threshold(p: &Operating) -> f32 {
    p.threshold.min(HIGHEST)
}

/// Write `model` with `threshold` in its detector card to `out` (atomically: a reader
/// sees the old file or the new, never a part; `out` may be `model` itself, then the
/// file a symlink points at is replaced). The graph and weights are written back as read.
pub fn set_threshold(model: &Path, out: &Path, threshold: f32) -> Result<ModelCard> {
    let mut proto = crate::quantize::read_proto(model)?;
    let mut card = match AnyCard::read(&proto).with_context(|| format!("{}: refused", model.display()))? {
        AnyCard::Detector(card) => card,
        AnyCard::Classifier(_) => bail!("{}: a face classifier has no face threshold", model.display()),
    };
    card.score_threshold = Some(threshold);
    card.validate().with_context(|| format!("{}: refused", model.display()))?;
    let json = card.to_json();
    for entry in proto.metadata_props.iter_mut().filter(|e| e.key == CARD_KEY) {
        entry.value = json.clone();
    }
    let target = match out == model {
        true => model.canonicalize().with_context(|| format!("{}: cannot resolve", model.display()))?,
        false => out.to_path_buf(),
    };
    crate::export::write_model(&target, &proto)?;
    Ok(card)
}

/// `out` while it is being measured: a sibling no reader takes for the model.
fn measuring_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".measuring.tmp");
    out.with_file_name(name)
}

/// Export `checkpoint` to `out` with the threshold `rule` picks on `val` in its card
/// (none when no threshold meets the rule; the second value says what was picked). The
/// model is measured from a temporary sibling, so `out` appears only when complete.
pub fn export_measured(
    checkpoint: &Path,
    out: &Path,
    val: &[Sample],
    rule: Rule,
) -> Result<(ModelCard, Option<Operating>)> {
    let tmp = measuring_path(out);
    let result = (|| {
        let card = crate::export::export_checkpoint(checkpoint, &tmp, None)?;
        let (curve, _) = measure(&tmp, val, false)?;
        let Some(point) = curve.choose(rule) else {
            std::fs::rename(&tmp, out).with_context(|| format!("{}: cannot move into place", out.display()))?;
            return Ok((card, None));
        };
        Ok((set_threshold(&tmp, out, card_threshold(&point))?, Some(point)))
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}
