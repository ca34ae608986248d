//! Drawing on frames: an embedded-graphics [`DrawTarget`] over an in-memory RGB image,
//! boxes with labels (into any `DrawTarget`), and the camera's overlays composed in
//! order by [`compose`]: privacy first, then stickers, boxes, and the HUD on top.

pub mod areas;
mod compose;
pub mod hud;
pub mod per_class;
pub mod privacy;
pub mod sticker;

pub use compose::{compose, Style};
pub use per_class::PerClass;

use crate::model::{BBox, Detection};
use embedded_graphics::{
    mono_font::{ascii::FONT_10X20, ascii::FONT_6X10, MonoTextStyle},
    pixelcolor::Rgb888,
    prelude::*,
    primitives::{PrimitiveStyle, Rectangle},
    text::{Baseline, Text},
};
use image::RgbImage;
use std::convert::Infallible;

/// An RGB image seen as an embedded-graphics display. Pixels outside it are ignored.
pub struct ImageTarget<'a>(pub &'a mut RgbImage);

impl OriginDimensions for ImageTarget<'_> {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for ImageTarget<'_> {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(&mut self, pixels: I) -> Result<(), Infallible> {
        let (w, h) = self.0.dimensions();
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < w && (p.y as u32) < h {
                self.0.put_pixel(p.x as u32, p.y as u32, image::Rgb([c.r(), c.g(), c.b()]));
            }
        }
        Ok(())
    }
}

/// Draw a box outline; returns its top-left corner. Any box draws without overflow: its
/// corners are first clamped to the target grown by a margin wider than the stroke
/// (embedded-graphics adds sizes to corners in i32), NaN reading as the margin's edge.
pub fn draw_box<D: DrawTarget<Color = Rgb888>>(
    target: &mut D,
    b: &BBox,
    color: Rgb888,
    stroke: u32,
) -> Result<Point, D::Error> {
    let area = target.bounding_box();
    let margin = stroke.min(1 << 16) as f32 + 2.0;
    let clamp = |v: f32, lo: i32, len: u32| {
        let (lo, hi) = (lo as f32 - margin, lo as f32 + len.min(1 << 24) as f32 + margin);
        if v.is_nan() {
            lo
        } else {
            v.round().clamp(lo, hi)
        }
    };
    let (x0, x1) = (clamp(b.x0, area.top_left.x, area.size.width), clamp(b.x1, area.top_left.x, area.size.width));
    let (y0, y1) = (clamp(b.y0, area.top_left.y, area.size.height), clamp(b.y1, area.top_left.y, area.size.height));
    let top_left = Point::new(x0 as i32, y0 as i32);
    let extent = Size::new((x1 - x0).max(1.0) as u32, (y1 - y0).max(1.0) as u32);
    Rectangle::new(top_left, extent).into_styled(PrimitiveStyle::with_stroke(color, stroke)).draw(target)?;
    Ok(top_left)
}

/// Draw each detection as a box with its score on a tab ([`draw_labelled_box`]). Line width and font grow with
/// the target so labels stay readable on large photos.
pub fn draw_detections<D: DrawTarget<Color = Rgb888>>(target: &mut D, dets: &[Detection]) -> Result<(), D::Error> {
    for d in dets {
        draw_labelled_box(target, &d.bbox, &format!("{:.2}", d.score))?;
    }
    Ok(())
}

/// Draw one box with a label on a filled tab, sized for the target. The tab sits above
/// the box, or just inside its top edge when there is no room above, and is kept
/// wholly inside the target (see [`label_at`]).
pub fn draw_labelled_box<D: DrawTarget<Color = Rgb888>>(target: &mut D, b: &BBox, label: &str) -> Result<(), D::Error> {
    draw_label_and_box(target, b, label, &[])
}

/// [`draw_labelled_box`], with the label moved below any of `keep_out` it would
/// overlap (the HUD's corner, drawn over it later).
pub fn draw_label_and_box<D: DrawTarget<Color = Rgb888>>(
    target: &mut D,
    b: &BBox,
    label: &str,
    keep_out: &[Rectangle],
) -> Result<(), D::Error> {
    let area = target.bounding_box();
    let size = area.size;
    let large = size.width.max(size.height) >= 800;
    let stroke = (size.width.max(size.height) / 320).clamp(1, 6);
    let font = if large { &FONT_10X20 } else { &FONT_6X10 };
    let top_left = draw_box(target, b, BOX_COLOR, stroke)?;
    let ch = font.character_size;
    let chars = label.chars().count().min(1 << 16) as u32;
    let label_size = Size::new(ch.width * chars + 2, ch.height + 2);
    let mut at = label_at(top_left, label_size, area);
    for k in keep_out {
        if !Rectangle::new(at, label_size).intersection(k).is_zero_sized() {
            let below = k.top_left.y.saturating_add(k.size.height.min(i32::MAX as u32) as i32);
            at = fit(Point::new(at.x, below), label_size, area);
        }
    }
    Rectangle::new(at, label_size).into_styled(PrimitiveStyle::with_fill(BOX_COLOR)).draw(target)?;
    let text_style = MonoTextStyle::new(font, Rgb888::BLACK);
    Text::with_baseline(label, at + Point::new(1, 1), text_style, Baseline::Top).draw(target)?;
    Ok(())
}

