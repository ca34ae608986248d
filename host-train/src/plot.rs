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
    pub label: String,
    pub points: &'a [(f64, f64)],
}

/// The data range an axis shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub lo: f64,
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

/// Draw series on axes spanning `x` and `y`, with a legend, as a PNG at `path`.
pub fn chart(path: &Path, title: &str, axes: [(&str, Range); 2], series: &[Series]) -> Result<()> {
    let [(x_label, xr), (y_label, yr)] = axes;
    let (w, h) = (480u32, 400u32);
    let (left, right, top, bottom) = (52i32, 16i32, 28i32, 40i32);
    let (pw, ph) = (w as i32 - left - right, h as i32 - top - bottom);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let mut t = ImageTarget(&mut img);
    let text = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
    let grid = PrimitiveStyle::with_stroke(Rgb888::new(220, 220, 220), 1);
    let frac_px = |fx: f64, fy: f64| Point::new(left + (fx * pw as f64) as i32, top + ((1.0 - fy) * ph as f64) as i32);
    let to_px = |x: f64, y: f64| frac_px(xr.frac(x), yr.frac(y));
    let tick = |v: f64| if v.abs() >= 100.0 || v == v.round() { format!("{v:.0}") } else { format!("{v:.2}") };
    for i in 0..=10 {
        let f = i as f64 / 10.0;
        Line::new(frac_px(f, 0.0), frac_px(f, 1.0)).into_styled(grid).draw(&mut t)?;
        Line::new(frac_px(0.0, f), frac_px(1.0, f)).into_styled(grid).draw(&mut t)?;
        if i % 2 == 0 {
            Text::new(&tick(xr.at(f)), frac_px(f, 0.0) + Point::new(-8, 14), text).draw(&mut t)?;
            Text::new(&tick(yr.at(f)), frac_px(0.0, f) + Point::new(-30, 3), text).draw(&mut t)?;
        }
    }
    Rectangle::new(Point::new(left, top), Size::new(pw as u32, ph as u32))
        .into_styled(PrimitiveStyle::with_stroke(Rgb888::BLACK, 1))
        .draw(&mut t)?;
    Text::new(title, Point::new(left, 16), text).draw(&mut t)?;
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
    fn tiles_are_laid_out_in_rows() {
        let tiles = vec![RgbImage::from_pixel(10, 8, Rgb([255, 0, 0])); 5];
        let grid = tile_grid(&tiles, 2);
        assert_eq!(grid.dimensions(), (2 * 14 + 4, 3 * 12 + 4));
        assert_eq!(grid.get_pixel(4, 4).0, [255, 0, 0]);
        assert_eq!(grid.get_pixel(4, 4 + 2 * 12).0, [255, 0, 0], "the fifth tile starts the third row");
        assert_eq!(grid.get_pixel(4 + 14, 4 + 2 * 12).0, [40, 40, 40], "nothing beside it");
    }
}
