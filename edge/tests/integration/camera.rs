//! The `facecam` binary end to end on this machine's stand-ins for a camera and a
//! screen: an MJPEG file made from the sample photos as the source, a file laid out
//! like a framebuffer as the display. The shipped model does the detecting.

use crate::common::{facecam, mjpeg_file as stream, root, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn run_from_an_mjpeg_file_to_a_framebuffer_file_tracks_the_face() {
    let dir = scratch("run");
    let mjpeg = stream(&dir, 30);
    let fb = dir.join("fb0");
    std::fs::write(&fb, vec![0u8; 960 * 540 * 4]).unwrap();
    let source = format!("mjpeg:{}", mjpeg.display());
    let screen = format!("fbfile:{}@960x540@32", fb.display());
    let (ok, stdout, stderr) = facecam(&[
        "run",
        "--source",
        &source,
        "--sink",
        &screen,
        "--sink",
        "json",
        "--sticker",
        "sunglasses",
        "--keep-screen",
    ]);
    assert!(ok, "{stderr}");
    // Frame lines; face events are lines of their own (with an `event` field).
    let frames: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("event").is_none())
        .collect();
    assert_eq!(frames.len(), 30, "a file source loses no frame");
    // The astronaut is in every frame: one face, one track id all along.
    let ids: Vec<u64> = frames.iter().filter_map(|f| f["faces"].get(0)?["id"].as_u64()).collect();
    assert!(ids.len() >= 27, "face found in {} of 30 frames", ids.len());
    assert!(ids.iter().all(|&id| id == ids[0]), "one identity: {ids:?}");
    // The screen shows the last 4:3 frame pillarboxed into 16:9: bars black, picture not.
    let (ok, _, stderr) = facecam(&["screenshot", "--sink", &screen, dir.join("shot.png").to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let shot = image::open(dir.join("shot.png")).unwrap().to_rgb8();
    assert_eq!(shot.dimensions(), (960, 540));
    assert_eq!(shot.get_pixel(10, 270).0, [0, 0, 0], "pillarbox bar");
    let lit = shot.pixels().filter(|p| p.0.iter().any(|&c| c > 40)).count();
    assert!(lit > 720 * 540 / 2, "picture shown: {lit} lit pixels");
    // Without --keep-screen the display is given back as it was found (here: black).
    let (ok, _, stderr) = facecam(&["run", "--source", &source, "--sink", &screen, "--frames", "3"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = facecam(&["screenshot", "--sink", &screen, dir.join("after.png").to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let after = image::open(dir.join("after.png")).unwrap().to_rgb8();
    assert_eq!(after, shot, "restored to what the previous run left");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn privacy_blur_hides_the_face_and_keeps_the_rest() {
    let dir = scratch("privacy");
    let out = dir.join("frames");
    let sink = format!("png:{}", out.display());
    let (ok, stdout, stderr) = facecam(&[
        "run",
        "--source",
        "images:samples/astronaut.png",
        "--sink",
        &sink,
        "--sink",
        "json",
        "--privacy",
        "blur",
        "--no-boxes",
        "--no-hud",
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let b = &report["faces"][0]["box"];
    let (x0, y0, x1, y1) =
        (b["x0"].as_f64().unwrap(), b["y0"].as_f64().unwrap(), b["x1"].as_f64().unwrap(), b["y1"].as_f64().unwrap());
    let original = image::open(root().join("samples/astronaut.png")).unwrap().to_rgb8();
    let shown = image::open(out.join("frame-000000.png")).unwrap().to_rgb8();
    // Detail (neighbour differences) inside the face box collapses; far away nothing changes.
    let detail = |img: &image::RgbImage, xa: u32, ya: u32, xb: u32, yb: u32| {
        let mut sum = 0.0;
        for y in ya..yb {
            for x in xa..xb - 1 {
                sum += (img.get_pixel(x, y).0[1] as f64 - img.get_pixel(x + 1, y).0[1] as f64).abs();
            }
        }
        sum / ((xb - xa - 1) * (yb - ya)) as f64
    };
    let (xa, ya, xb, yb) = (
        (x0 + 0.2 * (x1 - x0)) as u32,
        (y0 + 0.2 * (y1 - y0)) as u32,
        (x1 - 0.2 * (x1 - x0)) as u32,
        (y1 - 0.2 * (y1 - y0)) as u32,
    );
    let (before, after) = (detail(&original, xa, ya, xb, yb), detail(&shown, xa, ya, xb, yb));
    assert!(after < before * 0.3, "face detail {before:.2} → {after:.2}");
    assert_eq!(original.get_pixel(5, 500), shown.get_pixel(5, 500), "far from the face: untouched");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn capture_writes_pictures_with_prelabelled_labelme_json() {
    let dir = scratch("capture");
    let out = dir.join("captures");
    let (ok, _, stderr) =
        facecam(&["capture", "--source", "images:samples", "--out", out.to_str().unwrap(), "--every", "0", "--label"]);
    assert!(ok, "{stderr}");
    let mut jsons: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    jsons.sort();
    assert_eq!(jsons.len(), 2, "one per sample photo");
    let mut faces = 0;
    for j in &jsons {
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(j).unwrap()).unwrap();
        assert!(j.with_extension("jpg").is_file());
        assert_eq!(doc["imagePath"].as_str().unwrap(), j.with_extension("jpg").file_name().unwrap().to_str().unwrap());
        faces += doc["shapes"].as_array().unwrap().len();
    }
    assert!(faces >= 1, "the astronaut's face is pre-labelled");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One rule for exit codes: a usage error (a value that cannot be right) exits 2, as
/// clap's own do; a runtime failure exits 1, and so does a run with nothing done.
#[test]
fn usage_errors_exit_2_and_failures_1() {
    let code = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_facecam")).args(args).current_dir(root()).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    for args in [
        &["run", "--source", "webcam", "--sink", "none"][..],
        &["run", "--source", "pattern", "--sink", "tv"],
        &["run", "--source", "pattern", "--sink", "none", "--threads", "0"],
        &["detect", "samples", "--threshold", "2"],
        &["capture", "--source", "pattern", "--crops", "--class", "a", "--margin", "-1"],
    ] {
        let (status, stderr) = code(args);
        assert_eq!(status, Some(2), "{args:?}: {stderr}");
    }
    for args in [
        &["run", "--source", "pipe:true", "--sink", "none"][..],
        &["run", "--source", "mjpeg:/nonexistent/cam.mjpeg", "--sink", "none"],
        &["detect", "/nonexistent/photos"],
    ] {
        let (status, stderr) = code(args);
        assert_eq!(status, Some(1), "{args:?}: {stderr}");
    }
    let (_, stderr) = code(&["run", "--source", "pipe:true", "--sink", "none"]);
    assert!(stderr.contains("without a single frame"), "{stderr}");
}

#[test]
fn bad_input_gets_a_clear_error_not_a_panic() {
    let cases: [(&[&str], &str); 8] = [
        (&["run", "--source", "mjpeg:/nonexistent/cam.mjpeg", "--sink", "none"], "/nonexistent/cam.mjpeg"),
        (&["run", "--source", "webcam", "--sink", "none"], "expected v4l2:"),
        (&["run", "--source", "pattern", "--sink", "fbfile:/nonexistent/fb@10x10@32"], "/nonexistent/fb"),
        (&["run", "--source", "pattern", "--sink", "tv"], "is not a sink kind (fb, fbfile"),
        (&["run", "--source", "pattern", "--sink", "none", "--sticker", "moustache"], "sunglasses"),
        (&["run", "--source", "pattern", "--sink", "none", "--privacy", "blurr"], "expected pixelate or blur"),
        (&["run", "--source", "pattern", "--sink", "none", "--privacy", "known=none"], "a class needs --classifier"),
        (
            &[
                "run",
                "--source",
                "pattern",
                "--sink",
                "none",
                "--classifier",
                "models/facemask.onnx",
                "--privacy",
                "blur",
                "--privacy",
                "knwon=none",
            ],
            "`knwon` is not one of the classifier's classes: con_mascarilla, mascarilla_mal_puesta, sin_mascarilla",
        ),
    ];
    for (args, needle) in cases {
        let (ok, _, stderr) = facecam(args);
        assert!(!ok, "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_camera_pipe_does_not_outlive_the_run() {
    let dir = scratch("pipe-exit");
    let mjpeg = stream(&dir, 10);
    let pid_file = dir.join("pipe.pid");
    // A live pipe that never ends, like `rpicam-vid -t 0`; it records its shell's pid.
    let source =
        format!("pipe:echo $$ > '{}'; while :; do cat '{}'; sleep 0.2; done", pid_file.display(), mjpeg.display());
    let (ok, _, stderr) = facecam(&["run", "--source", &source, "--sink", "none", "--frames", "5"]);
    assert!(ok, "{stderr}");
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let alive = Path::new("/proc").join(&pid).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ");
    assert!(!alive, "the pipe's shell (pid {pid}) still runs after facecam exited");
}

/// The short soak CI runs: 1,000 frames (corrupt ones among them) through the whole loop,
/// memory sampled every 100; after warm-up it may wobble but not grow. (The long soak,
/// 100,000 frames, is in docs/RELIABILITY.md.)
#[test]
fn a_short_soak_keeps_memory_flat() {
    let dir = scratch("soak");
    let report = dir.join("soak.json");
    #[rustfmt::skip]
    let (ok, stdout, stderr) = facecam(&[
        "soak", "--frames", "1000", "--every", "100", "--json", report.to_str().unwrap(),
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let shown = r["frames"].as_u64().unwrap();
    let corrupt = r["corrupt"].as_u64().unwrap();
    assert!(corrupt >= 10 && shown + corrupt >= 1000, "{r}");
    let rss: Vec<f64> = r["samples"].as_array().unwrap().iter().map(|s| s[1].as_f64().unwrap()).collect();
    assert!(rss.len() >= 9, "{r}");
    let settled = &rss[2..];
    let (lo, hi) = settled.iter().fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi - lo < 16.0, "VmRSS grew from {lo:.1} to {hi:.1} MiB: {rss:?}");
}
