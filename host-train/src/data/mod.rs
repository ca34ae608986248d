//! Labelled photos from the formats people actually have, in one shape: a list of
//! [`Sample`]s, each an image path and its face boxes in pixels, with each box's class
//! name where the source has classes.
//!
//! - [`source`]: `KIND:PATH[@OPTION]…` specs and what each kind loads, with the
//!   [`classes`] each takes;
//! - one importer per format: [`wider`], [`labelme`], [`voc`], [`coco`], [`yolo`],
//!   [`crops`] (one face per file, for classifiers), plus [`synth`]etic faces;
//! - [`split`]: a deterministic train/val/test split by content for sources without one.
//!
//! Importers refuse malformed files with an error naming the file and the line or field.

pub mod classes;
pub mod coco;
pub mod crops;
pub mod labelme;
pub mod source;
pub mod split;
pub mod synth;
pub mod voc;
pub mod wider;
pub mod yolo;

pub use classes::Classes;
pub use labelme::{load_labelme, write_labelme};
pub use source::{Format, Source};
pub use synth::{generate as generate_synthetic, SynthOptions};
pub use voc::load_voc;
pub use wider::load_wider;

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// A face box in image pixels. `ignore` marks regions that are neither positives nor
/// negatives (too small, or flagged invalid in the source).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
    /// An ignore region: neither taught as a face nor as background.
    pub ignore: bool,
}

impl FaceBox {
    /// Width in pixels.
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }
    /// Height in pixels.
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }
    /// Whether the box encloses any area (crops can clip a face to a line).
    pub fn has_area(&self) -> bool {
        self.width() > 0.0 && self.height() > 0.0
    }
    /// A box from its corners as an importer computed them (`x + w` may have overflowed,
    /// an f64 may have become an infinite f32), checked: every corner finite and within
    /// 16 picture sides of the origin (of `size` when the importer knows the picture's,
    /// else of [`MAX_SIDE`]). Boxes beyond would train with a box loss of 0 and break
    /// drawing; the importer adds the file and line or field to the error.
    pub fn checked(corners: [f32; 4], ignore: bool, size: Option<(u32, u32)>) -> Result<Self> {
        let side = size.map_or(MAX_SIDE, |(w, h)| w.max(h).max(1));
        let limit = 16.0 * side as f32;
        let named = || corners.iter().zip(["x0", "y0", "x1", "y1"]);
        if let Some((v, name)) = named().find(|(v, _)| !v.is_finite()) {
            bail!("box corner {name} = {v:?} is not a finite number");
        }
        for (v, name) in named() {
            if v.abs() > limit {
                bail!("box corner {name} = {v:?} lies beyond 16 picture sides ({limit} px)");
            }
        }
        let [x0, y0, x1, y1] = corners;
        Ok(FaceBox { x0, y0, x1, y1, ignore })
    }
    /// The box as the model contract's [`BBox`](edge::model::BBox), scaled by `(sx, sy)`
    /// (1, 1 for image pixels).
    pub fn bbox(&self, sx: f32, sy: f32) -> edge::model::BBox {
        edge::model::BBox::new(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy)
    }
}

/// The largest picture side assumed where an importer does not read the picture's size
/// (the image crate's decoders stop at 65,535).
pub const MAX_SIDE: u32 = 65_536;

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The image file.
    pub image: PathBuf,
    /// Its labelled faces and ignore regions, in image pixels.
    pub boxes: Vec<FaceBox>,
    /// The class name of each box, in order; empty when the source has no classes
    /// (every box is a `face`).
    pub labels: Vec<String>,
}

impl Sample {
    /// A sample whose boxes are all plain faces.
    pub fn faces(image: PathBuf, boxes: Vec<FaceBox>) -> Self {
        Sample { image, boxes, labels: Vec::new() }
    }

    /// The class name of box `i` (`face` where the source has no classes).
    pub fn label(&self, i: usize) -> &str {
        self.labels.get(i).map_or(labelme::FACE_LABEL, String::as_str)
    }
}

