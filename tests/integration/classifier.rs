//! The second stage end to end: face crops in class folders → `facecam-train classify`
//! (CPU) → ONNX with a classifier card → evaluation → labels on `facecam detect` and
//! `facecam run`; and, with the real data, the shipped face-mask classifier on the
//! face-mask test split.

use facecam_tests::{bin, repo_root, run, scratch, shared_data};
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Command;

/// Synthetic "faces" of two classes that differ only in colour cast: `warm` and `cool`
/// ellipses on noise, at varied sizes and places, in `DIR/CLASS/*.png`.
fn write_crops(dir: &Path, per_class: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for (class, tint) in [("warm", [60i32, 0, -60]), ("cool", [-60, 0, 60])] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..per_class {
            let side = rng.random_range(36..72u32);
            let (cx, cy, r) = (rng.random_range(0.4..0.6), rng.random_range(0.4..0.6), rng.random_range(0.25..0.4));
            let base: i32 = rng.random_range(90..170);
            let img = RgbImage::from_fn(side, side, |x, y| {
                let (u, v) = (x as f32 / side as f32 - cx, y as f32 / side as f32 - cy);
                let inside = u * u / (r * r * 0.6) + v * v / (r * r) < 1.0;
                let noise = ((x * 7 + y * 13 + i as u32 * 31) % 23) as i32 - 11;
                Rgb(std::array::from_fn(|c| {
                    let v = if inside { base + tint[c] } else { 128 - tint[c] / 3 } + noise;
                    v.clamp(0, 255) as u8
                }))
            });
            img.save(dir.join(class).join(format!("p{i}-face0.png"))).unwrap();
        }
    }
}

fn root_samples() -> std::path::PathBuf {
    repo_root().join("samples")
}

fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fails_with(cmd: &mut Command, needle: &str) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{cmd:?}: {stderr}");
    assert!(stderr.contains(needle), "{cmd:?}: expected `{needle}` in:\n{stderr}");
}

