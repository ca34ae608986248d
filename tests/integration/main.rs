//! facecam's end-to-end tests across both crates, one test binary (as ripgrep does):
//! each binary links tract and libtorch, so one per file cost a link and ~65 MB each.
//! One module per subject; `cargo test --workspace --test integration parity::` runs one
//! of them.
//!
//! What they share is the `facecam_tests` library (`tests/lib.rs`); their data stay
//! beside this folder: `tests/fixtures/`, `tests/peer/` (the Python reference peers) and
//! `tests/fuzz/` (the fuzz corpus and regressions).

mod capture_to_train;
mod classifier;
mod end_to_end;
mod fuzz;
mod importers;
mod overfit;
mod parity;
mod quantize;
mod resume;
mod wider_protocol;

use facecam_tests::scratch;

/// A scratch folder goes when its test passes, and stays (for a look) when it fails.
#[test]
fn scratch_is_removed_unless_the_test_fails() {
    let passed = {
        let dir = scratch("scratch-passes");
        std::fs::write(dir.join("file"), "x").unwrap();
        dir.to_path_buf()
    };
    let keep_all = std::env::var_os("FACECAM_KEEP_SCRATCH").is_some_and(|v| v == "1");
    assert_eq!(passed.exists(), keep_all, "{}", passed.display());
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let dir = scratch("scratch-fails");
        tx.send(dir.to_path_buf()).unwrap();
        panic!("a failing test (on purpose)");
    });
    assert!(failed.join().is_err());
    let failed = rx.recv().unwrap();
    assert!(failed.is_dir(), "{} was removed", failed.display());
    std::fs::remove_dir_all(&failed).unwrap();
    if keep_all {
        std::fs::remove_dir_all(&passed).unwrap();
    }
}
