//! Pictures of results, drawn with embedded-graphics into PNGs: PR curves, loss curves,
//! and grids of image tiles (augmentation previews, predictions against ground truth).

use anyhow::Result;
use edge::overlay::ImageTarget;
use embedded_graphics::{
    mono_font::{ascii::FONT_6X10, MonoTextStyle},
    pixelcolor::Rgb888,
    prelude::*,
    primitives::{Line, PrimitiveStyle, Rectangle},
    text::Text,
};
use image::{imageops, Rgb, RgbImage};
use std::path::Path;

/// Colours for up to six series (Okabe and Ito's colour-blind-safe palette).
const COLORS: [Rgb888; 6] = [
    Rgb888::new(0, 114, 178),
    Rgb888::new(230, 159, 0),
    Rgb888::new(204, 51, 51),
    Rgb888::new(0, 158, 115),
    Rgb888::new(86, 180, 233),
    Rgb888::new(204, 121, 167),
];

/// One named series of `(x, y)` points.
pub struct Series<'a> {
    /// Name shown in the legend.
    pub label: String,
    /// The points, in drawing order.
    pub points: &'a [(f64, f64)],
}

/// The data range an axis shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lowest value shown.
    pub lo: f64,
    /// Highest value shown.
    pub hi: f64,
}

impl Range {
    /// The smallest range holding every finite value of `values` (with 5% headroom
    /// above), or `[0, 1]` when there are none.
    pub fn of(values: impl Iterator<Item = f64>) -> Self {
        let (lo, hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo > hi {
            return Self { lo: 0.0, hi: 1.0 };
        }
        let span = (hi - lo).max(1e-9);
        Self { lo, hi: hi + 0.05 * span }
    }

    fn frac(&self, v: f64) -> f64 {
        ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    fn at(&self, f: f64) -> f64 {
        self.lo + f * (self.hi - self.lo)
    }
}

/// Where an axis is labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ticks {
    /// At every fifth of the range.
    #[default]
    Even,
    /// At whole numbers only (epochs): every one, or every 2nd, 5th, 10th… so that
    /// there are at most six.
    Integers,
}

/// One axis of a chart: its label, the range it shows and where it is labelled.
#[derive(Debug, Clone, Copy)]
pub struct Axis<'a> {
    /// Text along the axis.
    pub label: &'a str,
    /// The values it spans.
    pub range: Range,
    /// Where it is labelled.
    pub ticks: Ticks,
}

/// The values at which an axis is labelled, lowest first.
fn tick_values(axis: &Axis) -> Vec<f64> {
    let r = axis.range;
    match axis.ticks {
        Ticks::Even => (0..=5).map(|i| r.at(i as f64 / 5.0)).collect(),
        Ticks::Integers => {
            let span = (r.hi - r.lo).max(1.0);
            let step = (0..)
                .flat_map(|p| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(p)))
                .find(|step| span / step <= 5.0)
                .unwrap_or(1.0);
            let first = (r.lo / step).ceil() * step;
            (0..).map(|k| first + k as f64 * step).take_while(|v| *v <= r.hi + 1e-9).collect()
        }
    }
}

impl Range {
    /// Epochs `first..=last` on an axis (at least two epochs wide, so one epoch still
    /// draws).
    pub fn epochs(first: u32, last: u32) -> Self {
        Self { lo: first as f64, hi: last.max(first + 1) as f64 }
    }
}

/// Draw series on axes spanning `x` and `y`, with a legend, as a PNG at `path`;
/// each axis labelled at every fifth of its range.
pub fn chart(path: &Path, title: &str, axes: [(&str, Range); 2], series: &[Series]) -> Result<()> {
    draw(path, title, axes.map(|(label, range)| Axis { label, range, ticks: Ticks::Even }), series)
}

/// A chart of per-epoch values (losses, accuracy) against epochs `first..=last`, the
/// epoch axis labelled at whole epochs.
pub fn epoch_chart(path: &Path, title: &str, epochs: (u32, u32), y: (&str, Range), series: &[Series]) -> Result<()> {
    let x = Axis { label: "epoch", range: Range::epochs(epochs.0, epochs.1), ticks: Ticks::Integers };
    draw(path, title, [x, Axis { label: y.0, range: y.1, ticks: Ticks::Even }], series)
}

