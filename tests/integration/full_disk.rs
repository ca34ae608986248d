//! A checkpoint save that runs out of space is an error, never an abort: `facecam-train`
//! exits 1 naming the checkpoint folder, leaves no partial files, and the previous
//! checkpoint set is whole (it exports and resumes). The space runs out for real: a
//! file-size limit (`ulimit -f`) with SIGXFSZ ignored, inherited through `exec`, makes the
//! kernel refuse writes past it with EFBIG, as a full disk refuses them with ENOSPC.

use facecam_tests::{bin, run, scratch};
use std::path::Path;
use std::process::{Command, Output};

/// Bytes per `ulimit -f` block of this system's `sh` (512 in POSIX shells, 1024 in bash).
fn ulimit_unit() -> u64 {
    let limits = run(Command::new("sh").args(["-c", "ulimit -f 2; exec cat /proc/self/limits"]));
    let line = limits.lines().find(|l| l.starts_with("Max file size")).expect("a file size limit");
    line.split_whitespace().nth(3).and_then(|b| b.parse::<u64>().ok()).expect("the limit in bytes") / 2
}

/// `facecam-train ARGS` with every file it writes limited to `bytes` (rounded down to
/// whole blocks).
fn limited(bytes: u64, args: &[String]) -> Output {
    let script = format!("trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"", bytes / ulimit_unit());
    Command::new("sh").arg("-c").arg(script).arg(bin("facecam-train")).args(args).output().unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn epochs_in(ckpt: &Path) -> u64 {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("state/meta.json")).unwrap()).expect("meta.json reads");
    meta["epochs"].as_u64().unwrap()
}

/// Fails with exit 1 (not an abort), `error: DIR: cannot save the checkpoint: …`.
fn assert_failed_saving(out: &Output, ckpt: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit 1, not an abort or a signal ({}): {stderr}", out.status);
    let says = format!("error: {}: cannot save the checkpoint: File too large", ckpt.display());
    assert!(stderr.contains(&says), "{stderr}");
}

/// `train` into `out` for 3 epochs of a tiny network: stopping after the first, or resuming.
fn train_args(data: &str, out: &Path, resume: bool) -> Vec<String> {
    let mut args = vec!["train", "--data", data, "--out", out.to_str().unwrap(), "--device", "cpu", "--epochs", "3"];
    args.extend(["--batch-size", "8", "--input-size", "96x72", "--width", "0.25", "--no-augment"]);
    args.extend(if resume { ["--resume"].as_slice() } else { ["--stop-after", "1"].as_slice() });
    args.into_iter().map(String::from).collect()
}

#[test]
fn a_save_that_runs_out_of_space_exits_1_and_keeps_the_previous_set() {
    let dir = scratch("full-disk");
    let synth = ["synth", "--count", "8", "--size", "128x96", "--out"];
    run(Command::new(bin("facecam-train")).args(synth).arg(dir.join("data")));
    let data = format!("labelme:{}", dir.join("data").display());
    let ckpt = dir.join("ckpt");
    run(Command::new(bin("facecam-train")).args(train_args(&data, &ckpt, false)));
    let size = |name: &str| std::fs::metadata(ckpt.join("state").join(name)).unwrap().len();
    let (weights, optimizer) = (size("weights.ot"), size("optimizer.ot"));
    assert!(optimizer > weights + 4096, "Adam's two moments outweigh the weights: {optimizer} vs {weights}");

    // Epoch 2's save: its weights fit under the limit, its optimiser state does not.
    let out = limited((weights + optimizer) / 2, &train_args(&data, &ckpt, true));
    assert_failed_saving(&out, &ckpt);
    assert_eq!(names(&ckpt), ["loss.png", "metrics.csv", "state"], "no partial set or temporary file is left");
    assert_eq!(names(&ckpt.join("state")), ["meta.json", "optimizer.ot", "weights.ot"]);
    assert_eq!(epochs_in(&ckpt), 1, "the previous set is the checkpoint");
    run(Command::new(bin("facecam-train"))
        .arg("export")
        .arg("--checkpoint")
        .arg(&ckpt)
        .arg("--out")
        .arg(dir.join("m.onnx")));
    run(Command::new(bin("facecam-train")).args(train_args(&data, &ckpt, true)));
    assert_eq!(epochs_in(&ckpt), 3, "the previous set resumes");

    // The first save of a run fails: nothing of a checkpoint is left.
    let first = dir.join("first");
    let out = limited(weights / 2, &train_args(&data, &first, false));
    assert_failed_saving(&out, &first);
    assert!(names(&first).is_empty(), "{:?}", names(&first));
}
