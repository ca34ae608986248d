//! Draws the stickers shipped in `assets/stickers/` (our own artwork, made from shapes):
//! `cargo run -p facecam-edge --example make_stickers -- assets/stickers`.
//!
//! Each shape is a signed-distance-style inside test evaluated at 4x4 sub-pixels, so
//! edges come out anti-aliased without a drawing library.

use image::{Rgba, RgbaImage};
use std::path::PathBuf;

type Shape = Box<dyn Fn(f32, f32) -> Option<[u8; 4]>>;

/// Render layers (later ones on top) at `w`x`h` with 16 samples per pixel.
fn render(w: u32, h: u32, layers: &[Shape]) -> RgbaImage {
    const S: u32 = 4;
    RgbaImage::from_fn(w, h, |x, y| {
        let mut acc = [0f32; 4];
        for sy in 0..S {
            for sx in 0..S {
                let (u, v) = ((x * S + sx) as f32 + 0.5, (y * S + sy) as f32 + 0.5);
                let (u, v) = (u / (w * S) as f32, v / (h * S) as f32);
                let mut px = [0f32; 4];
                for layer in layers {
                    if let Some(c) = layer(u, v) {
                        let a = c[3] as f32 / 255.0;
                        for i in 0..3 {
                            px[i] = px[i] * (1.0 - a) + c[i] as f32 * a;
                        }
                        px[3] = px[3] + a * (1.0 - px[3]);
                    }
                }
                for i in 0..3 {
                    acc[i] += px[i] * px[3];
                }
                acc[3] += px[3];
            }
        }
        let n = (S * S) as f32;
        let a = acc[3] / n;
        let c = |i: usize| if acc[3] > 0.0 { (acc[i] / acc[3]).round() as u8 } else { 0 };
        Rgba([c(0), c(1), c(2), (a * 255.0).round() as u8])
    })
}

fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32, color: [u8; 4]) -> Shape {
    Box::new(move |u, v| (((u - cx) / rx).powi(2) + ((v - cy) / ry).powi(2) <= 1.0).then_some(color))
}

fn rect(x0: f32, y0: f32, x1: f32, y1: f32, color: [u8; 4]) -> Shape {
    Box::new(move |u, v| (u >= x0 && u <= x1 && v >= y0 && v <= y1).then_some(color))
}

/// Dark rounded lenses with a glint, a bridge and temple stubs.
fn sunglasses() -> RgbaImage {
    let frame = [25, 25, 30, 255];
    let lens = [40, 45, 60, 235];
    let glint = [255, 255, 255, 150];
    let layers: Vec<Shape> = vec![
        rect(0.0, 0.18, 1.0, 0.30, frame),
        ellipse(0.27, 0.5, 0.23, 0.42, frame),
        ellipse(0.73, 0.5, 0.23, 0.42, frame),
        ellipse(0.27, 0.5, 0.20, 0.36, lens),
        ellipse(0.73, 0.5, 0.20, 0.36, lens),
        ellipse(0.20, 0.35, 0.05, 0.08, glint),
        ellipse(0.66, 0.35, 0.05, 0.08, glint),
    ];
    render(240, 96, &layers)
}

/// A striped cone with a pompom on top.
fn party_hat() -> RgbaImage {
    let cone: Shape = Box::new(|u, v| {
        let half = 0.42 * (v - 0.12) / 0.86;
        if !(0.12..=0.98).contains(&v) || (u - 0.5).abs() > half {
            return None;
        }
        Some(if ((v * 7.0 + u * 2.0) as i32) % 2 == 0 { [230, 60, 120, 255] } else { [255, 210, 40, 255] })
    });
    let layers: Vec<Shape> = vec![
        cone,
        rect(0.06, 0.92, 0.94, 1.0, [70, 160, 230, 255]),
        ellipse(0.5, 0.1, 0.1, 0.09, [250, 250, 250, 255]),
    ];
    render(160, 200, &layers)
}

/// A round smiling face that covers the real one.
fn smiley() -> RgbaImage {
    let mouth: Shape = Box::new(|u, v| {
        let r = ((u - 0.5).powi(2) + (v - 0.45).powi(2)).sqrt();
        (v > 0.55 && (0.26..0.32).contains(&r)).then_some([60, 30, 10, 255])
    });
    let layers: Vec<Shape> = vec![
        ellipse(0.5, 0.5, 0.49, 0.49, [250, 200, 40, 255]),
        ellipse(0.5, 0.5, 0.46, 0.46, [255, 220, 60, 255]),
        ellipse(0.36, 0.38, 0.05, 0.09, [60, 30, 10, 255]),
        ellipse(0.64, 0.38, 0.05, 0.09, [60, 30, 10, 255]),
        mouth,
    ];
    render(200, 200, &layers)
}

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "assets/stickers".into()));
    std::fs::create_dir_all(&out)?;
    // (name, picture, placement: scale, centre x, centre y in face-box units)
    let stickers = [
        ("sunglasses", sunglasses(), (1.0, 0.5, 0.40)),
        ("party-hat", party_hat(), (0.9, 0.5, -0.3)),
        ("smiley", smiley(), (1.25, 0.5, 0.5)),
    ];
    for (name, picture, (scale, cx, cy)) in stickers {
        picture.save(out.join(format!("{name}.png")))?;
        let toml = format!("# Where {name}.png sits on a face box (see edge::overlay::sticker).\nscale = {scale}\ncenter_x = {cx}\ncenter_y = {cy}\n");
        std::fs::write(out.join(format!("{name}.toml")), toml)?;
        println!("{}/{name}.png", out.display());
    }
    Ok(())
}
