//! Pascal VOC XML: `annotations/*.xml` beside `images/`, one `<object>` per box.

use super::classes::Classes;
use super::{FaceBox, Sample};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The face-mask set's classes: every one of them is a face.
pub fn default_classes() -> Vec<String> {
    [
        "face",
        "con_mascarilla",
        "sin_mascarilla",
        "mascarilla_incorrecta",
        "mascarilla_mal_puesta",
        "with_mask",
        "without_mask",
        "mask_weared_incorrect",
    ]
    .map(String::from)
    .to_vec()
}

/// Load `root/annotations/*.xml`; images are looked up in `root/images` by `<filename>`.
pub fn load_voc(root: &Path, classes: &Classes) -> Result<Vec<Sample>> {
    let ann = root.join("annotations");
    let mut files: Vec<_> = std::fs::read_dir(&ann)
        .with_context(|| format!("{}: cannot list VOC annotations", ann.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = edge::input::read_text(f, "a VOC file", edge::input::MAX_TEXT_BYTES)?;
            parse(&text, &root.join("images"), classes).with_context(|| format!("{}: malformed VOC file", f.display()))
        })
        .collect()
}

/// The first child element of `n` named `tag`.
fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(tag))
}

/// Parse one VOC annotation; `images` is where its `<filename>` lives. Objects of the
/// admitted classes are faces, labelled with their `<name>`.
pub fn parse(text: &str, images: &Path, classes: &Classes) -> Result<Sample> {
    // roxmltree recurses once per level: a deep file would overflow the stack.
    edge::input::nesting::check_xml(text)?;
    let doc = roxmltree::Document::parse(text)?;
    let root = doc.root_element();
    let filename = child(root, "filename").and_then(|n| n.text()).context("element <filename> is missing")?;
    let (mut boxes, mut labels) = (Vec::new(), Vec::new());
    for (i, obj) in root.children().filter(|c| c.has_tag_name("object")).enumerate() {
        let name = child(obj, "name").and_then(|n| n.text()).unwrap_or("").trim();
        if !classes.admits(name) {
            continue;
        }
        let bnd = child(obj, "bndbox").with_context(|| format!("object {i} (`{name}`): no <bndbox>"))?;
        let mut v = [0f32; 4];
        for (slot, tag) in v.iter_mut().zip(["xmin", "ymin", "xmax", "ymax"]) {
            let t = child(bnd, tag).and_then(|n| n.text()).map(str::trim);
            *slot = t
                .and_then(|t| t.parse::<f32>().ok())
                .filter(|v| v.is_finite())
                .with_context(|| format!("object {i} (`{name}`): <{tag}> is missing or not a finite number"))?;
        }
        if v[2] < v[0] || v[3] < v[1] {
            bail!("object {i} (`{name}`): max corner {:?} is before min corner {:?}", &v[2..], &v[..2]);
        }
        if v[2] > v[0] && v[3] > v[1] {
            boxes.push(FaceBox::checked(v, false, None).with_context(|| format!("object {i} (`{name}`)"))?);
            labels.push(name.to_string());
        }
    }
    Ok(Sample { image: images.join(filename.trim()), boxes, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<annotation><filename>m1.png</filename>\
        <object><name>with_mask</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>11</xmax><ymax>22</ymax></bndbox></object>\
        <object><name>car</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>\
        </annotation>";

    #[test]
    fn keeps_only_face_classes() {
        let s = parse(XML, Path::new("/i"), &Classes::Only(default_classes())).unwrap();
        assert_eq!(s.image, Path::new("/i/m1.png"));
        assert_eq!(s.boxes, vec![FaceBox { x0: 1.0, y0: 2.0, x1: 11.0, y1: 22.0, ignore: false }]);
        assert_eq!(s.labels, vec!["with_mask"]);
        assert_eq!(parse(XML, Path::new("/i"), &Classes::All).unwrap().labels, vec!["with_mask", "car"]);
    }

    #[test]
    fn errors_name_the_object_and_field() {
        let bad = XML.replace("<ymax>22</ymax>", "<ymax>x</ymax>");
        let err = parse(&bad, Path::new("/i"), &Classes::All).unwrap_err();
        assert!(err.to_string().contains("object 0") && err.to_string().contains("ymax"), "{err}");
        assert!(parse("<annotation/>", Path::new("/"), &Classes::All).unwrap_err().to_string().contains("filename"));
    }

    #[test]
    fn deep_nesting_and_overflowing_boxes_are_refused() {
        // 30,000 levels (~150 kB) overflowed the stack (exit 134) before the depth check.
        let deep = "<annotation>".to_string() + &"<a>".repeat(30_000) + &"</a>".repeat(30_000) + "</annotation>";
        let err = parse(&deep, Path::new("/i"), &Classes::All).unwrap_err().to_string();
        assert_eq!(err, "XML nested deeper than 256 elements");
        let huge = XML.replace("<xmax>11</xmax>", "<xmax>3e38</xmax>");
        let err = format!("{:#}", parse(&huge, Path::new("/i"), &Classes::All).unwrap_err());
        assert_eq!(err, "object 0 (`with_mask`): box corner x1 = 3e38 lies beyond 16 picture sides (1048576 px)");
    }
}
