//! The heads-up display: frame rate, latency and face count in a corner, so someone
//! looking at the screen can tell the camera is alive and how fast it runs.

use embedded_graphics::{
    mono_font::{ascii::FONT_6X10, MonoTextStyle},
    pixelcolor::Rgb888,
    prelude::*,
    primitives::{PrimitiveStyle, Rectangle},
    text::{Baseline, Text},
};

/// What the HUD shows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HudInfo {
    /// Frames shown per second, recent average.
    pub fps: f32,
    /// Capture-to-display latency, milliseconds, recent average.
    pub latency_ms: f32,
    /// Faces on this frame.
    pub faces: usize,
}

/// The HUD's text for `info`.
fn text(info: &HudInfo) -> String {
    format!(
        "{:4.1} fps  {:3.0} ms  {} face{}",
        info.fps,
        info.latency_ms,
        info.faces,
        if info.faces == 1 { "" } else { "s" }
    )
}

/// The corner the HUD covers for `info` (labels keep out of it).
pub fn hud_area(info: &HudInfo) -> Rectangle {
    let ch = FONT_6X10.character_size;
    Rectangle::new(Point::zero(), Size::new(ch.width * text(info).len() as u32 + 6, ch.height + 4))
}

/// Draw the HUD in the top-left corner: light text on a dark tab.
pub fn draw_hud<D: DrawTarget<Color = Rgb888>>(target: &mut D, info: &HudInfo) -> Result<(), D::Error> {
    hud_area(info).into_styled(PrimitiveStyle::with_fill(Rgb888::new(20, 20, 20))).draw(target)?;
    Text::with_baseline(&text(info), Point::new(3, 2), MonoTextStyle::new(&FONT_6X10, Rgb888::WHITE), Baseline::Top)
        .draw(target)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::ImageTarget;

    #[test]
    fn hud_text_is_drawn_in_the_corner_only() {
        let mut img = image::RgbImage::from_pixel(200, 100, image::Rgb([0, 0, 255]));
        draw_hud(&mut ImageTarget(&mut img), &HudInfo { fps: 12.5, latency_ms: 80.0, faces: 2 }).unwrap();
        let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert!(white > 50, "text pixels: {white}");
        assert_eq!(img.get_pixel(100, 50).0, [0, 0, 255], "rest untouched");
        assert_eq!(img.get_pixel(1, 1).0, [20, 20, 20], "tab");
    }
}
