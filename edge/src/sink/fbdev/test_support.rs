//! Scratch files and sample pictures shared by the framebuffer tests.

use super::format::Geometry;
use image::{Rgb, RgbImage};
use std::path::PathBuf;

pub(super) const FILL: u8 = 0xa5;

/// A unique scratch file filled with `FILL`, removed on drop.
pub(super) struct Scratch(pub(super) PathBuf);

impl Scratch {
    pub(super) fn new(tag: &str, len: usize) -> Scratch {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("facecam-fbdev-{}-{tag}-{n}", std::process::id()));
        std::fs::write(&path, vec![FILL; len]).unwrap();
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A 6x3 picture: a distinct colour per pixel, so any sampling mistake shows.
pub(super) fn picture() -> RgbImage {
    RgbImage::from_fn(6, 3, |x, y| Rgb([(x * 40 + 20) as u8, (y * 100 + 10) as u8, (250 - x * 30 - y * 20) as u8]))
}

pub(super) fn padded(mut g: Geometry, pad: usize, offset: usize) -> Geometry {
    g.stride += pad;
    g.offset = offset;
    g
}
