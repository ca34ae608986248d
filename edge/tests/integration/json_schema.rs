//! Every JSON line facecam writes is valid against docs/facecam-json.schema.json: real
//! output of `facecam detect` on the sample photos and of `facecam run --sink json` on a
//! file in which a face appears and leaves, checked with a JSON Schema validator.

use crate::common::{facecam, mjpeg_file, root, scratch};
use serde_json::Value;

/// The schema, compiled (draft 2020-12, as its `$schema` says).
fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("docs/facecam-json.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("the schema is not a valid schema: {e}"))
}

/// Each line of `text` parsed and checked against the schema; returns them.
fn valid_lines(text: &str) -> Vec<Value> {
    let validator = validator();
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    for line in &lines {
        let errors: Vec<String> =
            validator.iter_errors(line).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{line}\nis not valid: {errors:?}");
    }
    lines
}

fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}

#[test]
fn detect_lines_are_valid_pictures() {
    let dir = scratch("schema-detect");
    let out = dir.join("out");
    let (ok, _, stderr) =
        facecam(&["detect", "samples/astronaut.png", "samples/chelsea.png", "--out", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let lines = valid_lines(&std::fs::read_to_string(out.join("detections.jsonl")).unwrap());
    assert_eq!(of_type(&lines, "picture").len(), 2, "{lines:?}");
    let astronaut = lines.iter().find(|l| l["file"].as_str().unwrap().ends_with("astronaut.png")).unwrap();
    assert!(astronaut["faces"][0]["box"]["x1"].as_f64().is_some(), "{astronaut}");
    assert!(astronaut["faces"][0].get("id").is_none(), "a picture is not tracked: {astronaut}");
}

#[test]
fn detect_lines_with_a_classifier_are_valid() {
    let dir = scratch("schema-detect-classifier");
    let out = dir.join("out");
    let args = ["detect", "samples/astronaut.png", "--classifier", "models/facemask.onnx", "--out"];
    let (ok, _, stderr) = facecam(&[&args[..], &[out.to_str().unwrap()]].concat());
    assert!(ok, "{stderr}");
    let lines = valid_lines(&std::fs::read_to_string(out.join("detections.jsonl")).unwrap());
    assert!(lines[0]["faces"][0]["label"]["class"].is_string(), "{lines:?}");
}

#[test]
fn run_lines_are_valid_frames_and_events() {
    let dir = scratch("schema-run");
    // 120 frames: the astronaut (a face) for 50, then the cat (none): a face comes and goes.
    let file = mjpeg_file(&dir, 120);
    let source = format!("mjpeg:{}", file.display());
    let snaps = dir.join("snaps");
    let args = ["run", "--source", &source, "--sink", "json", "--min-face-seconds", "0.2", "--count-every", "1"];
    let args = [&args[..], &["--snapshots", snaps.to_str().unwrap()]].concat();
    let (ok, stdout, stderr) = facecam(&args);
    assert!(ok, "{stderr}");
    let lines = valid_lines(&stdout);
    let frames = of_type(&lines, "frame");
    assert_eq!(frames.len(), 120, "a file loses no frame");
    assert_eq!((&frames[0]["width"], &frames[0]["height"]), (&640.into(), &480.into()));
    for kind in ["face_appeared", "face_left", "face_snapshot", "count"] {
        assert!(!of_type(&lines, kind).is_empty(), "no {kind} in:\n{stdout}");
    }
    let appeared = of_type(&lines, "face_appeared")[0];
    assert!(appeared["face"]["id"].is_u64() && appeared["face"]["box"].is_object(), "{appeared}");
    // What the snapshot folder keeps of each event is the same line.
    let kept: Vec<String> = std::fs::read_dir(&snaps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let kept = valid_lines(&kept.join("\n"));
    assert_eq!(kept.len(), of_type(&lines, "face_snapshot").len(), "{kept:?}");
}

#[test]
fn the_schema_refuses_what_is_not_facecam_json() {
    let validator = validator();
    let bad = [
        r#"{"seq": 1, "time": 1.0, "latency_ms": 1.0, "faces": []}"#,
        r#"{"type": "frame", "seq": 1, "time": 1.0, "latency_ms": 1.0, "faces": []}"#,
        r#"{"type": "picture", "file": "a.png", "width": 4, "height": 4, "faces": [{"x0": 0, "y0": 0, "x1": 1, "y1": 1, "score": 0.9}]}"#,
        r#"{"type": "face_appeared", "face": {"box": {"x0": 0, "y0": 0, "x1": 1, "y1": 1}, "score": 0.9}, "time": 1.0}"#,
        r#"{"type": "count", "faces": -1, "time": 1.0}"#,
        r#"{"type": "sneeze", "time": 1.0}"#,
    ];
    for line in bad {
        let value: Value = serde_json::from_str(line).unwrap();
        assert!(!validator.is_valid(&value), "accepted: {line}");
    }
    // Zones on a face are allowed; a snapshot belongs to a face_snapshot line, with its id.
    let good = r#"{"type": "face_left", "face": {"id": 3, "box": {"x0": 0, "y0": 0, "x1": 1, "y1": 1},
        "score": 0.8, "zones": ["door"]}, "duration_s": 2.5, "best_score": 0.9, "time": 1.0}"#;
    assert!(validator.is_valid(&serde_json::from_str(good).unwrap()), "{good}");
    let stray = r#"{"type": "face_appeared", "face": {"id": 3, "box": {"x0": 0, "y0": 0, "x1": 1, "y1": 1},
        "score": 0.8}, "time": 1.0, "snapshot": {"id": "1-3", "frame": "/events/1-3.jpg", "face": "/events/1-3-face.jpg"}}"#;
    assert!(!validator.is_valid(&serde_json::from_str(stray).unwrap()), "accepted: {stray}");
}

#[test]
fn every_example_in_the_json_doc_is_valid() {
    let doc = std::fs::read_to_string(root().join("docs/JSON.md")).unwrap();
    let examples: Vec<&str> =
        doc.split("```json\n").skip(1).map(|block| block.split("```").next().unwrap().trim()).collect();
    let lines = valid_lines(&examples.join("\n"));
    let mut kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["count", "face_appeared", "face_left", "face_snapshot", "frame", "picture"],
        "one example of each type"
    );
}
