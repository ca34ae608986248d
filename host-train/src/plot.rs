//! Small charts drawn with embedded-graphics into PNGs: PR curves (and later loss
//! curves), so results can be looked at, not only read.

use anyhow::Result;
use edge::overlay::ImageTarget;
use embedded_graphics::{
    mono_font::{ascii::FONT_6X10, MonoTextStyle},
    pixelcolor::Rgb888,
    prelude::*,
    primitives::{Line, PrimitiveStyle, Rectangle},
    text::Text,
};
use image::RgbImage;
use std::path::Path;

/// Colours for up to four series.
const COLORS: [Rgb888; 4] =
    [Rgb888::new(0, 114, 178), Rgb888::new(230, 159, 0), Rgb888::new(204, 51, 51), Rgb888::new(0, 158, 115)];

/// One named series of `(x, y)` points in `[0, 1]²`.
pub struct Series<'a> {
    pub label: String,
    pub points: &'a [(f64, f64)],
}

/// Draw series on unit axes (x right, y up) with a legend, as a PNG at `path`.
pub fn unit_chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<()> {
    let (w, h) = (480u32, 400u32);
    let (left, right, top, bottom) = (48i32, 16i32, 28i32, 40i32);
    let (pw, ph) = (w as i32 - left - right, h as i32 - top - bottom);
    let mut img = RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    let mut t = ImageTarget(&mut img);
    let text = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
    let grid = PrimitiveStyle::with_stroke(Rgb888::new(220, 220, 220), 1);
    let to_px = |x: f64, y: f64| {
        Point::new(left + (x.clamp(0.0, 1.0) * pw as f64) as i32, top + ((1.0 - y.clamp(0.0, 1.0)) * ph as f64) as i32)
    };
    for i in 0..=10 {
        let v = i as f64 / 10.0;
        Line::new(to_px(v, 0.0), to_px(v, 1.0)).into_styled(grid).draw(&mut t)?;
        Line::new(to_px(0.0, v), to_px(1.0, v)).into_styled(grid).draw(&mut t)?;
        if i % 2 == 0 {
            Text::new(&format!("{v:.1}"), to_px(v, 0.0) + Point::new(-8, 14), text).draw(&mut t)?;
            Text::new(&format!("{v:.1}"), to_px(0.0, v) + Point::new(-26, 3), text).draw(&mut t)?;
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
        for pair in s.points.windows(2) {
            Line::new(to_px(pair[0].0, pair[0].1), to_px(pair[1].0, pair[1].1)).into_styled(style).draw(&mut t)?;
        }
        let at = Point::new(left + pw - 150, top + ph - 12 - 14 * (series.len() - 1 - k) as i32);
        Line::new(at + Point::new(0, -3), at + Point::new(14, -3)).into_styled(style).draw(&mut t)?;
        Text::new(&s.label, at + Point::new(18, 0), text).draw(&mut t)?;
    }
    edge::atomic::write_png(path, &img)
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
}
