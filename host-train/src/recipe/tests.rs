//! The table loader: keys land in their fields, errors carry line:column, ranges are
//! checked by table and key, phases and relative paths, and `config --print` reads back
//! as the defaults.

use super::*;
use crate::augment::AugmentConfig;
use crate::config::{OptimizerKind, Schedule};
use crate::net::Arch;

fn err(text: &str) -> String {
    format!("{:#}", parse(text, Path::new("r")).unwrap_err())
}

#[test]
fn tables_set_their_keys_and_data_paths_follow_the_recipe() {
    let text = r#"
[data]
sources = [{ spec = "wider:../w@train", weight = 3 }, { spec = "voc:/abs/mask" }]
val = ["wider:../w@val"]
exclude = "holdout.txt"
proxy_every = 2
[net]
arch = "rfb"
width = 0.5
input_size = [160, 120]
init = "../runs/x"
[target]
min_face_px = 3.0
[optim]
epochs = 7
optimizer = "sgd"
schedule = "step"
[augment]
crop = 0.25
"#;
    let r = parse(text, Path::new("recipes")).unwrap();
    let t = &r.train;
    assert_eq!((t.arch, t.net_width, t.width, t.height), (Arch::Rfb, 0.5, 160, 120));
    assert_eq!((t.epochs, t.optimizer, t.schedule, t.min_face_px), (7, OptimizerKind::Sgd, Schedule::Step, 3.0));
    assert_eq!((t.augment.crop, t.lr), (0.25, TrainConfig::default().lr));
    assert_eq!(t.init.as_deref(), Some(Path::new("recipes/../runs/x")));
    assert_eq!(
        r.data.sources,
        ["wider:recipes/../w@train"; 3].into_iter().chain(["voc:/abs/mask"]).collect::<Vec<_>>()
    );
    assert_eq!(r.data.val, ["wider:recipes/../w@val"]);
    assert_eq!(r.data.exclude.as_deref(), Some(Path::new("recipes/holdout.txt")));
    assert_eq!(r.data.proxy_every, Some(2));
    assert_eq!(r.given, ["arch", "net_width", "input_size", "min_face_px"]);
}

#[test]
fn unknown_keys_and_bad_values_are_refused_at_their_line_and_column() {
    assert!(
        err("[optim]\nepochs = 3\nlearning_rate = 1\n").starts_with("3:1: unknown field `learning_rate`"),
        "{}",
        err("[optim]\nepochs = 3\nlearning_rate = 1\n")
    );
    assert!(err("[nett]\narch = \"slim\"\n").starts_with("1:2: unknown field `nett`"), "{}", err("[nett]\n"));
    assert!(
        err("[net]\narch = \"big\"\n").starts_with("2:8: unknown variant `big`"),
        "{}",
        err("[net]\narch = \"big\"\n")
    );
    let flat = err("net_width = 0.5\n");
    assert!(flat.starts_with("1:1: unknown field `net_width`"), "flat recipes are refused: {flat}");
    assert!(
        flat.ends_with(
            "; it belongs in [net] as `width` (recipes are written in tables: `facecam-train config --print`)"
        ),
        "{flat}"
    );
    assert_eq!(err("[optim]\nbatch_size = 8\n  lr = -1.0\n"), "3:3: `optim.lr` = -1: must be above 0 and at most 10");
    assert_eq!(err("[target]\nnear_iof = 2.0\n"), "2:1: `target.near_iof` = 2: must be in [0, 1] (0: off)");
    assert_eq!(err("[augment]\ncrop = 1.5\n"), "2:1: `augment.crop` = 1.5: must be a probability in [0, 1]");
    assert_eq!(
        err("[data]\nsources = [{ spec = \"voc:x\", weight = 0 }]\n"),
        " `data.sources[0].weight` = 0: must be 1..=16"
    );
    assert!(err("[data]\nsources = [{ spec = \"nonsense\" }]\n").starts_with(" `data.sources[0]`: \"nonsense\""));
    assert!(err("[data]\nproxy_every = 0\n").contains("`data.proxy_every` = 0: must be 1..=1000"));
}

