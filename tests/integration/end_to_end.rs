//! The whole product on a fresh clone: synthetic faces → `facecam-train` (CPU) → ONNX →
//! `facecam detect` → scored against held-out ground truth. With `../shared/data`, also
//! a brief training on real WIDER FACE photos and detection on real val photos.

use edge::jobs::annotate::ImageResult;
use facecam_tests::{bin, run, scratch, shared_data};
use host_train::data::load_labelme;
use host_train::eval::{score_image, Score};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

/// Both tests train on the CPU; run them one at a time so the reported time measures one
/// training, not two sharing two cores.
static CPU: Mutex<()> = Mutex::new(());

fn read_results(path: &Path) -> Vec<ImageResult> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn synthetic_faces_train_export_detect() {
    let _cpu = CPU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("e2e-synthetic");
    let (train_dir, test_dir) = (dir.join("train"), dir.join("test"));
    run(Command::new(bin("facecam-train")).args(["synth", "--count", "400", "--seed", "1", "--out"]).arg(&train_dir));
    run(Command::new(bin("facecam-train")).args(["synth", "--count", "40", "--seed", "99", "--out"]).arg(&test_dir));

    let model = dir.join("model.onnx");
    let started = Instant::now();
    let out = run(Command::new(bin("facecam-train"))
        .args([
            "train",
            "--device",
            "cpu",
            "--input",
            "160x120",
            "--epochs",
            "48",
            "--lr",
            "3e-3",
            "--batch-size",
            "16",
            "--no-augment",
            "--quiet",
        ])
        .arg("--data")
        .arg(format!("labelme:{}", train_dir.display()))
        .arg("--out")
        .arg(dir.join("ckpt"))
        .arg("--export")
        .arg(&model));
    // The work is fixed (400 images x 48 epochs at 160x120) so that it takes under three
    // minutes on two CPU cores; the time is reported, not asserted (docs/BENCHMARKS.md).
    eprintln!("{out}training + export took {:.0} s", started.elapsed().as_secs_f64());

    // A corrupt file among the inputs is reported and skipped; the run goes on.
    std::fs::write(test_dir.join("corrupt.jpg"), b"not a jpeg").unwrap();
    let det_dir = dir.join("detect");
    run(Command::new(bin("facecam"))
        .arg("detect")
        .arg(&test_dir)
        .arg("--out")
        .arg(&det_dir)
        .arg("--model")
        .arg(&model));

    let truth: HashMap<String, _> = load_labelme(&test_dir, &host_train::data::Classes::Only(vec!["face".into()]))
        .unwrap()
        .into_iter()
        .map(|s| (s.image.display().to_string(), s.boxes))
        .collect();
    let results = read_results(&det_dir.join("detections.jsonl"));
    assert_eq!(results.len(), 40, "every readable image has a line; the corrupt one none");
    let mut score = Score::default();
    for r in &results {
        let boxes = truth.get(&r.file).unwrap_or_else(|| panic!("no ground truth for {}", r.file));
        let dets: Vec<_> = r.faces.iter().map(|f| f.detection).collect();
        score.add(score_image(&dets, boxes, 0.5));
        let png = det_dir.join(Path::new(&r.file).with_extension("png").file_name().unwrap());
        assert!(png.exists(), "{} missing", png.display());
    }
    eprintln!(
        "held-out synthetic: {} faces, recall {:.3}, {:.2} false positives per image",
        score.faces,
        score.recall(),
        score.fp_per_image()
    );
    assert!(score.faces >= 40, "the held-out set should hold faces");
    assert!(score.recall() >= 0.9, "recall {:.3} < 0.9", score.recall());
    // Measured 1.07 where the convolutions run in fp32 (AVX2 only, 2026-12-02) and under
    // 1 where they run in bf16 (`precision = "auto"`): a bound for both.
    assert!(score.fp_per_image() <= 1.5, "{:.2} false positives per image > 1.5", score.fp_per_image());
}

