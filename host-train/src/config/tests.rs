//! The training settings: out-of-range values are refused, and the rate schedules (recipe
//! files: the recipe module's tests).

use super::*;

#[test]
fn out_of_range_settings_are_refused_naming_the_key() {
    assert!(TrainConfig::default().validate().is_ok());
    let bad = [
        TrainConfig { lr: f64::NAN, ..Default::default() },
        TrainConfig { lr: -1.0, ..Default::default() },
        TrainConfig { batch_size: 0, ..Default::default() },
        TrainConfig { epochs: 0, ..Default::default() },
        TrainConfig { net_width: 0.0, ..Default::default() },
        TrainConfig { near_iof: 2.0, ..Default::default() },
        TrainConfig { prior_sizes: Some(vec![vec![6.0]]), ..Default::default() },
        TrainConfig { prior_sizes: Some(vec![vec![0.5], vec![32.0], vec![64.0], vec![128.0]]), ..Default::default() },
    ];
    let keys = ["lr", "lr", "batch_size", "epochs", "net_width", "near_iof", "prior_sizes", "prior_sizes"];
    for (cfg, key) in bad.iter().zip(keys) {
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains(&format!("`{key}`")), "{err}");
    }
}

#[test]
fn learning_rate_warms_up_then_decays() {
    let cfg = TrainConfig { lr: 1.0, ..Default::default() };
    let lr = |s| cfg.learning_rate(s, 1000);
    assert!(lr(0) < lr(40));
    assert!((lr(50) - 1.0).abs() < 1e-3);
    assert!(lr(500) < lr(100));
    assert!((lr(999) - 0.02).abs() < 1e-3);
}

#[test]
fn step_schedule_cuts_at_its_milestones() {
    let cfg = TrainConfig {
        lr: 1.0,
        schedule: Schedule::Step,
        warmup_steps: Some(10),
        step_at: vec![0.5, 0.75],
        ..Default::default()
    };
    let lr = |s| cfg.learning_rate(s, 100);
    assert_eq!(lr(4), 0.5, "warming up");
    assert_eq!((lr(10), lr(49)), (1.0, 1.0));
    assert!((lr(50) - 0.1).abs() < 1e-12 && (lr(74) - 0.1).abs() < 1e-12);
    assert!((lr(75) - 0.01).abs() < 1e-12 && (lr(99) - 0.01).abs() < 1e-12);
}
