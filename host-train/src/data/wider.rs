//! WIDER FACE (Yang et al., CVPR 2016) in its official layout:
//! `wider_face_split/wider_face_{split}_bbx_gt.txt` and `WIDER_{split}/images/…`.
//!
//! Each record is an image path, a face count, then one line per face:
//! `x y w h blur expression illumination invalid occlusion pose`. An image with no
//! faces still has one all-zero line.

use super::{FaceBox, Sample};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Load one split. Zero-size boxes are dropped; invalid-flagged ones become ignore regions.
pub fn load_wider(root: &Path, split: &str) -> Result<Vec<Sample>> {
    let gt = root.join("wider_face_split").join(format!("wider_face_{split}_bbx_gt.txt"));
    let text = edge::input::read_text(&gt, "a WIDER ground-truth file", edge::input::MAX_DATASET_BYTES)?;
    let images = root.join(format!("WIDER_{split}")).join("images");
    parse(&text, &images).with_context(|| format!("{}: malformed", gt.display()))
}

/// Parse the ground-truth text; image paths are resolved under `images`.
pub fn parse(text: &str, images: &Path) -> Result<Vec<Sample>> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    let mut samples = Vec::new();
    while let Some((no, name)) = lines.next() {
        if name.is_empty() {
            continue;
        }
        if !name.ends_with(".jpg") && !name.ends_with(".png") {
            bail!("line {no}: expected an image path, found `{name}`");
        }
        let (no, count) = lines.next().with_context(|| format!("line {no}: `{name}` has no face count"))?;
        let count: usize = count
            .parse()
            .with_context(|| format!("line {no}: face count `{count}` is not a whole number of 0 or more"))?;
        let mut boxes = Vec::new();
        // Zero faces are still followed by one placeholder line.
        for _ in 0..count.max(1) {
            let (no, line) = lines.next().with_context(|| match count {
                0 => format!("line {no}: `{name}` has 0 faces but not the all-zero line that must follow"),
                _ => format!("line {no}: `{name}` ends before its {count} faces"),
            })?;
            let v: Vec<f32> = line
                .split_whitespace()
                .map(|t| t.parse::<f32>().with_context(|| format!("line {no}: `{t}` is not a number")))
                .collect::<Result<_>>()?;
            if v.len() < 4 {
                bail!("line {no}: a face needs at least x y w h, found {} values", v.len());
            }
            if count == 0 {
                continue;
            }
            let (x, y, w, h) = (v[0], v[1], v[2], v[3]);
            if ![x, y, w, h].iter().all(|c| c.is_finite()) {
                bail!("line {no}: a face's x y w h must be finite numbers, found `{line}`");
            }
            if w <= 0.0 || h <= 0.0 {
                continue;
            }
            let invalid = v.get(7).is_some_and(|&f| f != 0.0);
            boxes.push(FaceBox::checked([x, y, x + w, y + h], invalid, None).with_context(|| format!("line {no}"))?);
        }
        samples.push(Sample::faces(images.join(name), boxes));
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GT: &str = "0--Parade/a.jpg\n2\n10 20 30 40 0 0 0 0 0 0 \n5 5 0 8 0 0 0 0 0 0 \n\
                      1--Handshaking/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \n\
                      2--Demo/c.jpg\n1\n1 2 3 4 0 0 0 1 0 0\n";

    #[test]
    fn parses_faces_zero_faces_zero_sizes_and_invalid_flags() {
        let s = parse(GT, Path::new("/imgs")).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].image, Path::new("/imgs/0--Parade/a.jpg"));
        assert_eq!(s[0].boxes, vec![FaceBox { x0: 10.0, y0: 20.0, x1: 40.0, y1: 60.0, ignore: false }]);
        assert!(s[1].boxes.is_empty());
        assert!(s[2].boxes[0].ignore);
    }

    #[test]
    fn non_finite_boxes_are_refused_naming_the_line() {
        for bad in ["NaN 2 3 4", "1 inf 3 4", "1 2 -inf 4"] {
            let text = format!("a/b.jpg\n1\n{bad} 0 0 0 0 0 0\n");
            let e = parse(&text, Path::new("/x")).unwrap_err().to_string();
            assert!(e.contains("line 3") && e.contains("finite"), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("a.jpg\n1\n1 2 x 4\n", Path::new("/")).unwrap_err();
        assert!(format!("{err:#}").contains("line 3"), "{err:#}");
        let err = parse("a.jpg\n2\n1 2 3 4\n", Path::new("/")).unwrap_err();
        assert!(format!("{err:#}").contains("ends before"), "{err:#}");
        let err = parse("a.jpg\n0\n", Path::new("/")).unwrap_err();
        assert!(format!("{err:#}").contains("0 faces but not the all-zero line"), "{err:#}");
        let err = parse("a.jpg\nmany\n", Path::new("/")).unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