#[test]
fn real_photos_train_briefly_and_detect() {
    let Some(data) = shared_data() else {
        eprintln!("NOTE: ../shared/data is absent; the real-photo check is not run");
        return;
    };
    let _cpu = CPU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("e2e-wider");
    let model = dir.join("model.onnx");
    let wider = data.join("widerface-subset");
    run(Command::new(bin("facecam-train"))
        .args(["train", "--device", "cpu", "--epochs", "1", "--limit", "48", "--batch-size", "8", "--quiet"])
        .arg("--data")
        .arg(format!("wider:{}@train", wider.display()))
        .arg("--out")
        .arg(dir.join("ckpt"))
        .arg("--export")
        .arg(&model));
    let card = run(Command::new(bin("facecam")).arg("card").arg(&model));
    assert!(card.contains("widerface-subset") && card.contains("\"epochs\": 1"), "{card}");

    let val = wider.join("WIDER_val/images");
    let event = std::fs::read_dir(&val).unwrap().next().unwrap().unwrap().path();
    let det_dir = dir.join("detect");
    run(Command::new(bin("facecam"))
        .arg("detect")
        .arg(&event)
        .arg("--out")
        .arg(&det_dir)
        .arg("--model")
        .arg(&model)
        .args(["--threshold", "0.3"]));
    let results = read_results(&det_dir.join("detections.jsonl"));
    let images = std::fs::read_dir(&event).unwrap().count();
    assert_eq!(results.len(), images, "one line per real photo");
    for r in &results {
        assert!(r.width > 0 && r.height > 0);
        for f in r.faces.iter().map(|f| &f.detection) {
            assert!(f.bbox.x0 >= 0.0 && f.bbox.x1 <= r.width as f32 && f.score >= 0.3, "{f:?}");
        }
    }
}

/// Settings out of range are usage errors (exit 2), named, before anything is written.
#[test]
fn training_settings_out_of_range_exit_2_and_write_nothing() {
    let dir = scratch("e2e-usage");
    run(Command::new(bin("facecam-train")).args(["synth", "--count", "4", "--out"]).arg(dir.join("data")));
    let data = format!("labelme:{}", dir.join("data").display());
    for (flag, value, says) in
        [("--lr", "NaN", "`lr`"), ("--batch-size", "0", "`batch_size`"), ("--epochs", "0", "`epochs`")]
    {
        let out = Command::new(bin("facecam-train"))
            .args(["train", "--data", &data, flag, value, "--out"])
            .arg(dir.join("ckpt"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
        assert!(!dir.join("ckpt").exists(), "{flag} {value} left a checkpoint folder");
    }
}

/// Prior sizes set in a recipe reach the network's heads and the exported card: a run with
/// four sizes on the finest level (the default has three) exports a file whose card names
/// them and which the detector loads (it checks the outputs against the card's priors).
#[test]
fn prior_sizes_from_the_recipe_reach_the_card() {
    let dir = scratch("e2e-priors");
    run(Command::new(bin("facecam-train"))
        .args(["synth", "--count", "6", "--seed", "4", "--out"])
        .arg(dir.join("data")));
    let recipe = dir.join("priors.toml");
    let sizes = "[[5.0, 8.0, 12.0, 18.0], [32.0, 48.0], [64.0, 96.0], [128.0, 192.0, 256.0]]";
    std::fs::write(
        &recipe,
        format!(
            "[optim]\nepochs = 1\nbatch_size = 2\n[net]\ninput_size = [160, 120]\nwidth = 0.25\nprior_sizes = {sizes}\n"
        ),
    )
    .unwrap();
    let model = dir.join("m.onnx");
    run(Command::new(bin("facecam-train"))
        .args(["train", "--device", "cpu", "--no-augment", "--config"])
        .arg(&recipe)
        .arg("--data")
        .arg(format!("labelme:{}", dir.join("data").display()))
        .arg("--out")
        .arg(dir.join("ckpt"))
        .arg("--export")
        .arg(&model));
    let card: serde_json::Value =
        serde_json::from_str(&run(Command::new(bin("facecam")).arg("card").arg(&model))).unwrap();
    let want: serde_json::Value = serde_json::from_str(sizes).unwrap();
    assert_eq!(card["priors"]["min_sizes"], want, "{card}");
    let mut detector = edge::detector::Detector::load(&model).unwrap();
    let found = detector.detect(&image::RgbImage::new(160, 120)).unwrap();
    assert!(found.len() <= 750);
    // A size out of range is named before anything is written.
    std::fs::write(&recipe, "[optim]\nepochs = 1\n[net]\nprior_sizes = [[0.5], [32.0], [64.0], [128.0]]\n").unwrap();
    let out = Command::new(bin("facecam-train"))
        .args(["train", "--device", "cpu", "--config"])
        .arg(&recipe)
        .arg("--data")
        .arg(format!("labelme:{}", dir.join("data").display()))
        .arg("--out")
        .arg(dir.join("ckpt2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("`net.prior_sizes`"), "{stderr}");
    assert!(!dir.join("ckpt2").exists());
}
