//! Zones and masks drawn on a frame (the web view's `?zones=1`): each outlined, a zone
//! with its name, a mask shaded.

use super::ImageTarget;
use crate::zones::{Polygon, Zones};
use embedded_graphics::{
    mono_font::{ascii::FONT_6X10, MonoTextStyle},
    pixelcolor::Rgb888,
    prelude::*,
    primitives::{Line, PrimitiveStyle, Rectangle},
    text::{Baseline, Text},
};
use image::RgbImage;

/// A zone's outline and name tab.
const ZONE_COLOR: Rgb888 = Rgb888::new(0, 200, 255);
/// A mask's outline.
const MASK_COLOR: Rgb888 = Rgb888::new(255, 60, 60);

/// Draw every mask (shaded, outlined) and zone (outlined, named) onto `frame`.
pub fn draw_areas(frame: &mut RgbImage, zones: &Zones) {
    for mask in &zones.masks {
        shade(frame, &mask.polygon);
        outline(frame, &mask.polygon, MASK_COLOR);
    }
    for zone in &zones.zones {
        outline(frame, &zone.polygon, ZONE_COLOR);
        let (w, h) = frame.dimensions();
        let (x, y) = zone.polygon.in_pixels(w, h)[0];
        let at = Point::new(x as i32 + 2, y as i32 + 2);
        let size = Size::new(6 * zone.name.len() as u32 + 2, 12);
        let mut target = ImageTarget(frame);
        let _ = Rectangle::new(at, size).into_styled(PrimitiveStyle::with_fill(ZONE_COLOR)).draw(&mut target);
        let style = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
        let _ = Text::with_baseline(&zone.name, at + Point::new(1, 1), style, Baseline::Top).draw(&mut target);
    }
}

/// The polygon's outline, 2 pixels wide: one line per edge (embedded-graphics' thick
/// polyline overflows on some joints).
fn outline(frame: &mut RgbImage, polygon: &Polygon, color: Rgb888) {
    let (w, h) = frame.dimensions();
    let points: Vec<Point> = polygon.in_pixels(w, h).iter().map(|&(x, y)| Point::new(x as i32, y as i32)).collect();
    let style = PrimitiveStyle::with_stroke(color, 2);
    for (i, &a) in points.iter().enumerate() {
        let b = points[(i + 1) % points.len()];
        let _ = Line::new(a, b).into_styled(style).draw(&mut ImageTarget(frame));
    }
}

/// Darken the pixels inside the polygon by half.
fn shade(frame: &mut RgbImage, polygon: &Polygon) {
    let (w, h) = frame.dimensions();
    for (x, y, p) in frame.enumerate_pixels_mut() {
        let (fx, fy) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
        if polygon.contains(fx, fy) {
            p.0 = p.0.map(|c| c / 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zones::Mask;

    #[test]
    fn a_mask_is_shaded_inside_only_and_a_zone_outlined() {
        let mut zones = Zones::default();
        let left = Polygon::new(vec![(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]).unwrap();
        zones.masks.push(Mask { name: None, polygon: left });
        let right = Polygon::new(vec![(0.6, 0.1), (0.9, 0.1), (0.9, 0.9), (0.6, 0.9)]).unwrap();
        zones.add_zone("door".into(), right).unwrap();
        let mut frame = RgbImage::from_pixel(100, 100, image::Rgb([200, 200, 200]));
        draw_areas(&mut frame, &zones);
        assert_eq!(frame.get_pixel(25, 50).0, [100, 100, 100], "shaded");
        assert_eq!(frame.get_pixel(75, 50).0, [200, 200, 200], "inside the zone, untouched");
        assert_eq!(frame.get_pixel(90, 50).0, [0, 200, 255], "its outline");
    }
}