#[test]
fn phases_sum_their_epochs_and_override_augment_keys() {
    let text = "[augment]\nflip = 0.25\n[[phase]]\nname = \"crops\"\nepochs = 4\n[[phase]]\nepochs = 2\n\
                [phase.augment]\ncrop = 0.0\nexpand = 0.0\n";
    let t = parse(text, Path::new(".")).unwrap().train;
    assert_eq!(t.epochs, 6);
    assert_eq!(
        t.phases.iter().map(|p| (p.name.as_str(), p.epochs)).collect::<Vec<_>>(),
        [("crops", 4), ("phase 2", 2)]
    );
    assert_eq!(t.augment_at(1).crop, AugmentConfig::default().crop);
    assert_eq!((t.augment_at(5).crop, t.augment_at(5).expand, t.augment_at(5).flip), (0.0, 0.0, 0.25));
    assert_eq!(err("[[phase]]\nname = \"a\"\n"), " `phase` 1 (a): needs `epochs`");
    assert!(
        err("[optim]\nepochs = 5\n[[phase]]\nepochs = 4\n").contains("`optim.epochs` = 5, but the phases add up to 4")
    );
    let bad = "[[phase]]\nepochs = 2\n[phase.augment]\nflip = 3.0\n";
    assert_eq!(err(bad), "4:1: phase `phase 1`: `augment.flip` = 3: must be a probability in [0, 1]");
}

#[test]
fn the_printed_defaults_read_back_as_the_defaults_and_name_every_key() {
    let text = print::defaults();
    let r = parse(&text, Path::new(".")).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    assert_eq!(r.train, TrainConfig::default());
    assert_eq!(r.data, DataRecipe::default());
    for key in keys::KEYS {
        assert!(
            text.contains(&format!("\n{} = ", key.key)) || text.contains(&format!("\n# {} = ", key.key)),
            "{}",
            key.key
        );
    }
}

#[test]
fn a_checkpoints_network_fills_what_the_recipe_leaves_out_and_differences_are_named() {
    let ckpt = TrainConfig {
        prior_sizes: Some(vec![vec![4.0], vec![6.0], vec![32.0], vec![64.0], vec![128.0]]),
        stride4_context: true,
        stride8_context: true,
        min_face_px: 3.0,
        ..TrainConfig::default()
    };
    let mut run = parse("[optim]\nepochs = 2\n", Path::new(".")).unwrap();
    let taken = inherit(&mut run.train, &ckpt, &run.given);
    assert_eq!(taken, ["prior_sizes", "stride4_context", "stride8_context", "min_face_px"]);
    assert!(net_diff(&ckpt, &run.train).is_empty());
    let mut run = parse("[net]\nstride8_context = false\n", Path::new(".")).unwrap();
    inherit(&mut run.train, &ckpt, &run.given);
    assert_eq!(net_diff(&ckpt, &run.train), ["net.stride8_context: checkpoint true, recipe false"]);
}

/// Every detector recipe in recipes/ and recipes/history/ reads, and its `init` exists.
#[test]
fn every_committed_detector_recipe_reads_and_its_init_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut read = 0;
    for dir in ["recipes", "recipes/history"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            // facemask.toml is the classifier's (`facecam-train classify`), not a detector's.
            if path.extension().is_none_or(|e| e != "toml") || path.ends_with("facemask.toml") {
                continue;
            }
            let r = load(&path).unwrap_or_else(|e| panic!("{e:#}"));
            if let Some(init) = &r.train.init {
                assert!(
                    init.join("meta.json").is_file() || init.join("state/meta.json").is_file(),
                    "{}: init {} is missing",
                    path.display(),
                    init.display()
                );
            }
            read += 1;
        }
    }
    assert!(read >= 18, "only {read} recipes found");
}

/// recipes/facecam.toml builds the network of models/facecam.ckpt (the shipped one) and
/// teaches by its rule, from its 320x240 input.
#[test]
fn the_one_recipe_builds_the_shipped_network() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shipped = crate::checkpoint::read_meta(&root.join("models/facecam.ckpt")).unwrap();
    assert_eq!(shipped.spec.name, "slim-1.00+s4+up+up8");
    let was = shipped.config.unwrap();
    let r = load(&root.join("recipes/facecam.toml")).unwrap();
    assert_eq!(net_diff(&was, &r.train), Vec::<String>::new());
    assert_eq!((r.train.match_rule(), r.train.iou_loss), (was.match_rule(), was.iou_loss));
    assert_eq!((r.train.width, r.train.height), (shipped.width, shipped.height));
    assert!(r.train.init.is_none(), "from random weights");
}
