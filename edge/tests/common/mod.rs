//! What the end-to-end tests of the network sinks share: paths, scratch folders and a
//! camera stand-in that delivers frames at a camera's pace.

use std::path::{Path, PathBuf};

/// The repository root (where `facecam` finds its model and samples).
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// An empty scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("facecam-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `pipe:` source spec looping over `frames` frames panned across the sample photos
/// (the astronaut, then the cat: a face appears and leaves every cycle), one JPEG every
/// `gap_s` seconds like a live camera (a live source keeps only the newest frame).
pub fn paced_pipe(dir: &Path, frames: u32, gap_s: f64) -> String {
    let jpegs = edge::bench::make_stream(&root().join("samples"), frames).unwrap();
    for (i, jpeg) in jpegs.iter().enumerate() {
        std::fs::write(dir.join(format!("frame-{i:03}.jpg")), jpeg).unwrap();
    }
    format!("pipe:while :; do for f in '{}'/frame-*.jpg; do cat \"$f\"; sleep {gap_s}; done; done", dir.display())
}