/// The data sources of a run (`KIND:PATH[@option]`, space-separated, as the trainer
/// records them) with each path cut to its last component, so a model card names its
/// data (`wider:widerface-subset@train`) without the paths of the machine it came from.
pub fn describe_sources(data: &str) -> String {
    (data.split_whitespace())
        .map(|spec| match spec.split_once(':') {
            Some((kind, rest)) => {
                let (path, option) = rest.split_once('@').map_or((rest, None), |(p, o)| (p, Some(o)));
                let name =
                    Path::new(path.trim_end_matches('/')).file_name().map_or(path.into(), |n| n.to_string_lossy());
                option.map_or(format!("{kind}:{name}"), |o| format!("{kind}:{name}@{o}"))
            }
            None => spec.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Leave out the samples whose image file name is listed in `list` (one name per line;
/// blank lines and `#` comments skipped), e.g. photos held out for testing. Returns how
/// many were left out; a listed name that matches nothing is an error naming the line,
/// so a typo cannot silently keep a held-out photo in training.
pub fn exclude_listed(samples: &mut Vec<Sample>, list: &Path) -> Result<usize> {
    filter_listed(samples, list, false)
}

/// Keep only the samples listed in `list` (the held-out photos, to evaluate on them);
/// see [`exclude_listed`]. Returns how many were left out.
pub fn keep_listed(samples: &mut Vec<Sample>, list: &Path) -> Result<usize> {
    filter_listed(samples, list, true)
}

/// Leave out the samples listed in `list` like [`exclude_listed`], but without requiring
/// every listed name to be present (a split part holds only some of them). Returns how
/// many were left out.
pub fn drop_listed(samples: &mut Vec<Sample>, list: &Path) -> Result<usize> {
    let names: Vec<String> = read_list(list)?.into_iter().map(|(_, n)| n).collect();
    let before = samples.len();
    samples.retain(|s| !names.contains(&file_name(s)));
    Ok(before - samples.len())
}

/// The names in a list file with their line numbers (blank lines and `#` comments skipped).
fn read_list(list: &Path) -> Result<Vec<(usize, String)>> {
    let text = edge::input::read_text(list, "a list file", edge::input::MAX_TEXT_BYTES)?;
    Ok((text.lines().enumerate())
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim().to_string()))
        .filter(|(_, l)| !l.is_empty())
        .collect())
}

fn file_name(s: &Sample) -> String {
    s.image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn filter_listed(samples: &mut Vec<Sample>, list: &Path, keep: bool) -> Result<usize> {
    let names = read_list(list)?;
    for (line, name) in &names {
        if !samples.iter().any(|s| file_name(s) == *name) {
            bail!("{}: line {line}: `{name}` is not among the training images", list.display());
        }
    }
    let before = samples.len();
    samples.retain(|s| names.iter().any(|(_, n)| *n == file_name(s)) == keep);
    Ok(before - samples.len())
}

/// Every picture under `dir`, recursively, sorted (by the extensions `facecam detect`
/// takes; symlinked folders are not walked into).
fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    edge::source::files::images_in(dir, true)
}

/// Resolve `rel` against the directory holding `file`.
fn beside(file: &Path, rel: &str) -> PathBuf {
    file.parent().unwrap_or(Path::new(".")).join(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_photos_are_left_out_and_unknown_names_refused() {
        let dir = std::env::temp_dir().join(format!("facecam-exclude-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sample = |n: &str| Sample::faces(dir.join(n), vec![]);
        let mut samples = vec![sample("a.jpg"), sample("b.jpg"), sample("c.jpg")];
        let list = dir.join("holdout.txt");
        std::fs::write(&list, "# held out\nb.jpg\n\nc.jpg  # the street\n").unwrap();
        assert_eq!(exclude_listed(&mut samples, &list).unwrap(), 2);
        assert_eq!(samples, vec![sample("a.jpg")]);
        let mut all = vec![sample("a.jpg"), sample("b.jpg"), sample("c.jpg")];
        std::fs::write(&list, "c.jpg\n").unwrap();
        assert_eq!((keep_listed(&mut all, &list).unwrap(), all), (2, vec![sample("c.jpg")]));
        std::fs::write(&list, "a.jpg\nzz.jpg\n").unwrap();
        let err = exclude_listed(&mut samples, &list).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("zz.jpg"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn boxes_whose_corners_overflow_are_refused_naming_the_field() {
        let coco = r#"{"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "face"}],
            "annotations": [{"image_id": 1, "category_id": 1, "bbox": [3e38, 0, 3e38, 5]}]}"#;
        let err = format!("{:#}", coco::parse(coco, Path::new("/d"), &Classes::All).unwrap_err());
        assert_eq!(err, "field `annotations[0].bbox`: box corner x1 = inf is not a finite number");
        let wider = "a.jpg\n1\n3e38 2 3e38 3 0 0 0 0 0 0\n";
        let err = format!("{:#}", wider::parse(wider, Path::new("/d")).unwrap_err());
        assert_eq!(err, "line 3: box corner x1 = inf is not a finite number");
        let labelme = r#"{"imagePath": "a.jpg", "shapes": [
            {"label": "face", "shape_type": "rectangle", "points": [[0, 0], [1e300, 5]]}]}"#;
        let err = format!("{:#}", labelme::parse(labelme, Path::new("a.json"), &Classes::All).unwrap_err());
        assert_eq!(err, "field `shapes[0].points`: box corner x1 = inf is not a finite number");
        let err = FaceBox::checked([0.0, 0.0, 20_000.0, 5.0], false, Some((640, 480))).unwrap_err().to_string();
        assert_eq!(err, "box corner x1 = 20000.0 lies beyond 16 picture sides (10240 px)");
        assert!(FaceBox::checked([-9000.0, 0.0, 10_000.0, 5.0], false, Some((640, 480))).is_ok());
    }

    #[test]
    fn deeply_nested_json_is_an_error_in_every_json_importer() {
        for deep in ["[".repeat(100_000), "{\"imagePath\": ".to_string() + &"[".repeat(100_000)] {
            let err = labelme::parse(&deep, Path::new("a.json"), &Classes::All).unwrap_err().to_string();
            assert!(err.contains("recursion limit exceeded"), "{err}");
            let err = coco::parse(&deep, Path::new("/d"), &Classes::All).unwrap_err().to_string();
            assert!(err.contains("recursion limit exceeded"), "{err}");
            let dir = std::env::temp_dir().join(format!("facecam-deep-json-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("meta.json"), &deep).unwrap();
            // A typed reader stops at the first wrong token or at the limit: an error either way.
            let err = format!("{:#}", crate::checkpoint::read_meta(&dir).unwrap_err());
            assert!(err.contains("meta.json: malformed checkpoint metadata: "), "{err}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn described_sources_keep_no_machine_paths() {
        let d = describe_sources(
            "wider:/root/shared/data/widerface-subset@train voc:../shared/data/face-mask/ labelme:caps coco:/a/b.json@x,y@test",
        );
        assert_eq!(d, "wider:widerface-subset@train voc:face-mask labelme:caps coco:b.json@x,y@test");
    }
}
