//! Fitting a frame onto a screen of another shape: scaled to fit, centred, the rest
//! black (letterbox or pillarbox bars). Shared by every screen sink.

use image::RgbImage;

/// Where a frame lands on a screen, in screen pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// Left edge of the picture.
    pub x: u32,
    /// Top edge of the picture.
    pub y: u32,
    /// Picture width.
    pub w: u32,
    /// Picture height.
    pub h: u32,
}

/// The largest rectangle with the frame's aspect ratio that fits the screen, centred.
pub fn fit(frame: (u32, u32), screen: (u32, u32)) -> Fit {
    let (fw, fh) = (frame.0.max(1) as u64, frame.1.max(1) as u64);
    let (sw, sh) = (screen.0 as u64, screen.1 as u64);
    // Compare fw/fh with sw/sh without floats: the limiting side decides.
    let (w, h) =
        if fw * sh >= fh * sw { (sw, (fh * sw / fw).max(1).min(sh)) } else { ((fw * sh / fh).max(1).min(sw), sh) };
    Fit { x: ((sw - w) / 2) as u32, y: ((sh - h) / 2) as u32, w: w as u32, h: h as u32 }
}

/// For each screen pixel of one axis of the fit, the source coordinate to sample
/// (nearest neighbour, centre-aligned). Computed once per frame size, not per pixel.
pub fn sample_map(src_len: u32, dst_len: u32) -> Vec<u32> {
    (0..dst_len)
        .map(|d| {
            (((2 * d as u64 + 1) * src_len as u64) / (2 * dst_len.max(1) as u64)).min(src_len.max(1) as u64 - 1) as u32
        })
        .collect()
}

/// Scale `frame` into a new `screen`-sized RGB image with black bars: the reference
/// picture of what a screen sink shows (screen sinks convert pixel formats on the fly).
pub fn letterbox(frame: &RgbImage, screen: (u32, u32)) -> RgbImage {
    let f = fit(frame.dimensions(), screen);
    let xs = sample_map(frame.width(), f.w);
    let ys = sample_map(frame.height(), f.h);
    let mut out = RgbImage::new(screen.0, screen.1);
    for (dy, &sy) in ys.iter().enumerate() {
        for (dx, &sx) in xs.iter().enumerate() {
            out.put_pixel(f.x + dx as u32, f.y + dy as u32, *frame.get_pixel(sx, sy));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_frames_get_bars_above_and_below() {
        assert_eq!(fit((640, 480), (640, 480)), Fit { x: 0, y: 0, w: 640, h: 480 });
        assert_eq!(fit((640, 360), (320, 240)), Fit { x: 0, y: 30, w: 320, h: 180 });
        assert_eq!(fit((480, 640), (320, 240)), Fit { x: 70, y: 0, w: 180, h: 240 });
        assert_eq!(fit((4000, 1), (240, 240)).h, 1, "never zero-height");
    }

    #[test]
    fn sample_map_covers_the_source_evenly() {
        assert_eq!(sample_map(4, 2), vec![1, 3]);
        assert_eq!(sample_map(2, 4), vec![0, 0, 1, 1]);
        assert_eq!(sample_map(5, 5), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn letterbox_keeps_colours_and_paints_bars_black() {
        let frame = RgbImage::from_pixel(4, 2, image::Rgb([200, 10, 30]));
        let out = letterbox(&frame, (4, 4));
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(2, 1).0, [200, 10, 30]);
        assert_eq!(out.get_pixel(3, 3).0, [0, 0, 0]);
    }
}
