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

/// Whether a `--sticker` value names a picture file (it has a `/` or an extension:
/// `hat.png`, `art/x`) rather than a built-in sticker (a bare name: `sunglasses`). The
/// camera's `--sticker` and its config file (which rebases such paths on its own folder)
/// share this one rule.
pub fn names_a_file(value: &str) -> bool {
    value.contains('/') || Path::new(value).extension().is_some()
}

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

impl Placement {
    /// The range each number may take: `scale` from a twentieth of the face to eight faces
    /// wide, the centre within four faces of the box.
    pub const RANGES: [(&'static str, f32, f32); 3] =
        [("scale", 0.05, 8.0), ("center_x", -4.0, 5.0), ("center_y", -4.0, 5.0)];

    /// Refuse a number out of its range (NaN and infinities included), naming the key:
    /// ``key `center_x` = 1e30: must be from -4 to 5``.
    pub fn check(&self) -> Result<()> {
        for ((key, lo, hi), v) in Self::RANGES.into_iter().zip([self.scale, self.center_x, self.center_y]) {
            if !(lo..=hi).contains(&v) {
                anyhow::bail!("key `{key}` = {v:?}: must be from {lo} to {hi}");
            }
        }
        Ok(())
    }
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
    /// Load `NAME.png` and its optional `NAME.toml` placement (its numbers checked).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::input::read_file(path, "a sticker file", crate::input::MAX_PICTURE_BYTES)?;
        let rgba = image::load_from_memory(&bytes)
            .with_context(|| format!("{}: cannot read sticker (a PNG with alpha is expected)", path.display()))?
            .to_rgba8();
        let side = path.with_extension("toml");
        let placement = if side.exists() {
            let text = crate::input::read_text(&side, "a sticker placement file", crate::input::MAX_TEXT_BYTES)?;
            crate::input::nesting::toml_from_str(&text)
                .and_then(|p: Placement| p.check().map(|()| p))
                .with_context(|| format!("{}: bad sticker placement", side.display()))?
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
    /// (may extend past the frame). Any box and placement give numbers that are safe to
    /// add to: sizes within 1..=2^20, corners within ±2^30 (NaN reads as 0).
    pub fn rect_for(&self, face: &BBox) -> (i64, i64, u32, u32) {
        const SIDE: f64 = (1 << 20) as f64;
        const AT: f64 = (1 << 30) as f64;
        let p = &self.placement;
        let (fw, fh) = (face.width() as f64, face.height() as f64);
        let aspect = self.rgba.height() as f64 / self.rgba.width().max(1) as f64;
        let size = |v: f64| if v.is_nan() { 1.0 } else { v.round().clamp(1.0, SIDE) };
        let w = size(fw * p.scale as f64);
        let h = size(w * aspect);
        let cx = face.x0 as f64 + fw * p.center_x as f64;
        let cy = face.y0 as f64 + fh * p.center_y as f64;
        // `as` saturates and maps NaN to 0; the clamp keeps `x + width` far from overflow.
        let corner = |c: f64, size: f64| (c - size / 2.0).round().clamp(-AT, AT) as i64;
        (corner(cx, w), corner(cy, h), w as u32, h as u32)
    }

    /// Draw the sticker on `frame` over `face`.
    pub fn apply(&mut self, frame: &mut RgbImage, face: &BBox) {
        let (x, y, w, h) = self.rect_for(face);
        // Absurd sizes (a broken box) would cost seconds to resample: skip them.
        if w > frame.width().max(1).saturating_mul(4) || h > frame.height().max(1).saturating_mul(4) {
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
    fn paths_and_names_are_told_apart() {
        for file in ["hat.png", "hat.webp", "art/x", "./x", "/abs/s.png", "my.hat.png"] {
            assert!(names_a_file(file), "{file}");
        }
        for name in ["sunglasses", "party-hat", ""] {
            assert!(!names_a_file(name), "{name}");
        }
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
        for (text, says) in [
            ("scale = 1.0\ncenter_x = 1e30\ncenter_y = 0.5\n", "key `center_x` = 1e30: must be from -4 to 5"),
            ("scale = nan\ncenter_x = 0.5\ncenter_y = 0.5\n", "key `scale` = NaN: must be from 0.05 to 8"),
            ("scale = 1e20\ncenter_x = 0.5\ncenter_y = 0.5\n", "key `scale` = 1e20: must be from 0.05 to 8"),
            ("scale = 1.0\ncenter_x = 0.5\ncenter_y = -inf\n", "key `center_y` = -inf: must be from -4 to 5"),
            ("scale = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "nested deeper"),
        ] {
            std::fs::write(dir.join("s.toml"), text).unwrap();
            let e = format!("{:#}", Sticker::load(&png).err().unwrap());
            assert!(e.contains("s.toml: bad sticker placement: ") && e.contains(says), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn any_box_and_placement_place_without_overflow() {
        let mut frame = RgbImage::new(32, 24);
        for placement in [
            Placement { scale: 1e30, center_x: 1e30, center_y: -1e30 },
            Placement { scale: f32::NAN, center_x: f32::INFINITY, center_y: f32::NAN },
            Placement::default(),
        ] {
            let mut s = Sticker::new("s", RgbaImage::new(4, 4), placement);
            for face in
                [BBox::new(-3e38, -3e38, 3e38, 3e38), BBox::new(1e30, 0.0, 3e38, 1.0), BBox::new(2.0, 2.0, 9.0, 9.0)]
            {
                let (x, y, w, h) = s.rect_for(&face);
                assert!(x.abs() <= 1 << 30 && y.abs() <= 1 << 30 && (1..=1 << 20).contains(&w) && h >= 1);
                s.apply(&mut frame, &face);
            }
        }
    }
}
