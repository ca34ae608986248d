//! The command line's shared conventions, seen from outside: `-q` and `-v` change what
//! is logged, `FACECAM_LOG` filters, `--version` names the commit, completions and man
//! pages are written, usage errors exit 2.

use crate::common::{facecam, root, scratch};
use std::process::Command;

/// `facecam detect` on the astronaut at each verbosity: its stderr.
fn detect_stderr(flags: &[&str], log_env: Option<&str>) -> String {
    let out = scratch("cli-detect");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facecam"));
    cmd.current_dir(root()).args(flags).args(["detect", "samples/astronaut.png", "--out"]).arg(out.path());
    cmd.env_remove("FACECAM_LOG");
    if let Some(filter) = log_env {
        cmd.env("FACECAM_LOG", filter);
    }
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{flags:?}: {stderr}");
    assert!(out.path().join("detections.jsonl").is_file(), "{flags:?}: no detections written");
    stderr
}

/// The shipped model once drew a second box inside her face (IoU 0.24 with the face, so
/// NMS kept it); containment suppression (`edge::model::CONTAINMENT`) drops it.
#[test]
fn detect_finds_one_face_on_the_astronaut() {
    let out = scratch("cli-one-face");
    let (ok, _, stderr) = facecam(&["detect", "samples/astronaut.png", "--out", out.path().to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let line = std::fs::read_to_string(out.path().join("detections.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{line}");
    assert!(faces[0]["score"].as_f64().unwrap() > 0.99, "{line}");
}

#[test]
fn quiet_and_verbose_change_what_is_logged() {
    let normal = detect_stderr(&[], None);
    assert!(normal.contains("1 image(s), 1 face(s)"), "{normal}");
    assert!(!normal.contains("debug:"), "{normal}");

    let quiet = detect_stderr(&["-q"], None);
    assert!(quiet.trim().is_empty(), "-q should leave only warnings and errors: {quiet}");

    // -v after the subcommand works as well as before it.
    let verbose = detect_stderr(&["-v"], None);
    assert!(verbose.contains("debug: edge::detector: facecam's kernels in:"), "{verbose}");
    assert!(verbose.contains("1 image(s), 1 face(s)"), "{verbose}");
    assert!(!verbose.contains("tract_"), "-v is about facecam's own messages: {verbose}");

    // The environment's filter wins over the flags.
    let filtered = detect_stderr(&["-q"], Some("edge::detector=debug"));
    assert!(filtered.contains("facecam's kernels in:") && !filtered.contains("face(s)"), "{filtered}");
}

#[test]
fn the_version_names_the_commit_and_profile() {
    let (ok, stdout, stderr) = facecam(&["--version"]);
    assert!(ok, "{stderr}");
    let line = stdout.trim();
    assert!(line.starts_with(&format!("facecam {} (", env!("CARGO_PKG_VERSION"))), "{line}");
    assert!(line.ends_with(", debug)") || line.ends_with(", release)"), "{line}");
}

#[test]
fn completions_and_man_pages_are_written() {
    for shell in ["bash", "zsh", "fish"] {
        let (ok, script, stderr) = facecam(&["completions", shell]);
        assert!(ok && script.contains("facecam") && script.contains("threshold"), "{shell}: {stderr}");
    }
    let dir = scratch("cli-man");
    let (ok, _, stderr) = facecam(&["man-pages", dir.path().to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let page = std::fs::read_to_string(dir.path().join("facecam-detect.1")).unwrap();
    assert!(page.starts_with(".ie") || page.contains(".TH facecam-detect"), "{page}");
    assert!(page.contains("threshold"), "{page}");
    let (ok, _, stderr) = facecam(&["completions", "tcsh"]);
    assert!(!ok && stderr.contains("tcsh"), "{stderr}");
}

#[test]
fn usage_errors_exit_2_and_failures_1() {
    let code = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_facecam")).current_dir(root()).args(args).output().unwrap().status.code()
    };
    assert_eq!(code(&["detect", "samples/astronaut.png", "--threshold", "NaN"]), Some(2));
    assert_eq!(code(&["run", "--sink", "nope:x"]), Some(2));
    assert_eq!(code(&["capture", "--crops", "--class", "../evil", "--source", "pattern"]), Some(2));
    assert_eq!(code(&["-v", "-q", "devices"]), Some(2), "-v and -q conflict");
    assert_eq!(code(&["card", "no-such-model.onnx"]), Some(1));
}

#[test]
fn detect_never_writes_over_the_photo_it_reads() {
    let dir = scratch("cli-same-dir");
    let photo = dir.path().join("photo.png");
    std::fs::copy(root().join("samples/astronaut.png"), &photo).unwrap();
    let before = std::fs::read(&photo).unwrap();
    let (ok, _, stderr) = facecam(&["detect", photo.to_str().unwrap(), "--out", dir.path().to_str().unwrap()]);
    assert!(!ok && stderr.contains("would replace the input"), "{stderr}");
    assert_eq!(std::fs::read(&photo).unwrap(), before, "the photo was replaced");
    assert!(!dir.path().join("detections.jsonl").exists(), "half an output was left");
}
