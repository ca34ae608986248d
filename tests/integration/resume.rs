//! A run interrupted after an epoch and resumed from its checkpoint ends exactly where
//! the uninterrupted run ends: same weights, same optimiser state, same losses. The
//! uninterrupted run builds its batches on the loader thread from images cached in
//! memory, the interrupted one in the loop from the files, so this also shows all those
//! paths feed the same batches; both validate each epoch, which must not disturb training.

use facecam_tests::scratch;
use host_train::checkpoint::{files_dir, read_metrics};
use host_train::config::{DeviceChoice, TrainConfig};
use host_train::data::{generate_synthetic, SynthOptions};
use host_train::train::train;
use std::collections::HashMap;
use tch::Tensor;

fn load(path: &std::path::Path) -> HashMap<String, Tensor> {
    Tensor::load_multi(path).unwrap().into_iter().collect()
}

#[test]
fn resumed_training_matches_uninterrupted_training() {
    let _rng = facecam_tests::torch_rng();
    let dir = scratch("resume");
    let samples = generate_synthetic(
        &dir.join("data"),
        &SynthOptions { count: 24, width: 128, height: 96, face_px: (16, 48), ..Default::default() },
    )
    .unwrap();
    let val = generate_synthetic(
        &dir.join("val"),
        &SynthOptions { count: 6, seed: 9, width: 128, height: 96, face_px: (16, 48), ..Default::default() },
    )
    .unwrap();
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 8,
        width: 96,
        height: 72,
        net_width: 0.5,
        device: DeviceChoice::Cpu,
        progress: false,
        ..Default::default()
    };
    let ahead = TrainConfig { prefetch: Some(2), ..cfg.clone() };
    let straight = train(&samples, &val, "synthetic", &ahead, &dir.join("straight"), false).unwrap();
    assert!(cfg.cache_images, "the default keeps decoded images in memory");
    let in_loop = TrainConfig { prefetch: Some(0), cache_images: false, ..cfg.clone() };
    let first = train(
        &samples,
        &val,
        "synthetic",
        &TrainConfig { stop_after: Some(1), ..in_loop.clone() },
        &dir.join("resumed"),
        false,
    )
    .unwrap();
    assert_eq!(first.epoch_loss.len(), 1);
    let rest = train(&samples, &val, "synthetic", &in_loop, &dir.join("resumed"), true).unwrap();
    assert_eq!(rest.epoch_loss.len(), 2, "epochs 2 and 3 ran after the resume");
    assert_eq!(straight.epoch_loss[0], first.epoch_loss[0]);
    assert_eq!(&straight.epoch_loss[1..], &rest.epoch_loss[..], "same losses after the resume");
    for file in ["weights.ot", "optimizer.ot"] {
        let (a, b) =
            (load(&files_dir(&dir.join("straight")).join(file)), load(&files_dir(&dir.join("resumed")).join(file)));
        assert_eq!(a.len(), b.len());
        for (name, t) in &a {
            let diff = (t - &b[name]).abs().max().double_value(&[]);
            assert!(diff == 0.0, "{file}: `{name}` differs by {diff}");
        }
    }
    let metrics = std::fs::read_to_string(dir.join("resumed/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "header and three epochs:\n{metrics}");
    let losses = |run: &str| -> Vec<[f64; 7]> {
        let rows = read_metrics(&dir.join(run)).unwrap();
        rows.iter().map(|r| [r.loss, r.class, r.boxes, r.lr, r.val_loss, r.val_class, r.val_boxes]).collect()
    };
    let resumed = losses("resumed");
    assert!(resumed.iter().all(|r| r[4].is_finite() && r[4] > 0.0), "validated every epoch: {resumed:?}");
    assert_eq!(resumed, losses("straight"), "same losses and validation losses, epoch by epoch");
    for file in ["loss.png", "predictions/epoch-001.png", "predictions/epoch-003.png"] {
        let img = image::open(dir.join("resumed").join(file)).unwrap();
        assert!(img.width() > 96 && img.height() > 72, "{file}");
    }
    // Training into it again without --resume is refused, and leaves it as it was.
    let weights = std::fs::read(dir.join("resumed/state/weights.ot")).unwrap();
    let err = train(&samples, &val, "synthetic", &in_loop, &dir.join("resumed"), false).unwrap_err().to_string();
    assert!(err.contains("holds a checkpoint already") && err.contains("--resume"), "{err}");
    assert_eq!(std::fs::read(dir.join("resumed/state/weights.ot")).unwrap(), weights);
}
