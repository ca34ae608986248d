//! The training settings: every committed recipe reads, unknown keys and out-of-range values are refused, and the rate schedules.

use super::*;

#[test]
fn every_committed_detector_recipe_reads_and_its_init_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut read = 0;
    for entry in std::fs::read_dir(root.join("recipes")).unwrap() {
        let path = entry.unwrap().path();
        // facemask.toml is the classifier's (`facecam-train classify`), not a detector's.
        if path.extension().is_none_or(|e| e != "toml") || path.ends_with("facemask.toml") {
            continue;
        }
        let cfg = TrainConfig::from_toml_file(&path).unwrap_or_else(|e| panic!("{e:#}"));
        if let Some(init) = &cfg.init {
            assert!(
                root.join(init).join("meta.json").is_file(),
                "{}: init {} is not committed",
                path.display(),
                init.display()
            );
        }
        read += 1;
    }
    assert!(read >= 10, "only {read} recipes found");
}

#[test]
fn toml_configs_read_and_unknown_keys_are_refused() {
    let dir = std::env::temp_dir().join(format!("facecam-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "epochs = 7\noptimizer = \"sgd\"\narch = \"rfb\"\nschedule = \"step\"\n[augment]\ncrop = 0.0\n",
    )
    .unwrap();
    let cfg = TrainConfig::from_toml_file(&good).unwrap();
    assert_eq!((cfg.epochs, cfg.optimizer, cfg.augment.crop), (7, OptimizerKind::Sgd, 0.0));
    assert_eq!((cfg.arch, cfg.schedule), (Arch::Rfb, Schedule::Step));
    assert_eq!(cfg.lr, TrainConfig::default().lr);
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "epochs = 7\nlearning_rate = 1\n").unwrap();
    let err = format!("{:#}", TrainConfig::from_toml_file(&bad).unwrap_err());
    assert!(err.contains("bad.toml") && err.contains("learning_rate"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

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
