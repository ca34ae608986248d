//! Privacy mode: every face pixelated or blurred beyond recognition, in place.

use crate::model::BBox;
use image::RgbImage;

/// How faces are hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privacy {
    /// Blocks of flat colour; about 8 blocks across a face.
    Pixelate,
    /// A strong blur (three box-blur passes ≈ Gaussian), radius a sixth of the face.
    Blur,
}

impl std::str::FromStr for Privacy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pixelate" => Ok(Privacy::Pixelate),
            "blur" => Ok(Privacy::Blur),
            _ => Err(format!("`{s}`: expected pixelate or blur")),
        }
    }
}

/// The box grown by 10% each side (hair and chin too) and clipped to the frame, as
/// whole pixels `(x0, y0, x1, y1)`; `None` when nothing of it is inside.
fn region(frame: &RgbImage, b: &BBox) -> Option<(u32, u32, u32, u32)> {
    let (mx, my) = (b.width() * 0.1, b.height() * 0.1);
    let x0 = (b.x0 - mx).floor().max(0.0) as u32;
    let y0 = (b.y0 - my).floor().max(0.0) as u32;
    let x1 = ((b.x1 + mx).ceil().max(0.0) as u32).min(frame.width());
    let y1 = ((b.y1 + my).ceil().max(0.0) as u32).min(frame.height());
    (x1 > x0 && y1 > y0).then_some((x0, y0, x1, y1))
}

/// Hide one face in `frame`.
pub fn hide(frame: &mut RgbImage, face: &BBox, how: Privacy) {
    let Some(r) = region(frame, face) else { return };
    match how {
        Privacy::Pixelate => pixelate(frame, r, ((r.2 - r.0).max(r.3 - r.1) / 8).max(2)),
        Privacy::Blur => {
            let radius = ((r.2 - r.0).max(r.3 - r.1) / 6).max(1);
            for _ in 0..3 {
                box_blur(frame, r, radius);
            }
        }
    }
}

/// Replace each `block`-sized cell of the region by its mean colour.
fn pixelate(frame: &mut RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32), block: u32) {
    for by in (y0..y1).step_by(block as usize) {
        for bx in (x0..x1).step_by(block as usize) {
            let (ex, ey) = ((bx + block).min(x1), (by + block).min(y1));
            let mut sum = [0u64; 3];
            for y in by..ey {
                for x in bx..ex {
                    let p = frame.get_pixel(x, y).0;
                    (0..3).for_each(|c| sum[c] += p[c] as u64);
                }
            }
            let n = ((ex - bx) * (ey - by)) as u64;
            let mean = image::Rgb([(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8]);
            for y in by..ey {
                for x in bx..ex {
                    frame.put_pixel(x, y, mean);
                }
            }
        }
    }
}

/// One separable box-blur pass over the region (edges clamp to the region).
fn box_blur(frame: &mut RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32), radius: u32) {
    let (w, h) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut buf: Vec<[f32; 3]> = Vec::with_capacity(w * h);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = frame.get_pixel(x, y).0;
            buf.push([p[0] as f32, p[1] as f32, p[2] as f32]);
        }
    }
    let r = radius as isize;
    let pass = |src: &[[f32; 3]], len: usize, stride: usize, lines: usize, step: usize| {
        let mut out = src.to_vec();
        for line in 0..lines {
            let at = |i: isize| src[line * step + (i.clamp(0, len as isize - 1) as usize) * stride];
            for i in 0..len as isize {
                let mut acc = [0.0f32; 3];
                for k in -r..=r {
                    let p = at(i + k);
                    (0..3).for_each(|c| acc[c] += p[c]);
                }
                let n = (2 * r + 1) as f32;
                out[line * step + i as usize * stride] = [acc[0] / n, acc[1] / n, acc[2] / n];
            }
        }
        out
    };
    let horizontal = pass(&buf, w, 1, h, w);
    let both = pass(&horizontal, h, w, w, 1);
    for (i, p) in both.iter().enumerate() {
        let (x, y) = (x0 + (i % w) as u32, y0 + (i / w) as u32);
        frame.put_pixel(x, y, image::Rgb([p[0].round() as u8, p[1].round() as u8, p[2].round() as u8]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker() -> RgbImage {
        RgbImage::from_fn(64, 64, |x, y| if (x + y) % 2 == 0 { image::Rgb([255; 3]) } else { image::Rgb([0; 3]) })
    }

    fn contrast(img: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> f32 {
        let mut d = 0.0;
        for y in y0..y1 {
            for x in x0..x1 - 1 {
                d += (img.get_pixel(x, y).0[0] as f32 - img.get_pixel(x + 1, y).0[0] as f32).abs();
            }
        }
        d / ((x1 - x0 - 1) * (y1 - y0)) as f32
    }

    #[test]
    fn both_modes_destroy_detail_inside_and_leave_the_rest() {
        for how in [Privacy::Pixelate, Privacy::Blur] {
            let mut img = checker();
            hide(&mut img, &BBox::new(20.0, 20.0, 44.0, 44.0), how);
            assert!(contrast(&img, 22, 22, 42, 42) < 40.0, "{how:?}: detail left {}", contrast(&img, 22, 22, 42, 42));
            assert_eq!(contrast(&img, 0, 0, 10, 10), 255.0, "{how:?}: outside changed");
        }
    }

    #[test]
    fn faces_off_the_frame_are_ignored_or_clipped() {
        let mut img = checker();
        hide(&mut img, &BBox::new(-50.0, -50.0, -10.0, -10.0), Privacy::Blur);
        assert_eq!(img, checker());
        hide(&mut img, &BBox::new(50.0, 50.0, 90.0, 90.0), Privacy::Pixelate);
        assert_ne!(img, checker());
    }
}
