//! The data-collection loop closes: `facecam capture --label` writes pictures with
//! labelme JSON that `facecam-train` reads as training data, faces included.

use facecam_tests::{bin, repo_root, run, scratch};
use std::process::Command;

#[test]
fn captured_pictures_import_as_labelme_training_data() {
    let dir = scratch("capture-to-train");
    let out = dir.join("captures");
    run(Command::new(bin("facecam")).current_dir(repo_root()).args([
        "capture",
        "--source",
        "images:samples",
        "--every",
        "0",
        "--label",
        "--out",
        out.to_str().unwrap(),
    ]));
    let report =
        run(Command::new(bin("facecam-train")).args(["import", "--data", &format!("labelme:{}", out.display())]));
    // "labelme:DIR: 2 images, N faces, 0 ignore regions, 0 missing image files"
    assert!(report.contains(": 2 images,"), "{report}");
    assert!(report.contains("0 missing image files"), "{report}");
    let faces: usize = report.split(" images, ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    assert!(faces >= 1, "the astronaut's pre-labelled face is training data: {report}");
}

/// `facecam capture --crops --class NAME` saves the model's faces as crops that
/// `facecam-train` reads as a `crops:` source, labelled by their folder; the detector's
/// trainer refuses them (no background), and a split keeps each picture's crops together.
#[test]
fn captured_face_crops_import_by_class_and_split_by_picture() {
    let dir = scratch("capture-crops");
    let out = dir.join("crops");
    for class in ["street", "portrait"] {
        let source = if class == "street" { "images:samples/street" } else { "images:samples" };
        #[rustfmt::skip]
        run(Command::new(bin("facecam")).current_dir(repo_root()).args([
            "capture", "--source", source, "--every", "0", "--crops", "--class", class,
            "--out", out.to_str().unwrap(),
        ]));
    }
    let crops: Vec<_> = ["street", "portrait"]
        .iter()
        .flat_map(|c| std::fs::read_dir(out.join(c)).unwrap().map(|e| e.unwrap().path()))
        .collect();
    assert!(crops.len() >= 4, "the street photos' faces and the astronaut: {crops:?}");
    for crop in &crops {
        let img = image::open(crop).unwrap();
        assert_eq!(img.width(), img.height(), "{}", crop.display());
        assert!(img.width() >= 16, "{}", crop.display());
    }
    let spec = format!("crops:{}", out.display());
    let report = run(Command::new(bin("facecam-train")).args(["import", "--data", &spec]));
    assert!(report.contains(&format!(": {} images, {} faces", crops.len(), crops.len())), "{report}");
    assert!(report.contains("classes: portrait ") && report.contains(", street "), "{report}");
    let refused = Command::new(bin("facecam-train"))
        .args(["train", "--data", &spec, "--epochs", "1", "--out", dir.join("ckpt").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("cannot teach a detector"), "{stderr}");
    // Each part by itself, then all three: every crop in exactly one, a picture's crops together.
    let mut seen = Vec::new();
    for part in ["train", "val", "test"] {
        let samples = host_train::data::Source::parse(&format!("{spec}@{part}=40/30/30")).unwrap().load().unwrap();
        seen.extend(samples.into_iter().map(|s| (s.image, part)));
    }
    assert_eq!(seen.len(), crops.len());
    for (image, part) in &seen {
        let picture = host_train::data::split::crop_photo(image).unwrap();
        let other = seen.iter().find(|(i, p)| p != part && host_train::data::split::crop_photo(i) == Some(picture));
        assert!(other.is_none(), "{picture} is in {part} and {other:?}");
    }
}