/// Where a label tab of `tab` size goes for a box whose top-left corner is `corner`:
/// above the box when the frame has room there, else just inside the box's top edge;
/// then moved left, right, up or down as far as needed to lie inside `area`.
pub fn label_at(corner: Point, tab: Size, area: Rectangle) -> Point {
    let above = corner.y.saturating_sub(tab.height.min(i32::MAX as u32) as i32);
    let y = if above >= area.top_left.y { above } else { corner.y };
    fit(Point::new(corner.x, y), tab, area)
}

/// `at` moved as little as needed for a `tab` there to lie inside `area` (a tab larger
/// than the area starts at its left or top edge).
fn fit(at: Point, tab: Size, area: Rectangle) -> Point {
    let inside = |v: i32, lo: i32, frame: u32, len: u32| {
        let hi = lo.saturating_add(frame.saturating_sub(len).min(i32::MAX as u32) as i32);
        v.clamp(lo, hi.max(lo))
    };
    Point::new(
        inside(at.x, area.top_left.x, area.size.width, tab.width),
        inside(at.y, area.top_left.y, area.size.height, tab.height),
    )
}

/// The colour of face boxes and their labels.
pub const BOX_COLOR: Rgb888 = Rgb888::new(0, 255, 64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_the_box_outline_and_leaves_the_inside() {
        let mut img = RgbImage::new(100, 80);
        let det = Detection { bbox: BBox::new(20.0, 30.0, 60.0, 70.0), score: 0.9 };
        draw_detections(&mut ImageTarget(&mut img), &[det]).unwrap();
        assert_eq!(img.get_pixel(20, 50).0, [0, 255, 64], "left edge");
        assert_eq!(img.get_pixel(40, 69).0, [0, 255, 64], "bottom edge");
        // Boxes far outside, infinite or NaN draw (what shows of them) without a panic.
        for (x0, y0, x1, y1) in
            [(3e38, 3e38, f32::INFINITY, 3e38), (-3e38, 10.0, 3e38, 12.0), (f32::NAN, 0.0, 5.0, 5.0)]
        {
            let bbox = BBox { x0, y0, x1, y1 };
            draw_detections(&mut ImageTarget(&mut img), &[Detection { bbox, score: 0.5 }]).unwrap();
        }
        assert_eq!(img.get_pixel(50, 10).0, [0, 255, 64], "the visible edge of a huge box");
        assert_eq!(img.get_pixel(40, 50).0, [0, 0, 0], "inside untouched");
    }

    /// The label's text pixels (black on the green tab) of one box drawn on a blue frame.
    fn label_pixels(frame: (u32, u32), bbox: BBox, label: &str) -> Vec<(u32, u32)> {
        let mut img = RgbImage::from_pixel(frame.0, frame.1, image::Rgb([0, 0, 255]));
        draw_labelled_box(&mut ImageTarget(&mut img), &bbox, label).unwrap();
        img.enumerate_pixels().filter(|(_, _, p)| p.0 == [0, 0, 0]).map(|(x, y, _)| (x, y)).collect()
    }

    #[test]
    fn labels_at_the_frame_edges_are_drawn_whole_inside_it() {
        let label = "#12 0.93";
        // In the open the label sits above the box.
        let open = label_pixels((200, 120), BBox::new(60.0, 50.0, 120.0, 110.0), label);
        assert!(open.len() > 40, "{} text pixels", open.len());
        assert!(open.iter().all(|&(_, y)| y < 50), "above the box: {open:?}");
        // A face touching the top edge (or past it): the label goes inside the box, whole.
        for y0 in [0.0, -30.0] {
            let top = label_pixels((200, 120), BBox::new(60.0, y0, 120.0, 60.0), label);
            assert_eq!(top.len(), open.len(), "box at y={y0}: the label is cut");
            assert!(top.iter().all(|&(x, y)| y < 120 && x >= 60), "box at y={y0}: {top:?}");
        }
        // Faces past the left and right edges, and one at the bottom: still whole.
        for bbox in [BBox::new(-40.0, 50.0, 20.0, 110.0), BBox::new(190.0, 50.0, 260.0, 110.0)] {
            assert_eq!(label_pixels((200, 120), bbox, label).len(), open.len(), "{bbox:?}: the label is cut");
        }
        let low = label_pixels((200, 120), BBox::new(60.0, 150.0, 120.0, 190.0), label);
        assert_eq!(low.len(), open.len(), "a box below the frame: the label is cut");
    }

    #[test]
    fn label_places_stay_in_the_frame_even_when_the_tab_does_not_fit() {
        let area = Rectangle::new(Point::zero(), Size::new(100, 50));
        assert_eq!(label_at(Point::new(10, 30), Size::new(20, 12), area), Point::new(10, 18), "above");
        assert_eq!(label_at(Point::new(10, 5), Size::new(20, 12), area), Point::new(10, 5), "inside");
        assert_eq!(label_at(Point::new(95, -8), Size::new(20, 12), area), Point::new(80, 0), "corner");
        assert_eq!(label_at(Point::new(-5, 60), Size::new(200, 80), area), Point::new(0, 0), "bigger than the frame");
        assert_eq!(label_at(Point::new(i32::MIN, i32::MIN), Size::new(u32::MAX, u32::MAX), area), Point::new(0, 0));
    }

    #[test]
    fn boxes_past_the_edge_are_clipped_not_a_panic() {
        let mut img = RgbImage::new(10, 10);
        let det = Detection { bbox: BBox::new(-5.0, -5.0, 50.0, 50.0), score: 1.0 };
        draw_detections(&mut ImageTarget(&mut img), &[det]).unwrap();
    }
}
