//! `metrics.csv`, a checkpoint's row per epoch (losses, learning rate, speed, CPU time,
//! proxy AP), and its pictures `loss.png` and `proxy-ap.png`.

use anyhow::Result;
use edge::atomic;
use std::path::Path;

const METRICS: &str = "metrics.csv";

/// One epoch's row of `metrics.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochMetrics {
    /// The epoch's number, from 1.
    pub epoch: u32,
    /// Mean training loss (class + box) and its parts.
    pub loss: f64,
    /// The classification part of `loss` (cross-entropy on positives and mined negatives).
    pub class: f64,
    /// The box part of `loss` (box regression on matched priors).
    pub boxes: f64,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    /// Training throughput over the epoch, images per second.
    pub images_per_second: f64,
    /// Validation loss and its parts (NaN when there was no validation that epoch).
    pub val_loss: f64,
    /// The classification part of `val_loss`.
    pub val_class: f64,
    /// The box part of `val_loss`.
    pub val_boxes: f64,
    /// CPU seconds the run has used so far, over all its sessions (NaN in old files).
    pub cpu_seconds: f64,
    /// Proxy AP (easy, medium, hard) on the fixed WIDER val slice (NaN when not measured).
    pub proxy_ap: [f64; 3],
}

const METRICS_HEADER: &str =
    "epoch,loss,class_loss,box_loss,lr,images_per_second,val_loss,val_class_loss,val_box_loss,\
                              cpu_seconds,proxy_ap_easy,proxy_ap_medium,proxy_ap_hard";

