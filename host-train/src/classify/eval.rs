//! How good an exported classifier is, run as the device runs it (`edge::classifier`):
//! per-class precision and recall, balanced accuracy, the majority-class baseline beside
//! it, and the confusion matrix as numbers and as a PNG — on crops of the ground-truth
//! boxes, or on crops of the detector's own boxes, where a face the detector misses is
//! a miss of its class.

use super::faces::FaceSet;
use super::train::balanced_accuracy;
use crate::plot::tile_grid;
use anyhow::Result;
use edge::classifier::{top, Classifier};
use edge::detector::Detector;
use edge::model::{match_greedy, BBox};
use edge::overlay::ImageTarget;
use embedded_graphics::{
    mono_font::{ascii::FONT_6X10, MonoTextStyle},
    pixelcolor::Rgb888,
    prelude::*,
    primitives::{PrimitiveStyle, Rectangle},
    text::Text,
};
use image::{Rgb, RgbImage};
use serde::Serialize;
use std::path::Path;

/// IoU at which a detection is a ground-truth face (the usual detection criterion).
pub const MATCH_IOU: f32 = 0.5;

/// One class's numbers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassScore {
    /// The class name.
    pub class: String,
    /// Faces of the class in the test set.
    pub faces: usize,
    /// Of the faces predicted as this class, the fraction that are (NaN when none were).
    pub precision: f64,
    /// Of the faces of this class, the fraction predicted as it (NaN when there are none).
    pub recall: f64,
}

/// An evaluation's numbers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassifierReport {
    /// `ground-truth boxes` or `detector boxes`.
    pub crops: String,
    /// Class ids, in the order of the confusion matrix's rows and columns.
    pub classes: Vec<String>,
    /// Their display names (the card's; the ids where it names none), same order.
    pub class_names: Vec<String>,
    /// Rows: true class; columns: predicted class, then (detector boxes) `missed`.
    pub confusion: Vec<Vec<usize>>,
    /// Precision and recall of each class, in the order of `classes`.
    pub per_class: Vec<ClassScore>,
    /// Fraction of all faces (misses included) given their true class.
    pub accuracy: f64,
    /// Mean over classes with faces of each class's recall.
    pub balanced_accuracy: f64,
    /// The training set's most common class, always predicted: its accuracy and
    /// balanced accuracy on the same faces (misses still misses).
    pub majority_class: String,
    /// `accuracy` of always predicting `majority_class`.
    pub majority_accuracy: f64,
    /// `balanced_accuracy` of always predicting `majority_class`.
    pub majority_balanced_accuracy: f64,
    /// Faces the detector did not find (detector boxes only).
    pub missed: usize,
    /// Detections matching no labelled face (detector boxes only; not classified).
    pub unmatched_detections: usize,
}

