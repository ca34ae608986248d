//! Where labelled photos come from, as written on the command line:
//! `KIND:PATH[@OPTION]…`, e.g. `voc:face-mask@test`, `coco:ann.json@happy,sad@train=80/10/10`.
//!
//! An option is a split (`train`, `val` or `test`, optionally `=TRAIN/VAL/TEST` percent;
//! for WIDER its official split) or a class list (comma-separated names, `*` for all).

use super::classes::Classes;
use super::split::{Part, Split};
use super::{coco, crops, labelme, voc, wider, yolo, Sample};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// The kinds of source, with their path.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// WIDER FACE layout at a root, one official split (`train` or `val`).
    Wider {
        /// The folder holding `WIDER_train`, `WIDER_val` and `wider_face_split`.
        root: PathBuf,
        /// `train` or `val`.
        split: String,
    },
    /// A directory of labelme JSON files.
    Labelme(PathBuf),
    /// A directory with `annotations/*.xml` (Pascal VOC) and `images/`.
    Voc(PathBuf),
    /// One COCO JSON file (`images`, `annotations`, `categories`).
    Coco(PathBuf),
    /// A YOLO directory: `images/` and `labels/` (or both side by side) and a class-names file.
    Yolo(PathBuf),
    /// Face crops sorted into one folder per class: `DIR/CLASS/*.jpg`, each file one face.
    Crops(PathBuf),
}

/// A source of labelled photos: its format, the classes taken, and (for sources without
/// an official split) the part of a deterministic split to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The kind of source and where it is.
    pub format: Format,
    /// Which labelled classes are taken.
    pub classes: Classes,
    /// The part of a deterministic split to keep; `None` keeps every photo.
    pub split: Option<Split>,
}

const KINDS: &str = "wider, labelme, voc, coco, yolo, crops";

impl Source {
    /// Parse `KIND:PATH[@OPTION]…` (see the module docs).
    pub fn parse(spec: &str) -> Result<Self> {
        let Some((kind, rest)) = spec.split_once(':') else {
            bail!("data source `{spec}` is not KIND:PATH (kinds: {KINDS})");
        };
        let mut parts = rest.split('@');
        let path = PathBuf::from(parts.next().unwrap_or_default());
        if path.as_os_str().is_empty() {
            bail!("data source `{spec}` has no path");
        }
        let (mut split, mut classes) = (None, None);
        for option in parts {
            if Part::parse(option.split('=').next().unwrap_or_default()).is_some() {
                if split.replace(option).is_some() {
                    bail!("data source `{spec}` names more than one split");
                }
            } else if option.contains('=') {
                bail!(
                    "data source `{spec}`: `@{option}` is neither a split (`train=70/15/15`: the part kept, then \
                     TRAIN/VAL/TEST percent) nor a class list (class names have no `=`)"
                );
            } else if classes.replace(option).is_some() {
                bail!("data source `{spec}` has two class lists (or a split that is not train, val or test)");
            } else if option.is_empty() || option.split(',').any(str::is_empty) {
                bail!("data source `{spec}`: empty class name in `@{option}`");
            }
        }
        let class_list = |default: Classes| match classes {
            None => default,
            Some("*") => Classes::All,
            Some(list) => Classes::Only(list.split(',').map(str::to_string).collect()),
        };
        let format = match kind {
            "wider" => {
                if classes.is_some() {
                    bail!("data source `{spec}`: WIDER FACE has no classes to choose");
                }
                let official = split.take().unwrap_or("train");
                if official.contains('=') {
                    bail!("data source `{spec}`: WIDER FACE's splits are official, their fractions fixed");
                }
                Format::Wider { root: path, split: official.to_string() }
            }
            "labelme" => Format::Labelme(path),
            "voc" => Format::Voc(path),
            "coco" => Format::Coco(path),
            "yolo" => Format::Yolo(path),
            "crops" => Format::Crops(path),
            other => bail!("unknown data source kind `{other}` in `{spec}` (kinds: {KINDS})"),
        };
        let classes = match format {
            Format::Wider { .. } => Classes::All,
            Format::Labelme(_) => class_list(Classes::Only(vec![labelme::FACE_LABEL.into()])),
            Format::Voc(_) => class_list(Classes::Only(voc::default_classes())),
            _ => class_list(Classes::All),
        };
        let split = split.map(Split::parse).transpose().with_context(|| format!("data source `{spec}`"))?;
        Ok(Source { format, classes, split })
    }

