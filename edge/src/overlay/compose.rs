//! Composing a frame's overlays in a fixed order: hide faces (privacy), add stickers,
//! draw boxes, then the HUD. Privacy comes first so nothing drawn later reveals a face.

use super::hud::{draw_hud, HudInfo};
use super::privacy::{hide, Privacy};
use super::sticker::Sticker;
use super::{draw_labelled_box, ImageTarget};
use crate::track::Track;
use image::RgbImage;

/// Which overlays to draw.
#[derive(Default)]
pub struct Style {
    /// Boxes labelled with track id and score (or class and probability, when classified).
    pub boxes: bool,
    /// A sticker on every face.
    pub sticker: Option<Sticker>,
    /// Hide every face.
    pub privacy: Option<Privacy>,
    /// Frame rate and latency in the corner.
    pub hud: bool,
}

/// Draw the overlays `style` asks for onto `frame`.
pub fn compose(frame: &mut RgbImage, faces: &[Track], style: &mut Style, hud: &HudInfo) {
    if let Some(how) = style.privacy {
        faces.iter().for_each(|t| hide(frame, &t.bbox, how));
    }
    if let Some(sticker) = style.sticker.as_mut() {
        faces.iter().for_each(|t| sticker.apply(frame, &t.bbox));
    }
    let mut target = ImageTarget(frame);
    if style.boxes {
        for t in faces {
            // ImageTarget cannot fail.
            let text = match &t.label {
                Some(l) => format!("#{} {} {:.2}", t.id, l.class, l.probability),
                None => format!("#{} {:.2}", t.id, t.score),
            };
            let _ = draw_labelled_box(&mut target, &t.bbox, &text);
        }
    }
    if style.hud {
        let _ = draw_hud(&mut target, hud);
    }
}
