//! A run interrupted after an epoch and resumed from its checkpoint ends exactly where
//! the uninterrupted run ends: same weights, same optimiser state, same losses.

use facecam_tests::scratch;
use host_train::data::{generate_synthetic, SynthOptions};
use host_train::train::{train, DeviceChoice, TrainConfig};
use std::collections::HashMap;
use tch::Tensor;

fn load(path: &std::path::Path) -> HashMap<String, Tensor> {
    Tensor::load_multi(path).unwrap().into_iter().collect()
}

#[test]
fn resumed_training_matches_uninterrupted_training() {
    let dir = scratch("resume");
    let samples = generate_synthetic(
        &dir.join("data"),
        &SynthOptions { count: 24, width: 128, height: 96, face_px: (16, 48), ..Default::default() },
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
    let straight = train(&samples, "synthetic", &cfg, &dir.join("straight"), false).unwrap();
    let first =
        train(&samples, "synthetic", &TrainConfig { stop_after: Some(1), ..cfg.clone() }, &dir.join("resumed"), false)
            .unwrap();
    assert_eq!(first.epoch_loss.len(), 1);
    let rest = train(&samples, "synthetic", &cfg, &dir.join("resumed"), true).unwrap();
    assert_eq!(rest.epoch_loss.len(), 2, "epochs 2 and 3 ran after the resume");
    assert_eq!(straight.epoch_loss[0], first.epoch_loss[0]);
    assert_eq!(&straight.epoch_loss[1..], &rest.epoch_loss[..], "same losses after the resume");
    for file in ["weights.ot", "optimizer.ot"] {
        let (a, b) = (load(&dir.join("straight").join(file)), load(&dir.join("resumed").join(file)));
        assert_eq!(a.len(), b.len());
        for (name, t) in &a {
            let diff = (t - &b[name]).abs().max().double_value(&[]);
            assert!(diff == 0.0, "{file}: `{name}` differs by {diff}");
        }
    }
    let metrics = std::fs::read_to_string(dir.join("resumed/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "header and three epochs:\n{metrics}");
}
