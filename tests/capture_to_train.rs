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
