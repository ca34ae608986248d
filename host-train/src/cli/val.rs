//! `val`: AP of an exported model on the user's own labelled photos, its PR curve, and
//! the threshold the card rule picks (optionally written into the model's card); and the
//! rule's options, shared with `export`.

use super::{load_photos, DataArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use edge::cmdline::probability;
use host_train::eval::ap::{Operating, Rule};
use host_train::eval::val;
use host_train::plot::{self, Series};
use std::path::PathBuf;

/// How a card's threshold is chosen on validation data.
#[derive(Args)]
pub struct RuleArgs {
    /// Choose the lowest threshold reaching this precision, in (0, 1), instead of the
    /// lowest with under 0.1 false positives per image.
    #[arg(long, value_parser = probability)]
    target_precision: Option<f32>,
}

impl RuleArgs {
    /// The rule these options name.
    pub fn rule(&self) -> Rule {
        self.target_precision.map_or_else(Rule::default, |p| Rule::Precision(p as f64))
    }
}

/// `val`'s options.
#[derive(Args)]
pub struct ValArgs {
    /// The exported ONNX model.
    #[arg(long, default_value = "out/model.onnx")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// The folder for `pr-curve.png` and `val.json`.
    #[arg(long, default_value = "out/val")]
    out: PathBuf,
    #[command(flatten)]
    rule: RuleArgs,
    /// Store the chosen threshold in the model's card (the file is replaced whole).
    #[arg(long)]
    write_threshold: bool,
}

/// One operating point as `val.json` shows it.
fn point_json(p: &Operating) -> serde_json::Value {
    serde_json::json!({
        "threshold": p.threshold, "recall": p.recall, "precision": p.precision, "fp_per_image": p.fp_per_image,
    })
}

/// One operating point in words.
fn point_text(p: &Operating) -> String {
    format!("recall {:.3}, precision {:.3}, {:.3} false positives per image", p.recall, p.precision, p.fp_per_image)
}

/// `facecam-train val`.
pub fn val(a: ValArgs, progress: bool) -> Result<()> {
    let (png, json) = (a.out.join("pr-curve.png"), a.out.join("val.json"));
    edge::atomic::refuse_inputs([png.as_path(), json.as_path()], std::slice::from_ref(&a.model))?;
    let samples = load_photos(&a.data.data)?;
    let (curve, card) = val::measure(&a.model, &samples, progress)?;
    let (rule, ap) = (a.rule.rule(), curve.ap());
    let card_t = card.score_threshold.unwrap_or(edge::detector::DetectOptions::default().score_threshold);
    println!("{} images, {} faces: AP {ap:.4} at IoU 0.5", curve.images, curve.faces);
    // One pass of the camera over the photos: the rule's candidates, then the card's threshold.
    let candidates = val::camera_candidates(&curve, rule);
    let thresholds: Vec<f32> = candidates.iter().copied().chain([card_t]).collect();
    let mut points = val::camera_points(&a.model, &samples, &thresholds, progress)?;
    let at = points.pop().context("the camera measured no threshold")?;
    let says = if card.score_threshold.is_some() { "the card's" } else { "no card threshold; the default" };
    println!("at {card_t} ({says}), as the camera runs: {}", point_text(&at));
    let chosen = points.into_iter().find(|p| rule.accepts(p));
    match (&chosen, candidates.first()) {
        (Some(p), _) => println!("{rule}, as the camera runs: {:.4} ({})", val::card_threshold(p), point_text(p)),
        (None, Some(&t)) => println!("{rule}: none as the camera runs (the curve alone says {t:.4})"),
        (None, None) => println!("{rule}: none on this data"),
    }
    // Nothing is written when the threshold asked for cannot be stored.
    if a.write_threshold && chosen.is_none() {
        bail!("{}: no threshold meets the rule ({rule}) on this data; the card is unchanged", a.model.display());
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("{}: cannot create", a.out.display()))?;
    let pr = curve.pr();
    let title = format!("{}: {}", a.data.data.join(" "), a.model.display());
    plot::unit_chart(&png, &title, "recall", "precision", &[Series { label: format!("AP {ap:.3}"), points: &pr }])?;
    let summary = serde_json::json!({
        "model": a.model.display().to_string(), "data": a.data.data, "images": curve.images, "faces": curve.faces,
        "ap": ap, "iou": 0.5, "card_threshold": card.score_threshold, "at_card_threshold": point_json(&at),
        "rule": rule.to_string(), "chosen": chosen.as_ref().map(point_json),
        "threshold_written": a.write_threshold,
    });
    if let Some(p) = chosen.filter(|_| a.write_threshold) {
        val::set_threshold(&a.model, &a.model, val::card_threshold(&p))?;
    }
    edge::atomic::write(&json, serde_json::to_string_pretty(&summary)?.as_bytes())?;
    if let Some(p) = chosen.filter(|_| a.write_threshold) {
        println!("wrote threshold {:.4} into the card of {}", val::card_threshold(&p), a.model.display());
    }
    println!("PR curve in {}, numbers in {}", png.display(), json.display());
    Ok(())
}

/// Export `checkpoint` to `out` with the threshold `rule` picks on `val` in its card, and
/// say what was picked (`export` and `train --export`).
pub fn export_chosen(
    checkpoint: &std::path::Path,
    out: &std::path::Path,
    val_samples: &[host_train::data::Sample],
    rule: Rule,
) -> Result<edge::model::ModelCard> {
    let (card, point) = val::export_measured(checkpoint, out, val_samples, rule)?;
    match point {
        Some(p) => println!(
            "card threshold {:.4} ({rule} on {} validation images: recall {:.3}, {:.3} false positives per image)",
            val::card_threshold(&p),
            val_samples.len(),
            p.recall,
            p.fp_per_image
        ),
        None => println!("no card threshold: none meets the rule ({rule}) on the validation data"),
    }
    Ok(card)
}
