//! COCO object-detection JSON (as CVAT, Label Studio, Roboflow and labelme2coco export
//! it): `images[] {id, file_name}`, `annotations[] {image_id, category_id, bbox: [x, y,
//! w, h], iscrowd}`, `categories[] {id, name}`.
//!
//! `file_name` is resolved beside the JSON file, else in an `images/` folder beside it.
//! Crowd annotations become ignore regions; images without annotations are kept as
//! photos with no faces.

use super::classes::Classes;
use super::{FaceBox, Sample};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Load one COCO file, taking the boxes of the admitted categories as faces.
pub fn load_coco(file: &Path, classes: &Classes) -> Result<Vec<Sample>> {
    let text = edge::input::read_text(file, "a COCO file", edge::input::MAX_DATASET_BYTES)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    parse(&text, dir, classes).with_context(|| format!("{}: malformed COCO file", file.display()))
}

fn list<'a>(doc: &'a Value, field: &str) -> Result<&'a Vec<Value>> {
    doc.get(field).and_then(Value::as_array).with_context(|| format!("field `{field}` is missing or not a list"))
}

fn id(v: &Value, field: &str) -> Result<i64> {
    v.get(field).and_then(Value::as_i64).with_context(|| format!("`{field}` is missing or not an integer"))
}

/// Where an image named `name` is: beside the JSON, else under `images/`.
fn resolve(dir: &Path, name: &str) -> PathBuf {
    let name = name.replace('\\', "/");
    let beside = dir.join(&name);
    let under = dir.join("images").join(&name);
    if !beside.exists() && under.exists() {
        under
    } else {
        beside
    }
}

/// Parse a COCO document whose images live under `dir`.
pub fn parse(text: &str, dir: &Path, classes: &Classes) -> Result<Vec<Sample>> {
    let doc: Value = serde_json::from_str(text)?;
    let mut names = HashMap::new();
    for (i, c) in list(&doc, "categories")?.iter().enumerate() {
        let cid = id(c, "id").with_context(|| format!("field `categories[{i}]`"))?;
        let name = c.get("name").and_then(Value::as_str);
        let name = name.with_context(|| format!("field `categories[{i}].name` is missing or not a string"))?;
        names.insert(cid, name.to_string());
    }
    let mut samples = Vec::new();
    let mut index = HashMap::new();
    for (i, img) in list(&doc, "images")?.iter().enumerate() {
        let iid = id(img, "id").with_context(|| format!("field `images[{i}]`"))?;
        let name = img.get("file_name").and_then(Value::as_str);
        let name = name.with_context(|| format!("field `images[{i}].file_name` is missing or not a string"))?;
        if index.insert(iid, samples.len()).is_some() {
            bail!("field `images[{i}].id`: image id {iid} appears twice");
        }
        samples.push(Sample { image: resolve(dir, name), boxes: vec![], labels: vec![] });
    }
    for (i, ann) in list(&doc, "annotations")?.iter().enumerate() {
        let at = |f: &str| format!("field `annotations[{i}].{f}`");
        let iid = id(ann, "image_id").with_context(|| at("image_id"))?;
        let cid = id(ann, "category_id").with_context(|| at("category_id"))?;
        let &slot = index.get(&iid).with_context(|| format!("{}: no image has id {iid}", at("image_id")))?;
        let name = names.get(&cid).with_context(|| format!("{}: no category has id {cid}", at("category_id")))?;
        if !classes.admits(name) {
            continue;
        }
        let bbox = ann.get("bbox").and_then(Value::as_array);
        let v: Option<Vec<f64>> = bbox.filter(|b| b.len() == 4).and_then(|b| b.iter().map(Value::as_f64).collect());
        let Some(v) = v.filter(|v| v.iter().all(|x| x.is_finite())) else {
            bail!("{}: expected [x, y, width, height], four finite numbers", at("bbox"));
        };
        if v[2] < 0.0 || v[3] < 0.0 {
            bail!("{}: negative width or height in {v:?}", at("bbox"));
        }
        if v[2] == 0.0 || v[3] == 0.0 {
            continue;
        }
        let crowd = ann.get("iscrowd").and_then(Value::as_i64).unwrap_or(0) != 0;
        let (x, y, w, h) = (v[0] as f32, v[1] as f32, v[2] as f32, v[3] as f32);
        let b = FaceBox::checked([x, y, x + w, y + h], crowd, None).with_context(|| at("bbox"))?;
        let s = &mut samples[slot];
        s.boxes.push(b);
        s.labels.push(name.clone());
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
      "images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48},
                 {"id": 8, "file_name": "sub\\b.jpg"}],
      "annotations": [
        {"id": 1, "image_id": 7, "category_id": 2, "bbox": [1, 2, 10, 20], "iscrowd": 0},
        {"id": 2, "image_id": 7, "category_id": 3, "bbox": [5, 5, 4, 4], "iscrowd": 1},
        {"id": 3, "image_id": 7, "category_id": 9, "bbox": [0, 0, 3, 3]},
        {"id": 4, "image_id": 7, "category_id": 2, "bbox": [0, 0, 0, 3]}],
      "categories": [{"id": 2, "name": "happy"}, {"id": 3, "name": "sad"}, {"id": 9, "name": "car"}]}"#;

    #[test]
    fn reads_boxes_labels_crowds_and_empty_images() {
        let only = Classes::Only(vec!["happy".into(), "sad".into()]);
        let s = parse(DOC, Path::new("/d"), &only).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].image, Path::new("/d/a.jpg"));
        assert_eq!(s[1].image, Path::new("/d/sub/b.jpg"));
        let face = FaceBox { x0: 1.0, y0: 2.0, x1: 11.0, y1: 22.0, ignore: false };
        let crowd = FaceBox { x0: 5.0, y0: 5.0, x1: 9.0, y1: 9.0, ignore: true };
        assert_eq!(s[0].boxes, vec![face, crowd]);
        assert_eq!(s[0].labels, vec!["happy", "sad"]);
        assert!(s[1].boxes.is_empty());
        let all = parse(DOC, Path::new("/d"), &Classes::All).unwrap();
        assert_eq!(all[0].labels, vec!["happy", "sad", "car"]);
    }

    #[test]
    fn errors_name_the_field() {
        for (from, to, says) in [
            (r#""bbox": [1, 2, 10, 20]"#, r#""bbox": [1, 2, 10]"#, "annotations[0].bbox"),
            (r#""bbox": [1, 2, 10, 20]"#, r#""bbox": [1, 2, -10, 20]"#, "negative"),
            (
                r#""image_id": 7, "category_id": 2, "bbox": [1"#,
                r#""image_id": 70, "category_id": 2, "bbox": [1"#,
                "no image has id 70",
            ),
            (r#""category_id": 9"#, r#""category_id": 99"#, "no category has id 99"),
            (r#"{"id": 8, "file_name": "sub\\b.jpg"}"#, r#"{"id": 7, "file_name": "c.jpg"}"#, "appears twice"),
            (r#""name": "sad""#, r#""name": 3"#, "categories[1].name"),
            (r#""file_name": "a.jpg""#, r#""file": "a.jpg""#, "images[0].file_name"),
        ] {
            assert!(DOC.contains(from), "{from}");
            let err = format!("{:#}", parse(&DOC.replace(from, to), Path::new("/d"), &Classes::All).unwrap_err());
            assert!(err.contains(says), "{says}: {err}");
        }
        let err = parse(r#"{"images": []}"#, Path::new("/d"), &Classes::All).unwrap_err().to_string();
        assert!(err.contains("categories"), "{err}");
    }
}
