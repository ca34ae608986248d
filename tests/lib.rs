//! Helpers for facecam's end-to-end tests: where the built binaries, the shared data
//! and the Python peer (onnx + onnxruntime) are, and scratch folders ([`scratch`],
//! the edge crate's tests' own: `edge/tests/integration/common/scratch.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

// The edge crate's tests' scratch folders, the same file, so both packages have one helper.
#[path = "../edge/tests/integration/common/scratch.rs"]
mod scratch;
pub use scratch::{scratch, Scratch};

// Running a binary with a time bound, the same file as the edge crate's tests use.
#[path = "../edge/tests/integration/common/bounded.rs"]
mod bounded;
pub use bounded::{run_within, wait_within};

pub mod fuzz_targets;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repo").to_path_buf()
}

/// A built binary of the workspace (`facecam`, `facecam-train`). The test harness lives
/// in `target/PROFILE/deps`, the binaries one level up; `cargo build --bins` makes them.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/PROFILE");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

/// Run a command, panicking with its output when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `../shared/data` beside the repository, when present.
pub fn shared_data() -> Option<PathBuf> {
    let dir = repo_root().parent()?.join("shared").join("data");
    dir.join("widerface-subset").exists().then_some(dir)
}

/// A Python with `onnx` and `onnxruntime`: `FACECAM_PYTHON`, else `python3`. `None` when
/// neither has them, unless `FACECAM_REQUIRE_PEER=1` (as `make test` sets), which makes
/// their absence a failure.
pub fn python_peer() -> Option<PathBuf> {
    let py = std::env::var_os("FACECAM_PYTHON").map(PathBuf::from).unwrap_or_else(|| "python3".into());
    let ok = Command::new(&py).args(["-c", "import onnx, onnxruntime"]).output().is_ok_and(|o| o.status.success());
    let required = std::env::var("FACECAM_REQUIRE_PEER").is_ok_and(|v| v == "1");
    assert!(ok || !required, "{} lacks onnx/onnxruntime and FACECAM_REQUIRE_PEER=1", py.display());
    if !ok {
        eprintln!("NOTE: no Python with onnx + onnxruntime; the onnxruntime peer check is not run");
    }
    ok.then_some(py)
}

/// Held by the tests that seed libtorch's random generator and draw from it (training,
/// random weights): that generator is one per process, and all the tests run in one
/// process (the `integration` binary), so without it one test's seeding or draws could land
/// between another's and change its numbers (`resume` compares two trainings bit for bit).
pub fn torch_rng() -> MutexGuard<'static, ()> {
    static RNG: Mutex<()> = Mutex::new(());
    // A test that failed holding it poisons it; the others still run.
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// Write f32 values little-endian.
pub fn write_f32(path: &Path, values: &[f32]) {
    std::fs::write(path, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).expect("write f32 file");
}

/// Read little-endian f32 values.
pub fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
