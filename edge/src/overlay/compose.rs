//! Composing a frame's overlays in a fixed order: hide faces (privacy), add stickers,
//! draw boxes, then the HUD. Privacy comes first so nothing drawn later reveals a face.

use super::hud::{draw_hud, hud_area, HudInfo};
use super::per_class::PerClass;
use super::privacy::{hide, Privacy};
use super::sticker::Sticker;
use super::{draw_label_and_box, ImageTarget};
use crate::track::Track;
use image::RgbImage;

/// Which overlays to draw.
#[derive(Default)]
pub struct Style {
    /// Boxes labelled with track id and score (or class and probability, when classified).
    pub boxes: bool,
    /// The sticker on each face, by its class (see [`PerClass`]).
    pub sticker: PerClass<Sticker>,
    /// How each face is hidden, by its class.
    pub privacy: PerClass<Privacy>,
    /// Frame rate and latency in the corner.
    pub hud: bool,
}

/// The class a face was labelled with, if it was.
fn class(t: &Track) -> Option<&str> {
    t.label.as_ref().map(|l| l.class.as_str())
}

/// Draw the overlays `style` asks for onto `frame`.
pub fn compose(frame: &mut RgbImage, faces: &[Track], style: &mut Style, hud: &HudInfo) {
    for t in faces {
        if let Some(&how) = style.privacy.get(class(t)) {
            hide(frame, &t.bbox, how);
        }
    }
    for t in faces {
        if let Some(sticker) = style.sticker.get_mut(class(t)) {
            sticker.apply(frame, &t.bbox);
        }
    }
    let mut target = ImageTarget(frame);
    // Labels keep out of the HUD's corner, which is drawn over them.
    let keep_out: &[_] = if style.hud { &[hud_area(hud)] } else { &[] };
    if style.boxes {
        for t in faces {
            // ImageTarget cannot fail.
            let text = match &t.label {
                Some(l) => format!("#{} {} {:.2}", t.id, l.shown(), l.probability),
                None => format!("#{} {:.2}", t.id, t.score),
            };
            let _ = draw_label_and_box(&mut target, &t.bbox, &text, keep_out);
        }
    }
    if style.hud {
        let _ = draw_hud(&mut target, hud);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BBox;
    use crate::track::Label;

    fn face(x: f32, class: Option<&str>) -> Track {
        let label = class.map(|c| Label { class: c.into(), class_name: c.into(), probability: 0.9 });
        Track { id: 1, bbox: BBox::new(x, 10.0, x + 20.0, 30.0), score: 0.9, label, zones: vec![] }
    }

    /// Vertical stripes: a face area that is hidden loses them.
    fn striped() -> RgbImage {
        RgbImage::from_fn(120, 40, |x, _| if x % 2 == 0 { image::Rgb([255, 255, 255]) } else { image::Rgb([0, 0, 0]) })
    }

    #[test]
    fn privacy_follows_each_face_class_and_hides_unlabelled_faces() {
        let specs = ["blur".to_string(), "known=none".to_string()];
        let privacy = PerClass::parse(&specs, "privacy", str::parse).unwrap();
        let mut style = Style { privacy, ..Default::default() };
        let mut frame = striped();
        let faces = [face(5.0, Some("known")), face(45.0, Some("stranger")), face(85.0, None)];
        let hud = HudInfo { fps: 0.0, latency_ms: 0.0, faces: 3 };
        compose(&mut frame, &faces, &mut style, &hud);
        let contrast = |x0: u32| {
            let row: Vec<i32> = (x0..x0 + 20).map(|x| frame.get_pixel(x, 20).0[0] as i32).collect();
            row.windows(2).map(|w| (w[0] - w[1]).abs()).max().unwrap()
        };
        assert_eq!(contrast(5), 255, "the known face is left as it is");
        assert!(contrast(45) < 60, "a stranger is blurred: {}", contrast(45));
        assert!(contrast(85) < 60, "a face not classified yet is blurred too: {}", contrast(85));
    }

    #[test]
    fn a_label_in_the_huds_corner_moves_below_the_hud() {
        let mut style = Style { boxes: true, hud: true, ..Default::default() };
        let mut frame = RgbImage::from_pixel(200, 120, image::Rgb([0, 0, 255]));
        let corner = Track { id: 7, bbox: BBox::new(2.0, 0.0, 60.0, 60.0), score: 0.9, label: None, zones: vec![] };
        let hud = HudInfo { fps: 10.0, latency_ms: 40.0, faces: 1 };
        compose(&mut frame, &[corner], &mut style, &hud);
        let below = hud_area(&hud).size.height;
        // The label's tab (box green, a full row of it) lies wholly below the HUD.
        let tab_rows: Vec<u32> =
            (0..120).filter(|&y| (4..40).all(|x| frame.get_pixel(x, y).0 == [0, 255, 64])).collect();
        assert!(!tab_rows.is_empty() && tab_rows.iter().all(|&y| y >= below), "{tab_rows:?}, HUD to row {below}");
    }
}
