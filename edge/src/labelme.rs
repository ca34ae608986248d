//! labelme's JSON document (version 5.5 of its format), written by `facecam capture`
//! (pre-labelled pictures) and by `facecam-train` (synthetic sets): one writer, so both
//! produce files labelme opens and the importer reads.

use serde_json::{json, Value};

/// One labelled rectangle, in image pixels.
pub struct Rect<'a> {
    /// The class name shown in labelme (`face`, or a classifier class).
    pub label: &'a str,
    /// Corners: left, top, right, bottom.
    pub corners: [f32; 4],
    /// A note labelme shows beside the shape (e.g. the detector's score), if any.
    pub description: Option<String>,
}

/// A labelme document for the image at `image_path` (as stored in the file: relative to
/// the JSON when it can be), `width` x `height` pixels, with these rectangles.
pub fn document(image_path: &str, width: u32, height: u32, rects: &[Rect]) -> Value {
    let shapes: Vec<Value> = rects
        .iter()
        .map(|r| {
            let [x0, y0, x1, y1] = r.corners;
            let mut shape = json!({
                "label": r.label,
                "points": [[x0, y0], [x1, y1]],
                "group_id": null,
                "shape_type": "rectangle",
                "flags": {},
            });
            if let Some(d) = &r.description {
                shape["description"] = json!(d);
            }
            shape
        })
        .collect();
    json!({
        "version": "5.5.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": null,
        "imageHeight": height,
        "imageWidth": width,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_carry_corners_labels_and_notes() {
        let rects = [
            Rect { label: "face", corners: [1.0, 2.0, 30.0, 40.0], description: Some("score 0.9".into()) },
            Rect { label: "mask", corners: [5.0, 6.0, 7.0, 8.0], description: None },
        ];
        let doc = document("a.jpg", 50, 60, &rects);
        assert_eq!(doc["imagePath"], "a.jpg");
        assert_eq!((doc["imageWidth"].as_u64(), doc["imageHeight"].as_u64()), (Some(50), Some(60)));
        assert_eq!(doc["shapes"][0]["points"], json!([[1.0, 2.0], [30.0, 40.0]]));
        assert_eq!(doc["shapes"][0]["description"], "score 0.9");
        assert_eq!(doc["shapes"][1]["label"], "mask");
        assert!(doc["shapes"][1].get("description").is_none());
    }
}
