//! What the integration tests share: paths, scratch folders ([`scratch`], which the tests
//! package's helpers use too), running the binary, and camera stand-ins (an MJPEG file, a
//! pipe that delivers frames at a camera's pace).

mod bounded;
mod scratch;

use std::path::{Path, PathBuf};

/// The repository root (where `facecam` finds its model and samples).
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

pub use bounded::run_within;
pub use scratch::{scratch, Scratch};

/// A `pipe:` source spec looping over `frames` frames panned across the sample photos
/// (the astronaut, then the cat: a face appears and leaves every cycle), one JPEG every
/// `gap_s` seconds like a live camera (a live source keeps only the newest frame).
pub fn paced_pipe(dir: &Path, frames: u32, gap_s: f64) -> String {
    let jpegs = edge::jobs::bench::make_stream(&root().join("samples"), frames).unwrap();
    for (i, jpeg) in jpegs.iter().enumerate() {
        std::fs::write(dir.join(format!("frame-{i:03}.jpg")), jpeg).unwrap();
    }
    format!("pipe:while :; do for f in '{}'/frame-*.jpg; do cat \"$f\"; sleep {gap_s}; done; done", dir.display())
}

/// Run `facecam` from the repository root; returns (success, stdout, stderr).
pub fn facecam(args: &[&str]) -> (bool, String, String) {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_facecam")).args(args).current_dir(root()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A 640x480 MJPEG file of `frames` frames panning across the sample photos.
pub fn mjpeg_file(dir: &Path, frames: u32) -> PathBuf {
    let jpegs = edge::jobs::bench::make_stream(&root().join("samples"), frames).unwrap();
    let path = dir.join("stream.mjpeg");
    std::fs::write(&path, jpegs.concat()).unwrap();
    path
}
