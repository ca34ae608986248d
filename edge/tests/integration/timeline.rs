//! File sources run on their own timeline (frame n at n / fps), however fast facecam
//! reads them; live sources keep the wall clock (edge::source::clock).

use crate::common::{facecam, mjpeg_file, paced_pipe, root, scratch};
use serde_json::Value;

fn lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn jpgs_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "jpg"))
        .count()
}

#[test]
fn capture_every_half_second_of_an_8_second_file_saves_16_pictures() {
    let dir = scratch("timeline-capture");
    // 8 s at 10 fps: 80 frames, read in far less than 8 s.
    let file = mjpeg_file(&dir, 80);
    let source = format!("mjpeg:{}", file.display());
    let out = dir.join("out");
    let (ok, _, stderr) =
        facecam(&["capture", "--source", &source, "--fps", "10", "--every", "0.5", "--out", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(jpgs_in(&out), 16, "one picture per 0.5 s of the file's 8 s: {stderr}");
    // Without --fps an MJPEG file runs at 30 fps: 80 frames are 2.67 s, 6 pictures.
    let out = dir.join("out30");
    let (ok, _, stderr) = facecam(&["capture", "--source", &source, "--every", "0.5", "--out", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(jpgs_in(&out), 6, "{stderr}");
}

#[test]
fn a_replay_times_events_by_the_file_not_by_processing() {
    let dir = scratch("timeline-replay");
    // The astronaut for 50 frames, then the cat: one face, in view for 50 frames.
    let file = mjpeg_file(&dir, 80);
    let source = format!("mjpeg:{}", file.display());
    let args = ["run", "--source", &source, "--fps", "5", "--sink", "json", "--min-face-seconds", "2"];
    let (ok, stdout, stderr) = facecam(&args);
    assert!(ok, "{stderr}");
    let lines = lines(&stdout);
    let frames: Vec<&Value> = lines.iter().filter(|l| l["type"] == "frame").collect();
    let times: Vec<f64> = frames.iter().map(|f| f["time"].as_f64().unwrap()).collect();
    assert!((times[79] - times[0] - 79.0 / 5.0).abs() < 1e-3, "frame 79 at 5 fps is 15.8 s after frame 0");
    // The astronaut's face is track 1 (the model takes the cat for a face later on).
    let seen: Vec<u64> = frames
        .iter()
        .filter(|f| f["faces"].as_array().unwrap().iter().any(|face| face["id"] == 1))
        .map(|f| f["seq"].as_u64().unwrap())
        .collect();
    let left = lines.iter().find(|l| l["type"] == "face_left" && l["face"]["id"] == 1).expect("track 1 leaves");
    // First to last sight, on the file's clock: the frames in between over the rate.
    let (first, last) = (seen[0], *seen.last().unwrap());
    let duration = left["duration_s"].as_f64().unwrap();
    assert!((duration - (last - first) as f64 / 5.0).abs() < 1e-3, "{duration} s for frames {first}..={last}");
    assert!((9.0..=11.0).contains(&duration), "the face is in view about 50 frames / 5 fps: {duration}");
    // Announced once 2 s of the file had passed (10 frames), however fast they were read.
    let appeared = lines.iter().find(|l| l["type"] == "face_appeared").unwrap();
    let at = appeared["time"].as_f64().unwrap() - times[first as usize];
    assert!((2.0..2.5).contains(&at), "appeared {at} s after first sight: {appeared}");
}

#[test]
fn images_run_at_one_picture_a_second_unless_told() {
    let (ok, stdout, stderr) = facecam(&["run", "--source", "images:samples", "--sink", "json"]);
    assert!(ok, "{stderr}");
    let times: Vec<f64> =
        lines(&stdout).iter().filter(|l| l["type"] == "frame").map(|f| f["time"].as_f64().unwrap()).collect();
    assert_eq!(times.len(), 2, "{stdout}");
    assert!((times[1] - times[0] - 1.0).abs() < 1e-3, "{times:?}");
    let (ok, stdout, stderr) = facecam(&["run", "--source", "images:samples", "--fps", "0.25", "--sink", "json"]);
    assert!(ok, "{stderr}");
    let times: Vec<f64> =
        lines(&stdout).iter().filter(|l| l["type"] == "frame").map(|f| f["time"].as_f64().unwrap()).collect();
    assert!((times[1] - times[0] - 4.0).abs() < 1e-3, "{times:?}");
}

#[test]
fn a_live_source_keeps_the_wall_clock() {
    let dir = scratch("timeline-live");
    // A pipe sending a frame every 0.1 s: its frames are timed as they arrive.
    let pipe = paced_pipe(&dir, 20, 0.1);
    let (ok, stdout, stderr) = facecam(&["run", "--source", &pipe, "--sink", "json", "--frames", "15"]);
    assert!(ok, "{stderr}");
    let frames: Vec<Value> = lines(&stdout).into_iter().filter(|l| l["type"] == "frame").collect();
    let (first, last) = (&frames[0], frames.last().unwrap());
    let span = last["time"].as_f64().unwrap() - first["time"].as_f64().unwrap();
    let seqs = last["seq"].as_u64().unwrap() - first["seq"].as_u64().unwrap();
    // At least the pipe's pace (0.1 s a frame, less a little for scheduling), never the
    // 1/30 s a file would be timed at.
    assert!(span >= seqs as f64 * 0.05, "{span} s for {seqs} frames: the wall clock");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - last["time"].as_f64().unwrap()).abs() < 60.0, "wall-clock times");
}

#[test]
fn fps_is_checked_and_refused_for_live_sources() {
    for bad in ["0", "-1", "nan", "fast", "1001"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_facecam"))
            .args(["run", "--source", "images:samples", "--fps", bad, "--sink", "none"])
            .current_dir(root())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--fps {bad}: {err}");
        // clap reads `-1` as a flag of its own: a usage error all the same.
        assert!(err.contains("--fps") || bad == "-1", "{err}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_facecam"))
        .args(["run", "--source", "pattern", "--fps", "5", "--sink", "none", "--frames", "1"])
        .current_dir(root())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim(),
        "error: --fps 5: source `pattern` is live and runs on the wall clock; --fps times mjpeg:FILE and images:"
    );
}
