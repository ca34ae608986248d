//! YOLO txt labels (Darknet, Ultralytics, CVAT and Roboflow export them): one `.txt` per
//! image, one `class cx cy w h` line per box, all normalised to [0, 1], and a class-names
//! file with one name per line (`classes.txt`, `obj.names` or `names.txt`).
//!
//! Layouts: `DIR/images/…` with `DIR/labels/…` mirroring it (Ultralytics), or each
//! `.txt` beside its image (Darknet). An image without a label file has no faces.

use super::classes::Classes;
use super::{list_images, FaceBox, Sample};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The class-names files looked for, in order.
pub const NAME_FILES: [&str; 3] = ["classes.txt", "obj.names", "names.txt"];

/// Load a YOLO directory, taking the boxes of the admitted classes as faces.
pub fn load_yolo(dir: &Path, classes: &Classes) -> Result<Vec<Sample>> {
    let names_file = NAME_FILES.iter().map(|n| dir.join(n)).find(|p| p.is_file()).with_context(|| {
        format!("{}: no class-names file (one of {}), one class name per line", dir.display(), NAME_FILES.join(", "))
    })?;
    let text = edge::input::read_text(&names_file, "a class-names file", edge::input::MAX_TEXT_BYTES)?;
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    if names.is_empty() {
        bail!("{}: no class names", names_file.display());
    }
    let images_dir = dir.join("images");
    let (root, ultralytics) = if images_dir.is_dir() { (images_dir, true) } else { (dir.to_path_buf(), false) };
    let images = list_images(&root)?;
    if images.is_empty() {
        bail!("{}: no images ({})", root.display(), edge::source::files::IMAGE_EXTENSIONS.join(", "));
    }
    let mut samples = Vec::with_capacity(images.len());
    for image in images {
        let label = if ultralytics {
            let rel = image.strip_prefix(&root).expect("listed under root");
            dir.join("labels").join(rel).with_extension("txt")
        } else {
            image.with_extension("txt")
        };
        let mut sample = Sample { image, boxes: vec![], labels: vec![] };
        if label.is_file() {
            let text = edge::input::read_text(&label, "a YOLO label file", edge::input::MAX_TEXT_BYTES)?;
            // YOLO boxes are fractions of the picture as shown (EXIF orientation applied).
            let (w, h) = edge::source::decode::read_size(&sample.image).with_context(|| {
                format!("{}: cannot read the image's size for {}", sample.image.display(), label.display())
            })?;
            parse(&text, (w as f32, h as f32), &names, classes, &mut sample)
                .with_context(|| format!("{}: malformed YOLO label file", label.display()))?;
        }
        samples.push(sample);
    }
    Ok(samples)
}

