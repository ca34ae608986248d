//! An exported model measured on the user's own labelled photos ([`measure`]), and the
//! card threshold written from that measurement: by `facecam-train val
//! --write-threshold` ([`set_threshold`]) and by `export` / `train --export`
//! ([`export_measured`]).

use super::ap::{Curve, Operating, Rule};
use super::run_wider::eval_options;
use crate::data::Sample;
use anyhow::{bail, Context, Result};
use edge::detector::{DetectOptions, Detector};
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

/// What the camera does at each of `thresholds` on `samples`: its own post-processing
/// (the card's options with that threshold: only boxes over it enter NMS and vote), the
/// network run once per photo. The curve of [`measure`] keeps every box down to a low
/// score, so more boxes vote there and a threshold can look better on it than it is
/// on the camera (stage 11: 0.098 false positives per image on the curve at 0.875, 0.109
/// on the camera).
pub fn camera_points(model: &Path, samples: &[Sample], thresholds: &[f32], progress: bool) -> Result<Vec<Operating>> {
    let mut detector = Detector::load(model)?;
    let base = detector.options;
    let bar = crate::progress::bar(progress, samples.len(), "images");
    let mut curves = vec![Curve::default(); thresholds.len()];
    for s in samples {
        let img = edge::source::decode::read_image(&s.image)?;
        let raw = detector.forward(&img)?;
        for (&t, curve) in thresholds.iter().zip(&mut curves) {
            detector.options = DetectOptions { score_threshold: t, ..base };
            curve.add_image(&detector.decode(&raw, img.width(), img.height()), &s.boxes);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(thresholds.iter().zip(&curves).map(|(&t, c)| c.at(t)).collect())
}

/// The thresholds the camera is checked at for `rule`, lowest first: the curve's pick and
/// every step of 0.01 above it; none when the curve has no pick.
pub fn camera_candidates(curve: &Curve, rule: Rule) -> Vec<f32> {
    let Some(first) = curve.choose(rule) else { return Vec::new() };
    let above = (first.threshold * 100.0).floor() as i32 + 1;
    let steps = (above..100).map(|k| k as f32 / 100.0).filter(|&t| t > first.threshold);
    std::iter::once(first.threshold).chain(steps).collect()
}

/// The threshold `rule` picks for the camera: the lowest of [`camera_candidates`] at
/// which the camera ([`camera_points`]) meets the rule. `None` when the curve has no
/// pick, or the camera meets the rule at none of them.
pub fn choose_for_camera(
    model: &Path,
    samples: &[Sample],
    curve: &Curve,
    rule: Rule,
    progress: bool,
) -> Result<Option<Operating>> {
    let points = camera_points(model, samples, &camera_candidates(curve, rule), progress)?;
    Ok(points.into_iter().find(|p| rule.accepts(p)))
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
        let Some(point) = choose_for_camera(&tmp, val, &curve, rule, false)? else {
            std::fs::rename(&tmp, out).with_context(|| format!("{}: cannot move into place", out.display()))?;
            return Ok((card, None));
        };
        Ok((set_threshold(&tmp, out, card_threshold(&point))?, Some(point)))
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}
