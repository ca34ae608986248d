//! Scratch folders for tests, removed when done: the one helper of both packages' tests
//! (`edge/tests/integration/common/` and, by path, the tests package's `tests/lib.rs`).

use std::path::Path;

/// A fresh, empty scratch folder for one test: `temp_dir()/facecam-NAME-XXXXXX`, its
/// random end keeping apart the tests that run side by side in the one test binary. It is
/// removed with everything in it when dropped, unless the test is failing (its thread is
/// panicking) or `FACECAM_KEEP_SCRATCH=1` is set: then it is kept and its path printed,
/// to look into. It derefs to its path.
pub fn scratch(name: &str) -> Scratch {
    let dir = tempfile::Builder::new()
        .prefix(&format!("facecam-{name}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot make a scratch folder in {}: {e}", std::env::temp_dir().display()));
    Scratch(Some(dir))
}

/// A scratch folder made by [`scratch`]; removed when dropped (unless the test failed).
pub struct Scratch(Option<tempfile::TempDir>);

impl Scratch {
    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("only taken in drop").path()
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path().as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some(dir) = self.0.take() else { return };
        if std::thread::panicking() || std::env::var_os("FACECAM_KEEP_SCRATCH").is_some_and(|v| v == "1") {
            eprintln!("scratch folder kept: {}", dir.keep().display());
        }
    }
}

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