/// Parse one label file for an image of `size` pixels into `sample`.
pub fn parse(text: &str, size: (f32, f32), names: &[String], classes: &Classes, sample: &mut Sample) -> Result<()> {
    for (no, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 5 {
            bail!(
                "line {no}: expected `class cx cy w h`, found {} fields (polygon labels are not boxes)",
                fields.len()
            );
        }
        let class: usize =
            fields[0].parse().with_context(|| format!("line {no}: class `{}` is not an index", fields[0]))?;
        let name = names.get(class).with_context(|| {
            format!("line {no}: class {class} is out of range: the names file has {} classes", names.len())
        })?;
        let mut v = [0f32; 4];
        for (slot, (field, what)) in v.iter_mut().zip(fields[1..].iter().zip(["cx", "cy", "w", "h"])) {
            *slot = field
                .parse::<f32>()
                .ok()
                .filter(|x| (-1e-3..=1.0 + 1e-3).contains(x))
                .with_context(|| format!("line {no}: {what} `{field}` is not a number in [0, 1]"))?;
        }
        if !classes.admits(name) || v[2] <= 0.0 || v[3] <= 0.0 {
            continue;
        }
        let (cx, cy, w, h) = (v[0] * size.0, v[1] * size.1, v[2] * size.0, v[3] * size.1);
        let corners = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
        let b = FaceBox::checked(corners, false, Some((size.0 as u32, size.1 as u32)))
            .with_context(|| format!("line {no}"))?;
        sample.boxes.push(b);
        sample.labels.push(name.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["happy".into(), "sad".into()]
    }

    #[test]
    fn denormalises_boxes_and_keeps_labels() {
        let mut s = Sample { image: "x.jpg".into(), boxes: vec![], labels: vec![] };
        parse("0 0.5 0.5 0.25 0.5\n\n1 0.1 0.1 0.1 0.1\n", (200.0, 100.0), &names(), &Classes::All, &mut s).unwrap();
        assert_eq!(s.boxes[0], FaceBox { x0: 75.0, y0: 25.0, x1: 125.0, y1: 75.0, ignore: false });
        assert_eq!(s.labels, vec!["happy", "sad"]);
        let mut only_sad = Sample { image: "x.jpg".into(), boxes: vec![], labels: vec![] };
        parse(
            "0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.1 0.1",
            (200.0, 100.0),
            &names(),
            &Classes::Only(vec!["sad".into()]),
            &mut only_sad,
        )
        .unwrap();
        assert_eq!(only_sad.labels, vec!["sad"]);
    }

    #[test]
    fn errors_name_the_line_and_field() {
        for (text, says) in [
            ("0 0.5 0.5 0.25\n", "line 1: expected `class cx cy w h`, found 4"),
            ("\n2 0.5 0.5 0.2 0.2", "line 2: class 2 is out of range"),
            ("x 0.5 0.5 0.2 0.2", "class `x` is not an index"),
            ("0 0.5 1.5 0.2 0.2", "cy `1.5` is not a number in [0, 1]"),
            ("0 0.5 0.5 NaN 0.2", "w `NaN`"),
        ] {
            let mut s = Sample { image: "x.jpg".into(), boxes: vec![], labels: vec![] };
            let err = parse(text, (10.0, 10.0), &names(), &Classes::All, &mut s).unwrap_err().to_string();
            assert!(err.contains(says), "{says}: {err}");
        }
    }

    #[test]
    fn reads_both_layouts_from_disk() {
        let root = std::env::temp_dir().join(format!("facecam-yolo-{}", std::process::id()));
        let img = image::RgbImage::new(40, 20);
        for ultralytics in [true, false] {
            let dir = root.join(if ultralytics { "u" } else { "d" });
            let (imgs, labels) =
                if ultralytics { (dir.join("images/a"), dir.join("labels/a")) } else { (dir.clone(), dir.clone()) };
            std::fs::create_dir_all(&imgs).unwrap();
            std::fs::create_dir_all(&labels).unwrap();
            let err = load_yolo(&dir, &Classes::All).unwrap_err().to_string();
            assert!(err.contains("classes.txt"), "{err}");
            std::fs::write(dir.join("obj.names"), "happy\nsad\n").unwrap();
            img.save(imgs.join("one.png")).unwrap();
            img.save(imgs.join("none.png")).unwrap();
            std::fs::write(labels.join("one.txt"), "1 0.5 0.5 0.5 0.5\n").unwrap();
            let s = load_yolo(&dir, &Classes::All).unwrap();
            assert_eq!(s.len(), 2);
            assert_eq!((s[0].image.file_name().unwrap(), s[0].boxes.len()), (std::ffi::OsStr::new("none.png"), 0));
            assert_eq!(s[1].boxes, vec![FaceBox { x0: 10.0, y0: 5.0, x1: 30.0, y1: 15.0, ignore: false }]);
            assert_eq!(s[1].labels, vec!["sad"]);
            std::fs::write(labels.join("one.txt"), "1 0.5 0.5 0.5\n").unwrap();
            let err = format!("{:#}", load_yolo(&dir, &Classes::All).unwrap_err());
            assert!(err.contains("one.txt") && err.contains("line 1"), "{err}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