/// Record one epoch's row in `metrics.csv`, rewritten atomically: rows of this epoch or
/// later (left by an interrupted run) are replaced, and epoch 1 starts a new file.
pub fn append_metrics(dir: &Path, m: &EpochMetrics) -> Result<()> {
    let path = dir.join(METRICS);
    let mut text = format!("{METRICS_HEADER}\n");
    if m.epoch > 1 {
        if let Ok(old) = edge::input::read_text(&path, "a metrics file", edge::input::MAX_TEXT_BYTES) {
            let earlier =
                |l: &&str| l.split(',').next().and_then(|e| e.trim().parse::<u32>().ok()).is_some_and(|e| e < m.epoch);
            for line in old.lines().skip(1).filter(earlier) {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    let val = |v: f64| if v.is_finite() { format!("{v:.6}") } else { String::new() };
    text.push_str(&format!(
        "{},{:.6},{:.6},{:.6},{:.6e},{:.2},{},{},{},{},{},{},{}\n",
        m.epoch,
        m.loss,
        m.class,
        m.boxes,
        m.lr,
        m.images_per_second,
        val(m.val_loss),
        val(m.val_class),
        val(m.val_boxes),
        val(m.cpu_seconds),
        val(m.proxy_ap[0]),
        val(m.proxy_ap[1]),
        val(m.proxy_ap[2])
    ));
    atomic::write(&path, text.as_bytes())
}

/// Read `metrics.csv` back (files without validation columns read with NaN there).
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>> {
    let path = dir.join(METRICS);
    let text = edge::input::read_text(&path, "a metrics file", edge::input::MAX_TEXT_BYTES)?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |what: &str| anyhow::anyhow!("{}: line {}: {what}", path.display(), n + 1);
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() < 6 {
            return Err(bad(&format!("{} columns, expected at least 6", cells.len())));
        }
        let num = |i: usize| -> Result<f64> {
            match cells.get(i).map(|c| c.trim()) {
                None | Some("") => Ok(f64::NAN),
                Some(c) => c.parse().map_err(|_| bad(&format!("column {} is not a number: `{c}`", i + 1))),
            }
        };
        let epoch = cells[0].trim().parse().map_err(|_| bad("the epoch is not a whole number"))?;
        rows.push(EpochMetrics {
            epoch,
            loss: num(1)?,
            class: num(2)?,
            boxes: num(3)?,
            lr: num(4)?,
            images_per_second: num(5)?,
            val_loss: num(6)?,
            val_class: num(7)?,
            val_boxes: num(8)?,
            cpu_seconds: num(9)?,
            proxy_ap: [num(10)?, num(11)?, num(12)?],
        });
    }
    Ok(rows)
}

/// Draw `metrics.csv` as loss curves (training and validation, total, class and box)
/// into `loss.png` beside it.
pub fn plot_losses(dir: &Path) -> Result<()> {
    use crate::plot::{epoch_chart, Range, Series};
    let rows = read_metrics(dir)?;
    let pick = |f: fn(&EpochMetrics) -> f64| rows.iter().map(|m| (m.epoch as f64, f(m))).collect::<Vec<_>>();
    let curves = [
        ("train loss", pick(|m| m.loss)),
        ("train class", pick(|m| m.class)),
        ("train box", pick(|m| m.boxes)),
        ("val loss", pick(|m| m.val_loss)),
        ("val class", pick(|m| m.val_class)),
        ("val box", pick(|m| m.val_boxes)),
    ];
    let series: Vec<Series> = (curves.iter())
        .filter(|(_, pts)| pts.iter().any(|p| p.1.is_finite()))
        .map(|(label, pts)| Series { label: label.to_string(), points: pts })
        .collect();
    let first = rows.iter().map(|m| m.epoch).min().unwrap_or(1);
    let last = rows.iter().map(|m| m.epoch).max().unwrap_or(1);
    let y = Range::of(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let y = Range { lo: y.lo.min(0.0), ..y };
    let title = format!("training: {}", dir.display());
    epoch_chart(&dir.join("loss.png"), &title, (first, last), ("loss", y), &series)?;
    plot_proxy(dir, &rows)
}

/// Proxy AP against CPU hours into `proxy-ap.png`, when any epoch measured it.
fn plot_proxy(dir: &Path, rows: &[EpochMetrics]) -> Result<()> {
    use crate::plot::{chart, Range, Series};
    let measured: Vec<&EpochMetrics> =
        rows.iter().filter(|m| m.proxy_ap[0].is_finite() && m.cpu_seconds.is_finite()).collect();
    if measured.is_empty() {
        return Ok(());
    }
    let curves: Vec<Vec<(f64, f64)>> =
        (0..3).map(|k| measured.iter().map(|m| (m.cpu_seconds / 3600.0, m.proxy_ap[k])).collect()).collect();
    let series: Vec<Series> = (["easy", "medium", "hard"].iter().zip(&curves))
        .map(|(name, points)| Series { label: format!("proxy AP {name}"), points })
        .collect();
    let x = Range::of(measured.iter().map(|m| m.cpu_seconds / 3600.0));
    let x = Range { lo: x.lo.min(0.0), ..x };
    let y = Range { lo: 0.0, hi: 1.0 };
    chart(&dir.join("proxy-ap.png"), &format!("proxy AP: {}", dir.display()), [("CPU hours", x), ("AP", y)], &series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_round_trip_with_and_without_validation() {
        let dir = std::env::temp_dir().join(format!("facecam-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = |epoch, val_loss| EpochMetrics {
            epoch,
            loss: 4.0 / epoch as f64,
            class: 1.0,
            boxes: 3.0,
            lr: 1e-3,
            images_per_second: 20.0,
            val_loss,
            val_class: val_loss / 2.0,
            val_boxes: val_loss / 2.0,
            cpu_seconds: 60.0 * epoch as f64,
            proxy_ap: if epoch == 2 { [0.5, 0.4, 0.2] } else { [f64::NAN; 3] },
        };
        append_metrics(&dir, &m(1, 5.0)).unwrap();
        append_metrics(&dir, &m(2, f64::NAN)).unwrap();
        let rows = read_metrics(&dir).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].epoch, rows[0].loss, rows[0].val_loss), (1, 4.0, 5.0));
        assert!(rows[1].val_loss.is_nan(), "no validation in epoch 2");
        assert_eq!((rows[1].cpu_seconds, rows[1].proxy_ap), (120.0, [0.5, 0.4, 0.2]));
        assert!(rows[0].proxy_ap[0].is_nan());
        plot_losses(&dir).unwrap();
        assert!(dir.join("loss.png").exists() && dir.join("proxy-ap.png").exists());
        // Files from before the validation columns still read.
        std::fs::write(dir.join(METRICS), "epoch,loss,class_loss,box_loss,lr,images_per_second\n1,2,1,1,1e-3,9\n")
            .unwrap();
        assert_eq!(read_metrics(&dir).unwrap()[0].images_per_second, 9.0);
        std::fs::write(dir.join(METRICS), "h\n1,2,x,1,1,1\n").unwrap();
        let err = read_metrics(&dir).unwrap_err().to_string();
        assert!(err.contains("metrics.csv: line 2: column 3"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
