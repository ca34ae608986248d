//! labelme JSON: one file per image; rectangle shapes are faces, labelled `face` unless
//! the source names other classes (`labelme:DIR@happy,sad`, or `@*` for every label).
//!
//! `imagePath` is relative to the JSON file and may be written Windows-style
//! (`..\\images\\x.jpg`) when the labelling was done on Windows.

use super::classes::Classes;
use super::{beside, FaceBox, Sample};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

/// The label that marks a face by default (compared case-insensitively).
pub const FACE_LABEL: &str = "face";

/// Load every `*.json` in `dir` (sorted by name).
pub fn load_labelme(dir: &Path, classes: &Classes) -> Result<Vec<Sample>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list labelme directory", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no labelme .json files", dir.display());
    }
    files.iter().map(|f| load_file(f, classes)).collect()
}

fn load_file(file: &Path, classes: &Classes) -> Result<Sample> {
    let text = edge::input::read_text(file, "a labelme file", edge::input::MAX_TEXT_BYTES)?;
    parse(&text, file, classes).with_context(|| format!("{}: malformed labelme file", file.display()))
}

/// Whether a shape's `label` is taken: the default `face` class matches any case.
fn admits(classes: &Classes, label: &str) -> bool {
    classes.admits(label)
        || (*classes == Classes::Only(vec![FACE_LABEL.into()]) && label.eq_ignore_ascii_case(FACE_LABEL))
}

/// Parse one labelme document that lives at `file`.
pub fn parse(text: &str, file: &Path, classes: &Classes) -> Result<Sample> {
    let doc: Value = serde_json::from_str(text)?;
    let image_path = doc
        .get("imagePath")
        .and_then(Value::as_str)
        .context("field `imagePath` is missing or not a string")?
        .replace('\\', "/");
    let shapes = doc.get("shapes").and_then(Value::as_array).context("field `shapes` is missing or not a list")?;
    let (mut boxes, mut labels) = (Vec::new(), Vec::new());
    for (i, shape) in shapes.iter().enumerate() {
        let label = shape.get("label").and_then(Value::as_str).unwrap_or("");
        let kind = shape.get("shape_type").and_then(Value::as_str).unwrap_or("polygon");
        if !admits(classes, label) || kind != "rectangle" {
            continue;
        }
        let pts = shape
            .get("points")
            .and_then(Value::as_array)
            .filter(|p| p.len() == 2)
            .with_context(|| format!("field `shapes[{i}].points`: a rectangle needs two points"))?;
        let xy = |p: &Value| -> Option<(f64, f64)> {
            let a = p.as_array()?;
            Some((a.first()?.as_f64()?, a.get(1)?.as_f64()?))
        };
        let (Some((ax, ay)), Some((bx, by))) = (xy(&pts[0]), xy(&pts[1])) else {
            bail!("field `shapes[{i}].points`: points must be [x, y] numbers");
        };
        // labelme keeps the drag order; any two opposite corners are valid.
        let corners = [ax.min(bx), ay.min(by), ax.max(bx), ay.max(by)].map(|v| v as f32);
        let b = FaceBox::checked(corners, false, None).with_context(|| format!("field `shapes[{i}].points`"))?;
        if b.width() > 0.0 && b.height() > 0.0 {
            boxes.push(b);
            labels.push(label.to_string());
        }
    }
    Ok(Sample { image: beside(file, &image_path), boxes, labels })
}

/// Write a labelme document for `sample` at `json_path` (image path stored relative to it
/// when possible), ready to open and correct in labelme.
pub fn write_labelme(sample: &Sample, width: u32, height: u32, json_path: &Path) -> Result<()> {
    let rel = json_path
        .parent()
        .and_then(|d| sample.image.strip_prefix(d).ok())
        .unwrap_or(&sample.image)
        .to_string_lossy()
        .into_owned();
    let rects: Vec<edge::labelme::Rect> = (sample.boxes.iter().enumerate())
        .map(|(i, b)| edge::labelme::Rect {
            label: sample.label(i),
            corners: [b.x0, b.y0, b.x1, b.y1],
            description: None,
        })
        .collect();
    let doc = edge::labelme::document(&rel, width, height, &rects);
    edge::atomic::write(json_path, serde_json::to_string_pretty(&doc)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_windows_paths_any_corner_order_and_skips_other_labels() {
        let doc = r#"{"imagePath": "..\\images\\x.jpg", "shapes": [
            {"label": "face", "shape_type": "rectangle", "points": [[50, 60], [10, 20]]},
            {"label": "dog", "shape_type": "rectangle", "points": [[1, 1], [5, 5]]},
            {"label": "Face", "shape_type": "polygon", "points": [[1, 1], [5, 5], [3, 9]]}]}"#;
        let face = Classes::Only(vec![FACE_LABEL.into()]);
        let s = parse(doc, Path::new("/data/labels/x.json"), &face).unwrap();
        assert_eq!(s.image, Path::new("/data/labels/../images/x.jpg"));
        assert_eq!(s.boxes, vec![FaceBox { x0: 10.0, y0: 20.0, x1: 50.0, y1: 60.0, ignore: false }]);
        assert_eq!(s.labels, vec!["face"]);
        // Every rectangle, each with its label.
        let all = parse(doc, Path::new("/data/labels/x.json"), &Classes::All).unwrap();
        assert_eq!(all.labels, vec!["face", "dog"]);
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(r#"{"shapes": []}"#, Path::new("a.json"), &Classes::All).unwrap_err();
        assert!(err.to_string().contains("imagePath"), "{err}");
        let doc =
            r#"{"imagePath": "a.jpg", "shapes": [{"label": "face", "shape_type": "rectangle", "points": [[1, 2]]}]}"#;
        let err = parse(doc, Path::new("a.json"), &Classes::All).unwrap_err();
        assert!(err.to_string().contains("shapes[0].points"), "{err}");
    }

    #[test]
    fn written_files_read_back() {
        let dir = std::env::temp_dir().join(format!("facecam-labelme-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let b = FaceBox { x0: 1.0, y0: 2.0, x1: 30.0, y1: 40.0, ignore: false };
        let sample =
            Sample { image: dir.join("img.png"), boxes: vec![b, b], labels: vec!["happy".into(), "sad".into()] };
        write_labelme(&sample, 64, 48, &dir.join("img.json")).unwrap();
        assert_eq!(load_labelme(&dir, &Classes::All).unwrap(), vec![sample]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