/// Draw series on `axes` (x, y), with grid lines, tick labels and a legend, as a PNG at
/// `path`.
pub fn draw(path: &Path, title: &str, axes: [Axis; 2], series: &[Series]) -> Result<()> {
    let [xa, ya] = axes;
    let (xr, yr) = (xa.range, ya.range);
    let (w, h) = (480u32, 400u32);
    let (left, right, top, bottom) = (52i32, 16i32, 28i32, 40i32);
    let (pw, ph) = (w as i32 - left - right, h as i32 - top - bottom);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let mut t = ImageTarget(&mut img);
    let text = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
    let grid = PrimitiveStyle::with_stroke(Rgb888::new(220, 220, 220), 1);
    // Fractions far outside 0..1 (a value off the axis) are clamped so no add can overflow.
    let px = |f: f64, len: i32| (f * len as f64).clamp(-4.0 * len as f64, 4.0 * len as f64) as i32;
    let frac_px = |fx: f64, fy: f64| Point::new(left + px(fx, pw), top + px(1.0 - fy, ph));
    let to_px = |x: f64, y: f64| frac_px(xr.frac(x), yr.frac(y));
    let tick = |v: f64| if v.abs() >= 100.0 || v == v.round() { format!("{v:.0}") } else { format!("{v:.2}") };
    // Grid lines every tenth of an evenly labelled axis, at each label of another.
    let lines = |a: &Axis| match a.ticks {
        Ticks::Even => (0..=10).map(|i| i as f64 / 10.0).collect::<Vec<_>>(),
        Ticks::Integers => tick_values(a).iter().map(|&v| a.range.frac(v)).collect(),
    };
    for f in lines(&xa) {
        Line::new(frac_px(f, 0.0), frac_px(f, 1.0)).into_styled(grid).draw(&mut t)?;
    }
    for f in lines(&ya) {
        Line::new(frac_px(0.0, f), frac_px(1.0, f)).into_styled(grid).draw(&mut t)?;
    }
    for v in tick_values(&xa) {
        Text::new(&tick(v), frac_px(xr.frac(v), 0.0) + Point::new(-8, 14), text).draw(&mut t)?;
    }
    for v in tick_values(&ya) {
        Text::new(&tick(v), frac_px(0.0, yr.frac(v)) + Point::new(-30, 3), text).draw(&mut t)?;
    }
    Rectangle::new(Point::new(left, top), Size::new(pw as u32, ph as u32))
        .into_styled(PrimitiveStyle::with_stroke(Rgb888::BLACK, 1))
        .draw(&mut t)?;
    Text::new(title, Point::new(left, 16), text).draw(&mut t)?;
    let (x_label, y_label) = (xa.label, ya.label);
    Text::new(x_label, Point::new(left + pw / 2 - 3 * x_label.len() as i32, h as i32 - 8), text).draw(&mut t)?;
    Text::new(y_label, Point::new(left + 4, top + 12), text).draw(&mut t)?;
    for (k, s) in series.iter().enumerate() {
        let style = PrimitiveStyle::with_stroke(COLORS[k % COLORS.len()], 2);
        let finite: Vec<(f64, f64)> =
            s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        for pair in finite.windows(2) {
            Line::new(to_px(pair[0].0, pair[0].1), to_px(pair[1].0, pair[1].1)).into_styled(style).draw(&mut t)?;
        }
        let at = Point::new(left + pw - 150, top + ph - 12 - 14 * (series.len() - 1 - k) as i32);
        Line::new(at + Point::new(0, -3), at + Point::new(14, -3)).into_styled(style).draw(&mut t)?;
        Text::new(&s.label, at + Point::new(18, 0), text).draw(&mut t)?;
    }
    edge::atomic::write_png(path, &img)
}

/// Draw series on unit axes (x right, y up, both `[0, 1]`): PR curves.
pub fn unit_chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<()> {
    let unit = Range { lo: 0.0, hi: 1.0 };
    chart(path, title, [(x_label, unit), (y_label, unit)], series)
}

