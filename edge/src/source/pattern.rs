//! A moving test pattern: colour bars with a sweeping bar, to check a screen and the
//! pipeline without a camera. It contains no faces.

use super::{Frame, FrameSource, SourceError};
use image::{Rgb, RgbImage};
use std::time::Instant;

/// The classic eight colour bars.
const BARS: [[u8; 3]; 8] =
    [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]];

/// An endless test pattern of a given size, paced like a 30 fps camera.
pub struct Pattern {
    width: u32,
    height: u32,
    seq: u64,
    /// Frames per second it is delivered at (0: as fast as asked).
    pub fps: u32,
    started: Option<Instant>,
}

impl Pattern {
    /// A pattern of this size.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width: width.max(8), height: height.max(2), seq: 0, fps: 30, started: None }
    }

    /// Frame `seq` of the pattern: bars on top, a grey ramp below, and a white column
    /// that moves one step per frame so a frozen display is obvious.
    pub fn render(&self, seq: u64) -> RgbImage {
        let (w, h) = (self.width, self.height);
        let sweep = (seq * 4 % w as u64) as u32;
        RgbImage::from_fn(w, h, |x, y| {
            if x == sweep {
                Rgb([255, 255, 255])
            } else if y < h * 3 / 4 {
                Rgb(BARS[(x * 8 / w) as usize])
            } else {
                let v = (x * 255 / (w - 1)) as u8;
                Rgb([v, v, v])
            }
        })
    }
}

impl FrameSource for Pattern {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        // A camera delivers at its frame rate; so does the pattern, or the run loop would
        // spend a core drawing frames only to drop them.
        let started = *self.started.get_or_insert_with(Instant::now);
        if self.fps > 0 {
            let due = started + std::time::Duration::from_secs_f64(self.seq as f64 / self.fps as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let image = self.render(self.seq);
        let frame = Frame { image, seq: self.seq, captured: Instant::now(), cut: false, at: None };
        self.seq += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!("test pattern {}x{} at {} fps", self.width, self.height, self.fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_a_sweep_that_moves() {
        let mut p = Pattern::new(64, 48);
        p.fps = 0;
        let a = p.next_frame().unwrap().unwrap();
        let b = p.next_frame().unwrap().unwrap();
        assert_eq!(a.image.dimensions(), (64, 48));
        assert_eq!(a.image.get_pixel(12, 10).0, [255, 255, 0], "second bar is yellow");
        assert_eq!(a.image.get_pixel(60, 10).0, [0, 0, 0], "last bar is black");
        assert_ne!(a.image, b.image, "the sweep moves");
        assert_eq!((a.seq, b.seq), (0, 1));
    }
}