    /// Load every sample of this source (of its split part, when it names one).
    pub fn load(&self) -> Result<Vec<Sample>> {
        let samples = match &self.format {
            Format::Wider { root, split } => wider::load_wider(root, split)?,
            Format::Labelme(dir) => labelme::load_labelme(dir, &self.classes)?,
            Format::Voc(root) => voc::load_voc(root, &self.classes)?,
            Format::Coco(file) => coco::load_coco(file, &self.classes)?,
            Format::Yolo(dir) => yolo::load_yolo(dir, &self.classes)?,
            Format::Crops(dir) => crops::load_crops(dir, &self.classes)?,
        };
        match &self.split {
            Some(split) => split.keep(samples),
            None => Ok(samples),
        }
    }

    /// Whether each sample is one face crop (such a source trains a classifier, not a
    /// detector: it holds no background).
    pub fn is_crops(&self) -> bool {
        matches!(self.format, Format::Crops(_))
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, path) = match &self.format {
            Format::Wider { root, split } => return write!(f, "wider:{}@{split}", root.display()),
            Format::Labelme(p) => ("labelme", p),
            Format::Voc(p) => ("voc", p),
            Format::Coco(p) => ("coco", p),
            Format::Yolo(p) => ("yolo", p),
            Format::Crops(p) => ("crops", p),
        };
        write!(f, "{kind}:{}@{}", path.display(), self.classes)?;
        if let Some(split) = &self.split {
            write!(f, "@{split}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(names: &[&str]) -> Classes {
        Classes::Only(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn parses_kinds_classes_and_splits() {
        let s = Source::parse("wider:/d@val").unwrap();
        assert_eq!(s.format, Format::Wider { root: "/d".into(), split: "val".into() });
        assert_eq!(
            Source::parse("wider:/d").unwrap().format,
            Format::Wider { root: "/d".into(), split: "train".into() }
        );
        let s = Source::parse("labelme:x").unwrap();
        assert_eq!((s.format, s.classes, s.split), (Format::Labelme("x".into()), only(&["face"]), None));
        let s = Source::parse("voc:v@a,b").unwrap();
        assert_eq!((s.format, s.classes), (Format::Voc("v".into()), only(&["a", "b"])));
        let s = Source::parse("coco:a.json@test").unwrap();
        assert_eq!((s.classes, s.split.unwrap().to_string()), (Classes::All, "test=70/15/15".to_string()));
        let s = Source::parse("yolo:y@happy,sad@train=80/10/10").unwrap();
        assert_eq!((s.classes, s.split.unwrap().to_string()), (only(&["happy", "sad"]), "train=80/10/10".into()));
        assert_eq!(Source::parse("crops:c@val@*").unwrap().classes, Classes::All);
        // Display reads back as the same source.
        for spec in ["voc:v@a,b@test=60/20/20", "coco:a.json@*", "wider:/d@val", "crops:c@x@train=70/15/15"] {
            let s = Source::parse(spec).unwrap();
            assert_eq!(Source::parse(&s.to_string()).unwrap(), s, "{spec}");
        }
    }

    #[test]
    fn refuses_bad_specs_by_name() {
        for (spec, says) in [
            ("coco:x@test@train", "more than one split"),
            ("coco:x@a@b", "two class lists"),
            ("coco:x@a,,b", "empty class name"),
            ("coco:x@test=50/20/20", "add up to 100"),
            ("coco:x@test=a/b/c", "percent"),
            ("wider:x@a", "no classes"),
            ("wider:x@train=80/10/10", "official"),
            ("png:x", "unknown"),
            ("nothing", "KIND:PATH"),
            ("voc:", "no path"),
            ("labelme:x@=70/30/0", "neither a split"),
        ] {
            let err = format!("{:#}", Source::parse(spec).unwrap_err());
            assert!(err.contains(says), "{spec}: {err}");
        }
    }
}
