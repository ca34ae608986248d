//! Stickers: PNG pictures with alpha, scaled to each face and alpha-blended onto the
//! frame (embedded-graphics has no alpha, so the blending is ours).
//!
//! A sticker `NAME.png` may have a `NAME.toml` beside it saying where it sits relative
//! to the face box (`scale` = sticker width / face width; `center_x`, `center_y` = its
//! centre in face-box units, 0..1 inside the box). Without one it covers the face.

use crate::model::BBox;
use anyhow::{Context, Result};
use image::{imageops, RgbImage, RgbaImage};
use serde::Deserialize;
use std::path::Path;

/// Where a sticker goes relative to a face box.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Sticker width as a multiple of the face width.
    pub scale: f32,
    /// Sticker centre, in face widths from the box's left edge.
    pub center_x: f32,
    /// Sticker centre, in face heights from the box's top edge.
    pub center_y: f32,
}

impl Default for Placement {
    fn default() -> Self {
        Self { scale: 1.1, center_x: 0.5, center_y: 0.5 }
    }
}

/// A loaded sticker, with its last scaled copy cached (faces change size slowly).
pub struct Sticker {
    name: String,
    rgba: RgbaImage,
    /// Where it sits on a face.
    pub placement: Placement,
    cache: Option<RgbaImage>,
}

impl Sticker {
    /// Load `NAME.png` and its optional `NAME.toml` placement.
    pub fn load(path: &Path) -> Result<Self> {
        let rgba = image::open(path)
            .with_context(|| format!("{}: cannot read sticker (a PNG with alpha is expected)", path.display()))?
            .to_rgba8();
        let side = path.with_extension("toml");
        let placement = if side.exists() {
            let text = std::fs::read_to_string(&side).with_context(|| format!("{}: cannot read", side.display()))?;
            toml::from_str(&text).with_context(|| format!("{}: bad sticker placement", side.display()))?
        } else {
            Placement::default()
        };
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self::new(name, rgba, placement))
    }

    /// A sticker from a picture in memory.
    pub fn new(name: impl Into<String>, rgba: RgbaImage, placement: Placement) -> Self {
        Self { name: name.into(), rgba, placement, cache: None }
    }

    /// The sticker's name (its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rectangle `(x, y, w, h)` the sticker covers for this face, in frame pixels
    /// (may extend past the frame).
    pub fn rect_for(&self, face: &BBox) -> (i64, i64, u32, u32) {
        let w = (face.width() * self.placement.scale).round().max(1.0);
        let h = (w * self.rgba.height() as f32 / self.rgba.width().max(1) as f32).round().max(1.0);
        let cx = face.x0 + face.width() * self.placement.center_x;
        let cy = face.y0 + face.height() * self.placement.center_y;
        ((cx - w / 2.0).round() as i64, (cy - h / 2.0).round() as i64, w as u32, h as u32)
    }

    /// Draw the sticker on `frame` over `face`.
    pub fn apply(&mut self, frame: &mut RgbImage, face: &BBox) {
        let (x, y, w, h) = self.rect_for(face);
        // Absurd sizes (a broken box) would cost seconds to resample: skip them.
        if w > 4 * frame.width().max(1) || h > 4 * frame.height().max(1) {
            return;
        }
        if self.cache.as_ref().is_none_or(|c| c.dimensions() != (w, h)) {
            self.cache = Some(imageops::resize(&self.rgba, w, h, imageops::FilterType::Triangle));
        }
        blend(frame, self.cache.as_ref().expect("set above"), x, y);
    }
}

/// Alpha-blend `over` onto `frame` with its top-left at `(x, y)`; parts outside the
/// frame are clipped.
pub fn blend(frame: &mut RgbImage, over: &RgbaImage, x: i64, y: i64) {
    let (fw, fh) = (frame.width() as i64, frame.height() as i64);
    for (sx, sy, p) in over.enumerate_pixels() {
        let (dx, dy) = (x + sx as i64, y + sy as i64);
        let a = p.0[3] as u32;
        if a == 0 || dx < 0 || dy < 0 || dx >= fw || dy >= fh {
            continue;
        }
        let d = frame.get_pixel_mut(dx as u32, dy as u32);
        for c in 0..3 {
            // Rounded integer blend: (a·s + (255−a)·d) / 255.
            d.0[c] = ((a * p.0[c] as u32 + (255 - a) * d.0[c] as u32 + 127) / 255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    #[test]
    fn blends_by_alpha_and_clips() {
        let mut frame = RgbImage::from_pixel(4, 4, image::Rgb([0, 0, 200]));
        let mut over = RgbaImage::from_pixel(2, 2, Rgba([255, 0, 0, 255]));
        over.put_pixel(1, 0, Rgba([255, 0, 0, 0]));
        over.put_pixel(0, 1, Rgba([255, 0, 0, 128]));
        blend(&mut frame, &over, 3, 3);
        assert_eq!(frame.get_pixel(3, 3).0, [255, 0, 0], "opaque");
        blend(&mut frame, &over, 0, 0);
        assert_eq!(frame.get_pixel(1, 0).0, [0, 0, 200], "transparent");
        assert_eq!(frame.get_pixel(0, 1).0, [128, 0, 100], "half");
        blend(&mut frame, &over, -5, 10); // entirely outside: nothing, no panic
    }

    #[test]
    fn placement_follows_the_face() {
        let s =
            Sticker::new("glasses", RgbaImage::new(100, 40), Placement { scale: 1.0, center_x: 0.5, center_y: 0.4 });
        assert_eq!(s.rect_for(&BBox::new(100.0, 100.0, 200.0, 220.0)), (100, 128, 100, 40));
        assert_eq!(s.rect_for(&BBox::new(0.0, 0.0, 50.0, 60.0)), (0, 14, 50, 20));
    }

    #[test]
    fn bad_sticker_files_name_the_file() {
        let dir = std::env::temp_dir().join(format!("facecam-sticker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join("s.png");
        std::fs::write(&png, b"junk").unwrap();
        assert!(format!("{:#}", Sticker::load(&png).err().unwrap()).contains("s.png"));
        RgbaImage::new(4, 4).save(&png).unwrap();
        std::fs::write(dir.join("s.toml"), "scale = 1.0\nsize = 3\n").unwrap();
        let e = format!("{:#}", Sticker::load(&png).err().unwrap());
        assert!(e.contains("s.toml") && e.contains("size"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