/// Equal-sized tiles laid out in rows of `cols` (at least 1) on a dark background.
pub fn tile_grid(tiles: &[RgbImage], cols: usize) -> RgbImage {
    let (tw, th) = tiles.iter().fold((1, 1), |(w, h), t| (w.max(t.width()), h.max(t.height())));
    let cols = cols.clamp(1, tiles.len().max(1)) as u32;
    let rows = (tiles.len() as u32).div_ceil(cols).max(1);
    let gap = 4;
    let mut grid = RgbImage::from_pixel(cols * (tw + gap) + gap, rows * (th + gap) + gap, Rgb([40, 40, 40]));
    for (i, tile) in tiles.iter().enumerate() {
        let (c, r) = (i as u32 % cols, i as u32 / cols);
        imageops::replace(&mut grid, tile, (gap + c * (tw + gap)) as i64, (gap + r * (th + gap)) as i64);
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_chart_with_coloured_series() {
        let path = std::env::temp_dir().join(format!("facecam-chart-{}.png", std::process::id()));
        let pts = [(0.0, 1.0), (0.5, 0.8), (1.0, 0.2)];
        unit_chart(&path, "t", "recall", "precision", &[Series { label: "a".into(), points: &pts }]).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (480, 400));
        assert!(img.pixels().any(|p| p.0 == [0, 114, 178]), "the series is drawn");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn ranges_fit_the_data_and_skip_gaps() {
        let r = Range::of([3.0, f64::NAN, 1.0, 2.0].into_iter());
        assert_eq!(r.lo, 1.0);
        assert!((r.hi - 3.1).abs() < 1e-9);
        assert_eq!(Range::of(std::iter::empty()), Range { lo: 0.0, hi: 1.0 });
        // A series with a missing value (no validation that epoch) still draws.
        let path = std::env::temp_dir().join(format!("facecam-loss-{}.png", std::process::id()));
        let pts = [(1.0, 5.0), (2.0, f64::NAN), (3.0, 4.0)];
        let axes = [("epoch", Range { lo: 1.0, hi: 3.0 }), ("loss", r)];
        chart(&path, "loss", axes, &[Series { label: "val".into(), points: &pts }]).unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn epoch_axes_are_labelled_at_whole_epochs() {
        let epochs = |first, last| Axis { label: "epoch", range: Range::epochs(first, last), ticks: Ticks::Integers };
        assert_eq!(tick_values(&epochs(1, 1)), vec![1.0, 2.0], "one epoch still spans an axis");
        assert_eq!(tick_values(&epochs(1, 5)), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(tick_values(&epochs(1, 11)), vec![2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(tick_values(&epochs(3, 48)), vec![10.0, 20.0, 30.0, 40.0]);
        // A range with headroom (as `Range::of` gives) still gets whole numbers only.
        let odd = Axis { label: "epoch", range: Range { lo: 1.0, hi: 10.87 }, ticks: Ticks::Integers };
        let ticks = tick_values(&odd);
        assert!(ticks.iter().all(|v| v.fract() == 0.0) && ticks.len() <= 6, "{ticks:?}");
        let even = Axis { label: "loss", range: Range { lo: 0.0, hi: 1.0 }, ticks: Ticks::Even };
        assert_eq!(tick_values(&even), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let path = std::env::temp_dir().join(format!("facecam-epochs-{}.png", std::process::id()));
        let pts = [(1.0, 3.0), (2.0, 2.0), (3.0, 1.5)];
        epoch_chart(
            &path,
            "loss",
            (1, 3),
            ("loss", Range::of([3.0, 1.5].into_iter())),
            &[Series { label: "train".into(), points: &pts }],
        )
        .unwrap();
        assert!(image::open(&path).is_ok());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn tiles_are_laid_out_in_rows() {
        let tiles = vec![RgbImage::from_pixel(10, 8, Rgb([255, 0, 0])); 5];
        let grid = tile_grid(&tiles, 2);
        assert_eq!(grid.dimensions(), (2 * 14 + 4, 3 * 12 + 4));
        assert_eq!(grid.get_pixel(4, 4).0, [255, 0, 0]);
        assert_eq!(grid.get_pixel(4, 4 + 2 * 12).0, [255, 0, 0], "the fifth tile starts the third row");
        assert_eq!(grid.get_pixel(4 + 14, 4 + 2 * 12).0, [40, 40, 40], "nothing beside it");
    }
}
