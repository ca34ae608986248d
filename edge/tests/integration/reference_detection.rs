//! The shipped model on the sample photos gives the same faces on every architecture.
//!
//! The expected detections were produced on x86-64 (`FACECAM_UPDATE_FIXTURES=1 cargo test
//! --workspace --test integration reference_detection::` rewrites them, from
//! `edge/tests/fixtures/`); `make cross-test` runs this
//! same test for aarch64 and armv7 under qemu-user, where tract uses other SIMD kernels,
//! so agreement here means the board computes what the workstation computed.

use edge::detector::Detector;
use serde_json::{json, Value};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Detections and a summary of the raw outputs for each sample photo.
fn measure() -> Value {
    let mut detector = Detector::load(root().join("models/facecam.onnx")).unwrap();
    detector.options.score_threshold = 0.3;
    let mut photos = serde_json::Map::new();
    for name in ["astronaut.png", "chelsea.png"] {
        let img = image::open(root().join("samples").join(name)).unwrap().to_rgb8();
        let raw = detector.forward(&img).unwrap();
        let faces: Vec<Value> = detector
            .decode(&raw, img.width(), img.height())
            .iter()
            .map(|d| json!([d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1, d.score]))
            .collect();
        let face_scores: f64 = raw.scores.iter().skip(1).step_by(2).map(|&s| s as f64).sum();
        let box_sum: f64 = raw.boxes.iter().map(|&b| b.abs() as f64).sum();
        photos.insert(name.into(), json!({ "faces": faces, "face_score_sum": face_scores, "box_abs_sum": box_sum }));
    }
    Value::Object(photos)
}

#[test]
fn detections_match_the_x86_reference() {
    let fixture = root().join("edge/tests/fixtures/reference-detections.json");
    let got = measure();
    if std::env::var_os("FACECAM_UPDATE_FIXTURES").is_some() {
        std::fs::write(&fixture, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    for (photo, w) in want.as_object().unwrap() {
        let g = &got[photo];
        let (wf, gf) = (w["faces"].as_array().unwrap(), g["faces"].as_array().unwrap());
        assert_eq!(gf.len(), wf.len(), "{photo}: number of faces");
        for (a, b) in gf.iter().zip(wf) {
            for i in 0..4 {
                let (x, y) = (a[i].as_f64().unwrap(), b[i].as_f64().unwrap());
                assert!((x - y).abs() < 0.5, "{photo}: box coordinate {x} vs {y}");
            }
            let (s, t) = (a[4].as_f64().unwrap(), b[4].as_f64().unwrap());
            assert!((s - t).abs() < 1e-3, "{photo}: score {s} vs {t}");
        }
        for key in ["face_score_sum", "box_abs_sum"] {
            let (x, y) = (g[key].as_f64().unwrap(), w[key].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "{photo}: {key} {x} vs {y}");
        }
    }
    assert!(!want["astronaut.png"]["faces"].as_array().unwrap().is_empty(), "the reference finds the astronaut");
}

/// The shipped face-mask classifier on fixed face boxes of the street photos (the
/// detector's on x86, stored in the fixture) gives the same probabilities on every
/// architecture.
#[test]
fn labels_match_the_x86_reference() {
    use edge::classifier::Classifier;
    use edge::model::BBox;
    let fixture = root().join("edge/tests/fixtures/reference-labels.json");
    let mut classifier = Classifier::load(root().join("models/facemask.onnx")).unwrap();
    let photos = ["maksssksksss71.jpg", "maksssksksss164.jpg", "maksssksksss495.jpg"];
    let image = |name: &str| image::open(root().join("samples/street").join(name)).unwrap().to_rgb8();
    if std::env::var_os("FACECAM_UPDATE_FIXTURES").is_some() {
        let mut detector = Detector::load(root().join("models/facecam.onnx")).unwrap();
        let mut out = serde_json::Map::new();
        for name in photos {
            let img = image(name);
            let faces: Vec<Value> = (detector.detect(&img).unwrap().iter())
                .map(|d| {
                    let probs = classifier.classify(&img, &d.bbox).unwrap().unwrap();
                    json!({ "box": [d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1], "probs": probs })
                })
                .collect();
            out.insert(name.into(), Value::Array(faces));
        }
        std::fs::write(&fixture, serde_json::to_string_pretty(&Value::Object(out)).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let mut compared = 0;
    for (name, faces) in want.as_object().unwrap() {
        let img = image(name);
        for f in faces.as_array().unwrap() {
            let b: Vec<f32> = f["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let got = classifier.classify(&img, &BBox::new(b[0], b[1], b[2], b[3])).unwrap().unwrap();
            for (g, w) in got.iter().zip(f["probs"].as_array().unwrap()) {
                let w = w.as_f64().unwrap() as f32;
                assert!((g - w).abs() < 1e-3, "{name}: probability {g} vs {w}");
            }
            compared += 1;
        }
    }
    assert!(compared >= 10, "the reference holds the street photos' faces ({compared})");
}

/// facecam's kernels (`edge::kernels`, the default) and tract's own ops give the same
/// network outputs and faces on every sample photo, on this architecture; `make
/// cross-test` runs it for aarch64 and armv7 under qemu-user.
#[test]
fn facecam_kernels_match_tracts_own_ops_on_the_samples() {
    use edge::detector::{Kernels, LoadOptions};
    let load = |kernels| {
        let opts = LoadOptions { kernels, ..Default::default() };
        let mut d = Detector::load_with(root().join("models/facecam.onnx"), &opts).unwrap();
        d.options.score_threshold = 0.3;
        d
    };
    let (mut ours, mut tracts) = (load(Kernels::Facecam), load(Kernels::Tract));
    let photos = [
        "astronaut.png",
        "chelsea.png",
        "street/maksssksksss71.jpg",
        "street/maksssksksss164.jpg",
        "street/maksssksksss495.jpg",
    ];
    let mut faces = 0;
    for name in photos {
        let img = image::open(root().join("samples").join(name)).unwrap().to_rgb8();
        let (a, b) = (ours.forward(&img).unwrap(), tracts.forward(&img).unwrap());
        let diff = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        let (ds, db) = (diff(&a.scores, &b.scores), diff(&a.boxes, &b.boxes));
        eprintln!("{name}: outputs differ by up to {ds:.1e} (scores), {db:.1e} (box offsets)");
        assert!(ds <= 1e-4, "{name}: scores differ by up to {ds}");
        assert!(db <= 1e-4, "{name}: box offsets differ by up to {db}");
        let (fa, fb) = (ours.decode(&a, img.width(), img.height()), tracts.decode(&b, img.width(), img.height()));
        assert_eq!(fa.len(), fb.len(), "{name}: number of faces");
        for (x, y) in fa.iter().zip(&fb) {
            assert!((x.score - y.score).abs() <= 1e-4, "{name}: score {} vs {}", x.score, y.score);
            assert!(edge::model::iou(&x.bbox, &y.bbox) > 0.999, "{name}: box {:?} vs {:?}", x.bbox, y.bbox);
        }
        faces += fa.len();
    }
    assert!(faces >= 5, "only {faces} faces on the samples: the comparison says little");
}
