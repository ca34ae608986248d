//! The [`Framebuffer`] itself: a screen (device memory or a file) with a back buffer in its
//! pixel format, shown through [`Framebuffer::present`], drawn on as an embedded-graphics
//! `DrawTarget`, and a [`Sink`].

use super::format::{Encoder, Geometry};
use super::screen::{FileScreen, Screen};
use super::xwd::XVFB_SCREEN_FILE;
use crate::sink::letterbox::{fit, sample_map, Fit};
use crate::sink::{FrameReport, Sink};
use anyhow::{bail, Context, Result};
use embedded_graphics::{pixelcolor::Rgb888, prelude::*};
use image::RgbImage;
use std::convert::Infallible;
use std::path::{Path, PathBuf};

/// Where a frame of one size lands and which source pixels feed each screen pixel;
/// rebuilt only when the frame size changes.
struct Plan {
    frame: (u32, u32),
    fit: Fit,
    /// Per picture column: byte offset of the source pixel within a source row.
    cols: Vec<usize>,
    /// Per picture row: the source row.
    rows: Vec<usize>,
}

impl Plan {
    fn new(frame: (u32, u32), screen: (u32, u32)) -> Self {
        let fit = fit(frame, screen);
        let cols = sample_map(frame.0, fit.w).into_iter().map(|x| x as usize * 3).collect();
        let rows = sample_map(frame.1, fit.h).into_iter().map(|y| y as usize).collect();
        Plan { frame, fit, cols, rows }
    }
}

/// A screen (a device's mapped memory, or a file) with a back buffer in its pixel format.
pub struct Framebuffer {
    /// The device or file, for error messages.
    name: String,
    geometry: Geometry,
    screen: Screen,
    encoder: Encoder,
    /// The whole visible screen in device format, rows packed (`row_bytes` apart).
    back: Vec<u8>,
    /// The visible screen as found at open, rows packed; put back by [`Sink::close`].
    saved: Vec<u8>,
    plan: Option<Plan>,
}

impl std::fmt::Debug for Framebuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Framebuffer").field("name", &self.name).field("geometry", &self.geometry).finish()
    }
}

impl Framebuffer {
    /// Open a plain file laid out like a framebuffer with the given geometry (tests, or
    /// any program that shows a file's bytes). The file must already be large enough. A
    /// file that later shrinks, is replaced or cannot be written is reopened, not a crash
    /// (see `screen`).
    pub fn open_file(path: impl AsRef<Path>, geometry: Geometry) -> Result<Framebuffer> {
        let path = path.as_ref();
        let name = path.display().to_string();
        geometry.check().map_err(|e| anyhow::anyhow!("framebuffer file {name}: {e}"))?;
        let (screen, geometry) = FileScreen::open(path, Some(geometry))?;
        Self::from_screen(name, geometry, Screen::File(screen))
    }

    /// Open the screen file of an `Xvfb -fbdir DIR` server: `DIR/Xvfb_screen0`, an XWD image
    /// the server keeps mapped as its screen memory. `path` may be that file or `DIR`.
    pub fn open_xvfb(path: impl AsRef<Path>) -> Result<Framebuffer> {
        let mut path: PathBuf = path.as_ref().into();
        if path.is_dir() {
            path.push(XVFB_SCREEN_FILE);
        }
        let name = path.display().to_string();
        let (screen, geometry) = FileScreen::open(&path, None)?;
        Self::from_screen(name, geometry, Screen::File(screen))
    }

    pub(super) fn from_screen(name: String, geometry: Geometry, screen: Screen) -> Result<Framebuffer> {
        geometry.check().map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let need = geometry.required_len().unwrap_or(usize::MAX);
        if let Screen::Mapped(map) = &screen {
            if map.len() < need {
                bail!(
                    "{name}: mapping is {} bytes, too small for {} ({need} bytes needed)",
                    map.len(),
                    geometry.describe()
                );
            }
        }
        let bytes = screen.bytes(&geometry)?;
        let row = geometry.row_bytes();
        let mut saved = Vec::with_capacity(row * geometry.height as usize);
        for y in 0..geometry.height as usize {
            saved.extend_from_slice(&bytes[geometry.offset + y * geometry.stride..][..row]);
        }
        drop(bytes);
        // Start the back buffer from what is on screen, so drawing + flush without a
        // present changes only what was drawn.
        let back = saved.clone();
        let encoder = Encoder::new(&geometry);
        Ok(Framebuffer { name, geometry, screen, encoder, back, saved, plan: None })
    }

