//! Recipes in tables, end to end through `facecam-train`: a tiny model trained from a
//! recipe file (data relative to it, two phases), fine-tuned from its checkpoint with
//! no recipe (the network read from the checkpoint), the message when a recipe asks for
//! another network, and `config --print` reading back as the defaults.

use facecam_tests::{bin, repo_root, run, scratch};
use host_train::checkpoint::read_meta;
use host_train::config::TrainConfig;
use std::path::Path;
use std::process::Command;

fn train(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(bin("facecam-train")).current_dir(dir).arg("train").args(args).output().unwrap()
}

#[test]
fn a_recipe_trains_and_its_checkpoint_fine_tunes_with_its_own_network() {
    let dir = scratch("recipe-tables");
    run(Command::new(bin("facecam-train"))
        .args(["synth", "--count", "6", "--seed", "4", "--out"])
        .arg(dir.join("data")));
    std::fs::create_dir_all(dir.join("r")).unwrap();
    let recipe = "[data]\nsources = [{ spec = \"labelme:../data\", weight = 2 }]\n\
                  [net]\nwidth = 0.25\ninput_size = [160, 120]\nstride8_context = true\n\
                  [target]\nmin_face_px = 3.0\n[optim]\nbatch_size = 4\n[run]\ndevice = \"cpu\"\n\
                  [[phase]]\nname = \"crops\"\nepochs = 1\n[[phase]]\nepochs = 1\n[phase.augment]\ncrop = 0.0\n";
    std::fs::write(dir.join("r/tiny.toml"), recipe).unwrap();
    // Run from another folder: the data path is the recipe's folder's.
    let out = train(&["--config", "r/tiny.toml", "--out", "ck", "--export", "tiny.onnx"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The card names the recipe, and its settings read back as one.
    let card: serde_json::Value =
        serde_json::from_str(&run(Command::new(bin("facecam")).arg("card").arg(dir.join("tiny.onnx")))).unwrap();
    let recipe = card["provenance"]["recipe"].as_str().unwrap();
    assert!(recipe.starts_with("# recipe: r/tiny.toml\n"), "{recipe}");
    let again = host_train::recipe::parse(recipe, &dir).unwrap();
    assert_eq!((again.train.phases.len(), again.train.net_width, again.train.stride8_context), (2, 0.25, true));
    let meta = read_meta(&dir.join("ck")).unwrap();
    let cfg = meta.config.as_ref().unwrap();
    assert_eq!((meta.epochs, cfg.phases.len(), cfg.phases[1].augment.crop), (2, 2, 0.0));
    assert!(meta.spec.name.ends_with("+up8"), "{}", meta.spec.name);
    assert_eq!(meta.data.split(' ').count(), 2, "the source twice: {}", meta.data);

    // No recipe: the network, input size and target rule are the checkpoint's.
    let data = format!("labelme:{}", dir.join("data").display());
    let out = train(&["--init", "ck", "--data", &data, "--epochs", "1", "--device", "cpu", "--out", "ft"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ft = read_meta(&dir.join("ft")).unwrap();
    assert_eq!((ft.spec, ft.width, ft.height), (meta.spec.clone(), 160, 120));
    assert_eq!(ft.config.unwrap().min_face_px, 3.0);

    // A recipe that says otherwise is told which keys differ and what fixes it.
    std::fs::write(dir.join("r/other.toml"), "[net]\nstride8_context = false\n[optim]\nepochs = 1\n").unwrap();
    let out = train(&["--init", "ck", "--config", "r/other.toml", "--data", &data, "--out", "ft2"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error = stderr.lines().filter(|l| l.starts_with("error:")).collect::<Vec<_>>();
    assert_eq!(error.len(), 1, "one error line: {stderr}");
    assert!(
        error[0].starts_with("error: ck: `init` holds slim-0.25+up8, not this run's slim-0.25 (net.stride8_context: checkpoint true, recipe false): drop these keys from the recipe"),
        "{stderr}"
    );
    assert!(!dir.join("ft2").join("meta.json").exists() && !dir.join("ft2/state").exists());
}

#[test]
fn config_print_reads_back_as_the_defaults_and_check_names_the_place() {
    let dir = scratch("recipe-print");
    let text = run(Command::new(bin("facecam-train")).args(["config", "--print"]));
    std::fs::write(dir.join("defaults.toml"), &text).unwrap();
    let recipe = host_train::recipe::load(&dir.join("defaults.toml")).unwrap();
    assert_eq!(recipe.train, TrainConfig { recipe_file: Some(dir.join("defaults.toml")), ..TrainConfig::default() });
    run(Command::new(bin("facecam-train")).args(["config", "--check"]).arg(dir.join("defaults.toml")));
    std::fs::write(dir.join("bad.toml"), "[optim]\nepochs = 3\nlearning_rate = 1\n").unwrap();
    let out =
        Command::new(bin("facecam-train")).args(["config", "--check"]).arg(dir.join("bad.toml")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a recipe's mistake is a usage error: {stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}:3:1: unknown field `learning_rate`", dir.join("bad.toml").display())),
        "{stderr}"
    ); // The classifier's recipe checks too: its tables are its own.
    let out = run(Command::new(bin("facecam-train"))
        .args(["config", "--check"])
        .arg(repo_root().join("recipes/facemask.toml")));
    assert!(out.contains("a valid classifier recipe") && out.contains("3 class display name(s)"), "{out}");
}
