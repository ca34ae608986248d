//! Files written whole or not at all: write a temporary sibling, then rename over.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The temporary sibling used while `path` is being written (`x.png` → `x.png.tmp`).
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Write `bytes` to `path` so that a reader (or a crash) never sees a partial file.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot move into place", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("facecam-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        write(&p, b"{}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        assert!(!temp_path(&p).exists());
        assert!(write(&dir.join("missing/a.json"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