    /// The screen's layout.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The device or file this framebuffer shows on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Screen size in pixels.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.geometry.width, self.geometry.height)
    }

    /// Show `frame` scaled to fit the screen, centred, with black bars: compose it into the
    /// back buffer in device format, then copy that to the screen in one pass.
    pub fn present(&mut self, frame: &RgbImage) -> Result<()> {
        self.compose(frame)?;
        self.flush();
        Ok(())
    }

    /// Scale and convert `frame` into the back buffer (the screen is not touched until
    /// [`flush`](Self::flush)), e.g. to draw overlays on top with `DrawTarget` first.
    pub fn compose(&mut self, frame: &RgbImage) -> Result<()> {
        let (fw, fh) = frame.dimensions();
        if fw == 0 || fh == 0 {
            bail!("{}: cannot show an empty {fw}x{fh} frame", self.name);
        }
        let screen = self.dimensions();
        if self.plan.as_ref().map(|p| p.frame) != Some((fw, fh)) {
            self.plan = Some(Plan::new((fw, fh), screen));
        }
        let Some(plan) = &self.plan else { unreachable!("plan was just set") };
        let bpp = self.geometry.bytes_per_pixel();
        let row_bytes = self.geometry.row_bytes();
        let f = plan.fit;
        let (left, right) = (f.x as usize * bpp, (f.x + f.w) as usize * bpp);
        let src = frame.as_raw();
        let src_row = fw as usize * 3;
        // Black is all-zero bits in every accepted format (no alpha channel is written).
        let (top, rest) = self.back.split_at_mut(f.y as usize * row_bytes);
        top.fill(0);
        let (picture, bottom) = rest.split_at_mut(f.h as usize * row_bytes);
        bottom.fill(0);
        for (dst, &sy) in picture.chunks_exact_mut(row_bytes).zip(&plan.rows) {
            dst[..left].fill(0);
            dst[right..].fill(0);
            let srow = &src[sy * src_row..][..src_row];
            for (px, &sx) in dst[left..right].chunks_exact_mut(bpp).zip(&plan.cols) {
                self.encoder.put(px, &srow[sx..sx + 3]);
            }
        }
        Ok(())
    }

    /// Copy the back buffer to the screen, row by row at the device's stride (the padding
    /// past each row is left alone). A lost screen file drops it (see `screen`).
    pub fn flush(&mut self) {
        self.screen.write_rows(&self.back, &self.geometry);
    }

    /// Whether frames are being dropped because the screen file is lost (shrunk, replaced,
    /// or unwritable) and not back yet.
    pub fn is_lost(&self) -> bool {
        self.screen.is_lost()
    }

    /// What the screen shows now, read back and decoded to RGB.
    pub fn snapshot(&self) -> Result<RgbImage> {
        let bytes = self.screen.bytes(&self.geometry)?;
        self.geometry.to_rgb_image(&bytes).with_context(|| format!("{}: cannot read the screen back", self.name))
    }

    /// Put back the screen contents saved when the framebuffer was opened.
    pub fn restore(&mut self) {
        self.screen.write_rows(&self.saved, &self.geometry);
    }
}

impl OriginDimensions for Framebuffer {
    fn size(&self) -> Size {
        Size::new(self.geometry.width, self.geometry.height)
    }
}

/// Drawing goes to the back buffer; call [`Framebuffer::flush`] to show it.
/// Pixels outside the screen are ignored.
impl DrawTarget for Framebuffer {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(&mut self, pixels: I) -> Result<(), Infallible> {
        let (w, h) = self.dimensions();
        let bpp = self.geometry.bytes_per_pixel();
        let row = self.geometry.row_bytes();
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < w && (p.y as u32) < h {
                let at = p.y as usize * row + p.x as usize * bpp;
                self.encoder.put(&mut self.back[at..at + bpp], &[c.r(), c.g(), c.b()]);
            }
        }
        Ok(())
    }
}

