//! Face crops sorted into one folder per class, `DIR/CLASS/*.jpg`: each file is one face,
//! labelled by its folder (how expression and identity sets are usually shared, and what
//! `facecam capture --crops --class NAME` collects).

use super::classes::Classes;
use super::{list_images, FaceBox, Sample};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Load every crop under `dir`'s class folders (sorted), each a sample whose one box is
/// the whole image.
pub fn load_crops(dir: &Path, classes: &Classes) -> Result<Vec<Sample>> {
    let mut folders: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the class folders", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let mut samples = Vec::new();
    for folder in &folders {
        let class = folder.file_name().and_then(|n| n.to_str());
        let class = class.with_context(|| format!("{}: class folder name is not UTF-8", folder.display()))?;
        if !classes.admits(class) {
            continue;
        }
        for image in list_images(folder)? {
            // As the loader will see it (EXIF orientation applied).
            let (w, h) = edge::source::decode::read_size(&image)
                .with_context(|| format!("{}: cannot read the crop's size", image.display()))?;
            let whole = FaceBox::checked([0.0, 0.0, w as f32, h as f32], false, Some((w, h)))?;
            samples.push(Sample { image, boxes: vec![whole], labels: vec![class.to_string()] });
        }
    }
    if samples.is_empty() {
        bail!("{}: no face crops in class folders (expected DIR/CLASS/*.jpg)", dir.display());
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_folders() {
        let dir = std::env::temp_dir().join(format!("facecam-crops-{}", std::process::id()));
        let err = load_crops(&dir, &Classes::All).unwrap_err().to_string();
        assert!(err.contains("cannot list"), "{err}");
        for (class, n) in [("mask", 2), ("no_mask", 1)] {
            std::fs::create_dir_all(dir.join(class)).unwrap();
            for i in 0..n {
                image::RgbImage::new(30 + i, 40).save(dir.join(class).join(format!("p{i}-face0.png"))).unwrap();
            }
        }
        std::fs::write(dir.join("README.txt"), "not a class").unwrap();
        let s = load_crops(&dir, &Classes::All).unwrap();
        let got: Vec<_> = s.iter().map(|s| (s.labels[0].as_str(), s.boxes[0].x1)).collect();
        assert_eq!(got, vec![("mask", 30.0), ("mask", 31.0), ("no_mask", 30.0)]);
        let only = load_crops(&dir, &Classes::Only(vec!["no_mask".into()])).unwrap();
        assert_eq!(only.len(), 1);
        std::fs::write(dir.join("mask").join("broken.jpg"), b"not a jpeg").unwrap();
        let err = format!("{:#}", load_crops(&dir, &Classes::All).unwrap_err());
        assert!(err.contains("broken.jpg"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