/// Build the report from `(truth, prediction)` pairs, `None` being a miss.
pub fn report(
    crops: &str,
    classes: &[String],
    pairs: &[(usize, Option<usize>)],
    majority: usize,
    unmatched: usize,
) -> ClassifierReport {
    let n = classes.len();
    let mut confusion = vec![vec![0; n + 1]; n];
    for &(t, p) in pairs {
        confusion[t][p.unwrap_or(n)] += 1;
    }
    let missed = confusion.iter().map(|r| r[n]).sum();
    let per_class = (0..n)
        .map(|c| {
            let faces: usize = confusion[c].iter().sum();
            let predicted: usize = confusion.iter().map(|r| r[c]).sum();
            let ratio = |a: usize, b: usize| if b == 0 { f64::NAN } else { a as f64 / b as f64 };
            ClassScore {
                class: classes[c].clone(),
                faces,
                precision: ratio(confusion[c][c], predicted),
                recall: ratio(confusion[c][c], faces),
            }
        })
        .collect();
    let total = pairs.len().max(1) as f64;
    let right = (0..n).map(|c| confusion[c][c]).sum::<usize>() as f64;
    let baseline: Vec<Vec<usize>> = (0..n)
        .map(|c| {
            let found = confusion[c][..n].iter().sum::<usize>();
            (0..=n)
                .map(|p| {
                    if p == majority {
                        found
                    } else if p == n {
                        confusion[c][n]
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect();
    let base_right = baseline.get(majority).map_or(0, |r| r[majority]) as f64;
    if missed == 0 {
        confusion.iter_mut().for_each(|r| {
            r.pop();
        });
    }
    ClassifierReport {
        crops: crops.into(),
        classes: classes.to_vec(),
        class_names: classes.to_vec(),
        balanced_accuracy: balanced_accuracy(&confusion),
        confusion,
        per_class,
        accuracy: right / total,
        majority_class: classes.get(majority).cloned().unwrap_or_default(),
        majority_accuracy: base_right / total,
        majority_balanced_accuracy: balanced_accuracy(&baseline),
        missed,
        unmatched_detections: unmatched,
    }
}

/// Classify every face of `set` from its ground-truth box.
pub fn on_ground_truth(classifier: &mut Classifier, set: &FaceSet, majority: usize) -> Result<ClassifierReport> {
    let mut pairs = Vec::new();
    for f in &set.faces {
        let probs = classifier.classify(&set.images[f.image], &f.bbox)?;
        pairs.push((f.class, probs.as_deref().and_then(top).map(|(c, _)| c)));
    }
    Ok(report("ground-truth boxes", &set.classes, &pairs, majority, 0).named(classifier.card().shown_names()))
}

/// Detect faces in every image of `set` (at the detector's card threshold), match them to
/// the labelled faces (greedy by IoU, at least [`MATCH_IOU`]) and classify the matched
/// detections' crops; a labelled face without a detection is a miss.
pub fn on_detections(
    classifier: &mut Classifier,
    detector: &mut Detector,
    set: &FaceSet,
    majority: usize,
) -> Result<ClassifierReport> {
    let (mut pairs, mut unmatched) = (Vec::new(), 0);
    for (i, img) in set.images.iter().enumerate() {
        let faces: Vec<_> = set.faces.iter().filter(|f| f.image == i).collect();
        let dets = detector.detect(img)?;
        let labelled: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
        let found: Vec<BBox> = dets.iter().map(|d| d.bbox).collect();
        let face_det = match_greedy(&labelled, &found, MATCH_IOU);
        let mut det_used = vec![false; dets.len()];
        face_det.iter().flatten().for_each(|&d| det_used[d] = true);
        unmatched += det_used.iter().filter(|u| !**u).count();
        for (f, d) in faces.iter().zip(face_det) {
            let pred = match d {
                Some(di) => classifier.classify(img, &dets[di].bbox)?.as_deref().and_then(top).map(|(c, _)| c),
                None => None,
            };
            pairs.push((f.class, pred));
        }
    }
    Ok(report("detector boxes", &set.classes, &pairs, majority, unmatched).named(classifier.card().shown_names()))
}

impl ClassifierReport {
    /// The report with the classes shown as `names` (one per class; else left as is).
    pub fn named(mut self, names: Vec<String>) -> Self {
        if names.len() == self.classes.len() {
            self.class_names = names;
        }
        self
    }

    /// The display name of class `id` (the id itself when it has none).
    fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.classes.iter().position(|c| c == id).map_or(id, |i| &self.class_names[i])
    }
}

/// The report as a text table.
pub fn table(r: &ClassifierReport) -> String {
    let mut s = format!("{} ({} faces)\n", r.crops, r.per_class.iter().map(|c| c.faces).sum::<usize>());
    let width = r.class_names.iter().map(|n| n.chars().count()).max().unwrap_or(0).max(24);
    s += &format!("  {:<width$} {:>6} {:>9} {:>7}\n", "class", "faces", "precision", "recall");
    for c in &r.per_class {
        s += &format!("  {:<width$} {:>6} {:>9.3} {:>7.3}\n", r.name_of(&c.class), c.faces, c.precision, c.recall);
    }
    s += &format!("  accuracy {:.3}, balanced accuracy {:.3}\n", r.accuracy, r.balanced_accuracy);
    s += &format!(
        "  majority baseline (always `{}`): accuracy {:.3}, balanced accuracy {:.3}\n",
        r.name_of(&r.majority_class),
        r.majority_accuracy,
        r.majority_balanced_accuracy
    );
    if r.crops == "detector boxes" {
        s += &format!(
            "  missed by the detector {}, detections on no labelled face {}\n",
            r.missed, r.unmatched_detections
        );
    }
    s
}

/// Width of one character of the confusion PNG's font, pixels.
const CHAR_W: i32 = 6;

/// The confusion matrix as a picture: one cell per (truth, prediction), shaded by the
/// share of the row, with its count; rows are true classes. Classes are shown by their
/// display names, never cut: the left margin fits the longest row name and each column
/// is as wide as the longest name (at least 64 pixels).
pub fn confusion_png(r: &ClassifierReport, path: &Path) -> Result<()> {
    let cols = r.confusion.first().map_or(0, Vec::len);
    let names: Vec<&str> = r.class_names.iter().map(String::as_str).chain(["missed"]).take(cols).collect();
    let longest = names.iter().map(|n| n.chars().count() as i32).max().unwrap_or(0);
    let (cell_w, cell_h, top) = ((CHAR_W * longest + 8).max(64), 64i32, 40i32);
    let left = (CHAR_W * longest + 16).max(150);
    let title = format!("{}: truth (rows) / prediction", r.crops);
    let summary =
        format!("balanced accuracy {:.3} (majority baseline {:.3})", r.balanced_accuracy, r.majority_balanced_accuracy);
    let text_w = CHAR_W * title.len().max(summary.len()) as i32 + 12;
    let (w, h) = ((left + cell_w * cols as i32 + 10).max(text_w), top + cell_h * r.classes.len() as i32 + 40);
    let mut img = RgbImage::from_pixel(w as u32, h as u32, Rgb([255, 255, 255]));
    let mut t = ImageTarget(&mut img);
    let text = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
    Text::new(&title, Point::new(6, 14), text).draw(&mut t)?;
    for (c, name) in names.iter().enumerate() {
        Text::new(name, Point::new(left + cell_w * c as i32 + 3, top - 6), text).draw(&mut t)?;
    }
    for (row, counts) in r.confusion.iter().enumerate() {
        let y = top + cell_h * row as i32;
        Text::new(names[row], Point::new(6, y + cell_h / 2 + 3), text).draw(&mut t)?;
        let sum = counts.iter().sum::<usize>().max(1) as f32;
        for (c, &n) in counts.iter().enumerate() {
            let share = n as f32 / sum;
            let v = (255.0 - 200.0 * share) as u8;
            let fill = if c == row { Rgb888::new(v, 255 - (255 - v) / 3, v) } else { Rgb888::new(255, v, v) };
            let at = Point::new(left + cell_w * c as i32, y);
            Rectangle::new(at, Size::new(cell_w as u32 - 2, cell_h as u32 - 2))
                .into_styled(PrimitiveStyle::with_fill(fill))
                .draw(&mut t)?;
            Text::new(&format!("{n}"), at + Point::new(6, cell_h / 2), text).draw(&mut t)?;
            Text::new(&format!("{:.0}%", 100.0 * share), at + Point::new(6, cell_h / 2 + 12), text).draw(&mut t)?;
        }
    }
    Text::new(&summary, Point::new(6, h - 14), text).draw(&mut t)?;
    edge::atomic::write_png(path, &img)
}

/// Up to `n` of the worst mistakes (true class, predicted class, crop) as one grid image.
pub fn mistakes_grid(classifier: &mut Classifier, set: &FaceSet, n: usize) -> Result<Option<RgbImage>> {
    let mut tiles = Vec::new();
    for f in &set.faces {
        if tiles.len() >= n {
            break;
        }
        let img = &set.images[f.image];
        let (Some(crop), Some(probs)) = (classifier.crop(img, &f.bbox), classifier.classify(img, &f.bbox)?) else {
            continue;
        };
        if top(&probs).is_some_and(|(c, _)| c != f.class) {
            tiles.push(crop);
        }
    }
    Ok((!tiles.is_empty()).then(|| tile_grid(&tiles, 8)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_count_misses_and_compare_with_the_majority() {
        let classes = vec!["mask".to_string(), "bare".to_string()];
        // 8 masks: 6 right, 1 called bare, 1 missed; 2 bare: 1 right, 1 called mask.
        let mut pairs = vec![(0, Some(0)); 6];
        pairs.extend([(0, Some(1)), (0, None), (1, Some(1)), (1, Some(0))]);
        let r = report("detector boxes", &classes, &pairs, 0, 3);
        assert_eq!(r.confusion, vec![vec![6, 1, 1], vec![1, 1, 0]]);
        assert_eq!((r.missed, r.unmatched_detections), (1, 3));
        assert!((r.per_class[0].recall - 0.75).abs() < 1e-12 && (r.per_class[0].precision - 6.0 / 7.0).abs() < 1e-12);
        assert!((r.balanced_accuracy - (0.75 + 0.5) / 2.0).abs() < 1e-12);
        assert!((r.accuracy - 0.7).abs() < 1e-12);
        // Always `mask`: 7 of the 8 found masks right, no bare face right.
        assert!((r.majority_accuracy - 0.7).abs() < 1e-12);
        assert!((r.majority_balanced_accuracy - (7.0 / 8.0 + 0.0) / 2.0).abs() < 1e-12);
        assert!(table(&r).contains("missed by the detector 1"));
        let path = std::env::temp_dir().join(format!("facecam-confusion-{}.png", std::process::id()));
        confusion_png(&r, &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.width(), 150 + 64 * 3 + 10);
        std::fs::remove_file(&path).unwrap();
        assert!(table(&r.clone().named(vec!["masked".into(), "bare face".into()])).contains("always `masked`"));
        let gt = report("ground-truth boxes", &classes, &[(0, Some(0)), (1, Some(0))], 0, 0);
        assert_eq!(gt.confusion, vec![vec![1, 0], vec![1, 0]], "no missed column without misses");
    }

    /// Dark pixels' columns in rows `ys` of `img`.
    fn ink(img: &RgbImage, ys: std::ops::Range<u32>) -> Vec<u32> {
        let dark = |x: u32| ys.clone().any(|y| img.get_pixel(x, y).0[0] < 100);
        (0..img.width()).filter(|&x| dark(x)).collect()
    }

    /// A 30-character display name is drawn whole, left of the matrix and above its
    /// column, and the picture grows to hold it.
    #[test]
    fn long_class_names_are_never_cut() {
        let classes = vec!["a".to_string(), "b".to_string()];
        let long = "mask worn below the nose, chin".replace(',', ";");
        assert_eq!(long.len(), 30);
        let r = report("ground-truth boxes", &classes, &[(0, Some(0)), (1, Some(0))], 0, 0)
            .named(vec![long.clone(), "no mask".into()]);
        let path = std::env::temp_dir().join(format!("facecam-confusion-long-{}.png", std::process::id()));
        confusion_png(&r, &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        std::fs::remove_file(&path).unwrap();
        let (left, cell_w) = (6 * 30 + 16, 6 * 30 + 8);
        assert!(img.width() as i32 >= left + 2 * cell_w, "{} wide", img.width());
        assert!(img.width() > 150 + 64 * 2 + 10, "wider than with short names");
        // The first row's name: ink from x = 6 to the 30th character, none in the cells.
        let row = ink(&img, 40 + 32 - 7..40 + 32 + 4);
        let name_ink: Vec<u32> = row.iter().copied().filter(|&x| (x as i32) < left).collect();
        assert!(*name_ink.last().unwrap() >= 6 + 6 * 29, "the name ends at {:?}", name_ink.last());
        // The first column's header: its whole width lies inside its own column.
        let header = ink(&img, 40 - 16..40 - 4);
        let in_col = header.iter().filter(|&&x| (x as i32) >= left && (x as i32) < left + cell_w).count();
        let last = header.iter().copied().filter(|&x| (x as i32) < left + cell_w).max().unwrap();
        assert!(in_col > 0 && last as i32 >= left + 3 + 6 * 29, "header ends at {last}");
    }
}
