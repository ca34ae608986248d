//! The Rust WIDER FACE evaluator against an independent reference, and on the official
//! ground-truth files.
//!
//! `tests/fixtures/wider_eval_fixture.json` holds a seeded random fixture (ground truth
//! with nested easy/medium/hard subsets, noisy predictions with false positives) and the
//! AP that `tests/peer/wider_eval_reference.py` — a separate numpy implementation of the
//! official protocol — computed for it:
//! `python tests/peer/wider_eval_reference.py tests/fixtures/wider_eval_fixture.json 2026`
//! gave easy 0.579209, medium 0.635467, hard 0.645517.

use facecam_tests::{python_peer, repo_root, run, scratch, shared_data};
use host_train::eval::wider::{evaluate, GtEvent, GtImage, Predictions, WiderGt};
use serde_json::Value;
use std::process::Command;

fn fixture(json: &Value) -> (WiderGt, Predictions) {
    let mut preds = Predictions::new();
    let nums = |v: &Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    let events = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_string();
            let images = e["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    let img = i["name"].as_str().unwrap().to_string();
                    let boxes = i["boxes"].as_array().unwrap().iter().map(|b| nums(b).try_into().unwrap()).collect();
                    let keep: Vec<Vec<usize>> = i["keep"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| nums(k).iter().map(|&v| v as usize).collect())
                        .collect();
                    let p = i["preds"].as_array().unwrap().iter().map(|b| nums(b).try_into().unwrap()).collect();
                    preds.insert((name.clone(), img.clone()), p);
                    GtImage { name: img, boxes, keep: keep.try_into().unwrap() }
                })
                .collect();
            GtEvent { name, images }
        })
        .collect();
    (WiderGt { events }, preds)
}

fn check(json: &Value) {
    let (gt, preds) = fixture(json);
    let result = evaluate(&gt, &preds);
    for s in 0..3 {
        let expected = json["ap"][s].as_f64().unwrap();
        eprintln!("setting {s}: rust {:.6} reference {expected:.6}", result.ap[s]);
        assert!((result.ap[s] - expected).abs() < 1e-3, "setting {s}: {} vs {expected}", result.ap[s]);
    }
}

#[test]
fn matches_the_reference_on_the_committed_fixture() {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/wider_eval_fixture.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["ap"].as_array().unwrap().len(), 3);
    check(&json);
}

#[test]
fn matches_the_reference_on_fresh_fixtures() {
    let Some(py) = python_peer() else { return };
    let dir = scratch("wider-reference");
    for seed in [1, 7, 42] {
        let out = dir.join(format!("fixture-{seed}.json"));
        let script = repo_root().join("tests/peer/wider_eval_reference.py");
        run(Command::new(&py).arg(script).arg(&out).arg(seed.to_string()));
        check(&serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap());
    }
}

#[test]
fn official_ground_truth_loads_and_perfect_predictions_score_one() {
    let Some(data) = shared_data() else {
        eprintln!("NOTE: ../shared/data is absent; the official .mat check is not run");
        return;
    };
    let gt = WiderGt::load(&data.join("widerface-val-gt/ground_truth")).unwrap();
    assert_eq!(gt.events.len(), 61);
    assert_eq!(gt.image_count(), 3226);
    let boxes: usize = gt.events.iter().flat_map(|e| &e.images).map(|i| i.boxes.len()).sum();
    assert_eq!(boxes, 39708);
    let kept: Vec<usize> =
        (0..3).map(|s| gt.events.iter().flat_map(|e| &e.images).map(|i| i.keep[s].len()).sum()).collect();
    eprintln!("faces per setting: easy {} medium {} hard {}", kept[0], kept[1], kept[2]);
    assert!(kept[0] < kept[1] && kept[1] < kept[2] && kept[2] <= boxes);

    let mut preds = Predictions::new();
    for e in &gt.events {
        for i in &e.images {
            let p = i.boxes.iter().enumerate().map(|(k, b)| [b[0], b[1], b[2], b[3], 1.0 - k as f64 * 1e-4]).collect();
            preds.insert((e.name.clone(), i.name.clone()), p);
        }
    }
    let r = evaluate(&gt, &preds);
    eprintln!("perfect predictions: AP {:?}", r.ap);
    for ap in r.ap {
        assert!(ap > 0.99, "{:?}", r.ap);
    }
}