#[test]
fn crops_train_export_evaluate_and_label_faces() {
    let dir = scratch("classifier");
    let crops = dir.join("crops");
    write_crops(&crops, 60);
    let (ckpt, model) = (dir.join("ckpt"), dir.join("warmth.onnx"));
    let train = |epochs: &str, extra: &[&str]| {
        let mut cmd = Command::new(bin("facecam-train"));
        cmd.args(["classify", "--device", "cpu", "--epochs", epochs, "--side", "32", "--batch-size", "8"])
            .arg("--data")
            .arg(format!("crops:{}@train", crops.display()))
            .arg("--val")
            .arg(format!("crops:{}@val", crops.display()))
            .arg("--out")
            .arg(&ckpt)
            .args(extra)
            .env("OMP_NUM_THREADS", "1");
        cmd
    };
    run(&mut train("6", &[]));
    // A second run into the same folder is refused; --resume continues it.
    fails_with(&mut train("6", &[]), "--resume");
    // Display names given on the resumed run reach the exported card.
    let names = ["--class-names", "warm=warm tint", "--class-names", "cool=a cool tint of thirty chars"];
    let out = train("12", &[&["--resume", "--export", model.to_str().unwrap()][..], &names].concat()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("resuming after epoch 6"), "{stderr}");
    assert!(stderr.contains("epochs: 6 → 12"), "the changed setting is named: {stderr}");

    // The card says what it is; each loader refuses the other kind, naming the flag to use.
    let card: serde_json::Value =
        serde_json::from_str(&run(Command::new(bin("facecam")).arg("card").arg(&model))).unwrap();
    assert_eq!((card["kind"].as_str(), card["classes"].as_array().map(Vec::len)), (Some("classifier"), Some(2)));
    assert_eq!(card["input"]["width"], 32);
    let shown = |class: &str| if class == "warm" { "warm tint" } else { "a cool tint of thirty chars" };
    let named: Vec<&str> = card["classes"].as_array().unwrap().iter().map(|c| shown(c.as_str().unwrap())).collect();
    assert_eq!(card["display_names"], serde_json::json!(named), "{card}");
    // A name for a class the data lacks is a usage error, before any training.
    let out = train("1", &["--class-names", "hot=very warm"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`hot` is not one of the classes: cool, warm"), "{stderr}");
    let astronaut = repo_root().join("samples/astronaut.png");
    fails_with(Command::new(bin("facecam")).arg("detect").arg(&astronaut).arg("--model").arg(&model), "--classifier");
    let detector = repo_root().join("models/facecam.onnx");
    let mut wrong = Command::new(bin("facecam"));
    wrong.arg("detect").arg(&astronaut).arg("--classifier").arg(&detector).arg("--out").arg(dir.join("x"));
    fails_with(&mut wrong, "--model");

    // Held-out crops: the colour cast is easy, so it is learnt.
    let eval = dir.join("eval");
    let stdout = run(Command::new(bin("facecam-train"))
        .args(["classify-eval", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(format!("crops:{}@test", crops.display()))
        .arg("--out")
        .arg(&eval));
    let r = &report(&eval)["reports"][0];
    eprintln!("{stdout}");
    assert!(r["balanced_accuracy"].as_f64().unwrap() >= 0.9, "{r}");
    assert!((r["majority_balanced_accuracy"].as_f64().unwrap() - 0.5).abs() < 1e-9, "{r}");
    assert!(image::open(eval.join("confusion.png")).is_ok());
    assert_eq!(r["class_names"], serde_json::json!(named), "{r}");
    assert!(stdout.contains("a cool tint of thirty chars"), "the table shows display names: {stdout}");

    // int8: calibrated on training crops (cut by the card's crop rule), the card says how,
    // and the quantized file still tells the classes apart.
    let int8 = dir.join("warmth-int8.onnx");
    run(Command::new(bin("facecam-train"))
        .args(["quantize", "--count", "40", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(format!("crops:{}@train", crops.display()))
        .arg("--out")
        .arg(&int8));
    let card8: serde_json::Value =
        serde_json::from_str(&run(Command::new(bin("facecam")).arg("card").arg(&int8))).unwrap();
    assert_eq!(card8["kind"], "classifier");
    assert_eq!(card8["display_names"], card["display_names"], "quantize keeps the display names");
    assert_eq!(
        (card8["quantization"]["format"].as_str(), card8["quantization"]["images"].as_u64()),
        (Some("qdq-int8"), Some(40))
    );
    let eval8 = dir.join("eval-int8");
    run(Command::new(bin("facecam-train"))
        .args(["classify-eval", "--model"])
        .arg(&int8)
        .arg("--data")
        .arg(format!("crops:{}@test", crops.display()))
        .arg("--out")
        .arg(&eval8));
    let r8 = &report(&eval8)["reports"][0];
    assert!(r8["balanced_accuracy"].as_f64().unwrap() >= 0.9, "{r8}");

    // On the device: every face in the JSON carries a label of the card's classes.
    let det = dir.join("detect");
    let mut cmd = Command::new(bin("facecam"));
    run(cmd
        .arg("detect")
        .arg(&astronaut)
        .arg("--model")
        .arg(&detector)
        .arg("--classifier")
        .arg(&model)
        .arg("--out")
        .arg(&det));
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(det.join("detections.jsonl")).unwrap().lines().next().unwrap())
            .unwrap();
    let faces = line["faces"].as_array().unwrap();
    assert!(!faces.is_empty());
    for f in faces {
        let class = f["label"]["class"].as_str().unwrap();
        assert!(["warm", "cool"].contains(&class), "{f}");
        assert_eq!(f["label"]["class_name"].as_str(), Some(shown(class)), "{f}");
        assert!(f["label"]["probability"].as_f64().unwrap() >= 0.5, "{f}");
    }
    let json = run(Command::new(bin("facecam"))
        .args(["run", "--sink", "json", "--every-frame", "--classify-every", "2", "--source"])
        .arg(format!("images:{}", root_samples().display()))
        .arg("--classifier")
        .arg(&model)
        .arg("--model")
        .arg(&detector));
    // The astronaut's frame has faces, the cat's none: each face shown is labelled.
    let frames: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let faces: Vec<&serde_json::Value> = frames.iter().filter_map(|f| f["faces"].as_array()).flatten().collect();
    assert!(!faces.is_empty() && faces.iter().all(|f| f["label"]["class"].is_string()), "{json}");
    assert!(
        faces.iter().all(|f| f["label"]["class_name"].as_str() == f["label"]["class"].as_str().map(shown)),
        "{json}"
    );
    relabel_keeps_the_graph_and_never_writes_over_its_input(&dir, &int8);
}

/// `relabel` renames classes in a copy (or in place, when asked), keeps the classes it is
/// not told about and the quantization entry, and refuses to write over its input.
fn relabel_keeps_the_graph_and_never_writes_over_its_input(dir: &Path, int8: &Path) {
    let before = std::fs::read(int8).unwrap();
    let card_of = |m: &Path| -> serde_json::Value {
        serde_json::from_str(&run(Command::new(bin("facecam")).arg("card").arg(m))).unwrap()
    };
    let relabel = |args: &[&str]| {
        let mut cmd = Command::new(bin("facecam-train"));
        cmd.args(["relabel", "--class-names", "warm=hot"]).args(args);
        cmd
    };
    let copy = dir.join("relabelled.onnx");
    run(&mut relabel(&["--model", int8.to_str().unwrap(), "--out", copy.to_str().unwrap()]));
    let (old, new) = (card_of(int8), card_of(&copy));
    let i = new["classes"].as_array().unwrap().iter().position(|c| c == "warm").unwrap();
    assert_eq!(new["display_names"][i], "hot");
    assert_eq!(new["display_names"][1 - i], old["display_names"][1 - i], "the other class keeps its name");
    assert_eq!(new["quantization"], old["quantization"]);
    assert_eq!(std::fs::read(int8).unwrap(), before, "the input is left as it was");
    for (args, needle) in [
        (&["--model", int8.to_str().unwrap(), "--out", int8.to_str().unwrap()][..], "would replace the input"),
        (&["--model", int8.to_str().unwrap()], "--in-place"),
        (&["--model", int8.to_str().unwrap(), "--in-place", "--class-names", "warm=a=b"], "`=`"),
    ] {
        let out = relabel(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read(int8).unwrap(), before, "refused runs change nothing");
    run(&mut relabel(&["--model", copy.to_str().unwrap(), "--in-place", "--class-names", "cool=cold"]));
    let inplace = card_of(&copy);
    assert_eq!(
        (inplace["display_names"][i].as_str(), inplace["display_names"][1 - i].as_str()),
        (Some("hot"), Some("cold"))
    );
    assert!(!edge::atomic::temp_path(&copy).exists(), "no temporary left");
}

/// The shipped face-mask classifier on the face-mask test split, from ground-truth boxes
/// and from the shipped detector's boxes (numbers in README and docs/BENCHMARKS.md).
#[test]
fn shipped_facemask_classifier_on_the_test_split() {
    let Some(shared) = shared_data() else {
        eprintln!("NOTE: no ../shared/data; the face-mask classifier check is not run");
        return;
    };
    let out = scratch("facemask-eval");
    let root = repo_root();
    let stdout = run(Command::new(bin("facecam-train"))
        .args(["classify-eval", "--model"])
        .arg(root.join("models/facemask.onnx"))
        .arg("--detector")
        .arg(root.join("models/facecam.onnx"))
        .arg("--data")
        .arg(format!("voc:{}@test", shared.join("face-mask").display()))
        .arg("--out")
        .arg(&out));
    eprintln!("{stdout}");
    let json = report(&out);
    let (gt, det) = (&json["reports"][0], &json["reports"][1]);
    let bacc = |r: &serde_json::Value| r["balanced_accuracy"].as_f64().unwrap();
    // Bounds a little under the shipped model's measured numbers (README).
    assert!(bacc(gt) >= MIN_GT_BALANCED_ACCURACY, "{gt}");
    assert!(bacc(det) >= MIN_DETECTOR_BALANCED_ACCURACY, "{det}");
    for r in [gt, det] {
        assert!(bacc(r) > r["majority_balanced_accuracy"].as_f64().unwrap() + 0.2, "far above the baseline: {r}");
    }
    assert_eq!(gt["per_class"][0]["faces"], 389, "the test split is the one the README reports");
    assert_eq!(gt["per_class"][2]["class"], "sin_mascarilla");
    assert_eq!(gt["class_names"], serde_json::json!(["mask", "mask worn wrongly", "no mask"]), "the shipped names");
    assert!(gt["per_class"][2]["recall"].as_f64().unwrap() >= MIN_NO_MASK_RECALL, "{gt}");
    assert!(det["missed"].as_u64().unwrap() > 0, "the detector's misses are counted");
    for name in ["confusion.png", "confusion-detector.png"] {
        assert!(image::open(out.join(name)).is_ok(), "{name}");
    }

    // The shipped int8 file (`make quantize`) keeps the fp32 numbers, from ground-truth boxes.
    let out8 = scratch("facemask-eval-int8");
    run(Command::new(bin("facecam-train"))
        .args(["classify-eval", "--model"])
        .arg(root.join("models/facemask-int8.onnx"))
        .arg("--data")
        .arg(format!("voc:{}@test", shared.join("face-mask").display()))
        .arg("--out")
        .arg(&out8));
    let gt8 = &report(&out8)["reports"][0];
    assert!((bacc(gt8) - bacc(gt)).abs() <= MAX_INT8_DELTA, "int8 {gt8}\nfp32 {gt}");
}

// Measured: int8 0.838 against fp32 0.839 (2026-12-02).
const MAX_INT8_DELTA: f64 = 0.02;

// Measured 0.839 and 0.523 (2026-12-02); no-mask recall 0.937 from ground-truth boxes.
const MIN_GT_BALANCED_ACCURACY: f64 = 0.80;
const MIN_DETECTOR_BALANCED_ACCURACY: f64 = 0.45;
const MIN_NO_MASK_RECALL: f64 = 0.88;