impl Sink for Framebuffer {
    fn show(&mut self, frame: &RgbImage, _report: &FrameReport) -> Result<()> {
        self.present(frame)
    }

    /// Restores the screen as it was at open, so the console comes back on exit.
    fn close(&mut self) -> Result<()> {
        self.restore();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{padded, picture, Scratch, FILL};
    use super::*;
    use crate::sink::letterbox::letterbox;
    use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
    use image::Rgb;

    #[test]
    fn frame_size_changes_are_followed() {
        let g = Geometry::xrgb8888(8, 8);
        let s = Scratch::new("resize", g.required_len().unwrap());
        let mut fb = Framebuffer::open_file(&s.0, g).unwrap();
        fb.present(&picture()).unwrap();
        let tall = RgbImage::from_pixel(2, 4, Rgb([0, 200, 0]));
        fb.present(&tall).unwrap();
        assert_eq!(fb.snapshot().unwrap(), letterbox(&tall, (8, 8)));
    }

    #[test]
    fn close_restores_the_screen_found_at_open() {
        let g = padded(Geometry::rgb565(12, 10), 8, 4);
        let s = Scratch::new("close", g.required_len().unwrap());
        let before = std::fs::read(&s.0).unwrap();
        let mut fb = Framebuffer::open_file(&s.0, g).unwrap();
        fb.present(&picture()).unwrap();
        assert_ne!(std::fs::read(&s.0).unwrap(), before);
        Sink::close(&mut fb).unwrap();
        assert_eq!(std::fs::read(&s.0).unwrap(), before);
    }

    #[test]
    fn draw_target_draws_into_the_back_buffer_until_flush() {
        let g = Geometry::xrgb8888(10, 10);
        let s = Scratch::new("draw", g.required_len().unwrap());
        let mut fb = Framebuffer::open_file(&s.0, g).unwrap();
        fb.compose(&RgbImage::new(10, 10)).unwrap();
        Rectangle::new(Point::new(2, 3), Size::new(4, 2))
            .into_styled(PrimitiveStyle::with_fill(Rgb888::new(10, 20, 30)))
            .draw(&mut fb)
            .unwrap();
        Pixel(Point::new(-1, 50), Rgb888::WHITE).draw(&mut fb).unwrap(); // clipped, not a panic
        assert_eq!(fb.snapshot().unwrap().get_pixel(2, 3).0, [FILL, FILL, FILL], "not on screen before flush");
        fb.flush();
        let shot = fb.snapshot().unwrap();
        assert_eq!(shot.get_pixel(2, 3).0, [10, 20, 30]);
        assert_eq!(shot.get_pixel(5, 4).0, [10, 20, 30]);
        assert_eq!(shot.get_pixel(6, 4).0, [0, 0, 0]);
        assert_eq!(fb.size(), Size::new(10, 10));
    }

    #[test]
    fn too_small_files_and_bad_geometry_are_errors_naming_the_file() {
        let g = Geometry::xrgb8888(16, 16);
        let s = Scratch::new("small", 100);
        let err = format!("{:#}", Framebuffer::open_file(&s.0, g).unwrap_err());
        assert!(err.contains(&s.0.display().to_string()) && err.contains("100 bytes"), "{err}");
        assert!(err.contains(&g.required_len().unwrap().to_string()), "{err}");
        let bad = Geometry { bits_per_pixel: 8, ..g };
        let err = format!("{:#}", Framebuffer::open_file(&s.0, bad).unwrap_err());
        assert!(err.contains(&s.0.display().to_string()) && err.contains("8 bits per pixel"), "{err}");
        let narrow = Geometry { stride: 10, ..g };
        assert!(format!("{:#}", Framebuffer::open_file(&s.0, narrow).unwrap_err()).contains("stride 10"));
        let missing = Framebuffer::open_file("/nonexistent/facecam-fb", Geometry::rgb565(1, 1)).unwrap_err();
        assert!(format!("{missing:#}").contains("/nonexistent/facecam-fb"));
        let mut fb = Framebuffer::open_file(&s.0, Geometry::rgb565(2, 2)).unwrap();
        assert!(fb.present(&RgbImage::new(0, 3)).is_err(), "empty frames are an error, not a panic");
    }
}
