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
/// A directory at `path` is refused before anything is written; a failed write (a full
/// disk) or rename removes the temporary, so nothing is left behind either way.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.is_dir() {
        anyhow::bail!("{}: is a directory, not a file to write", path.display());
    }
    let tmp = temp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("{}: cannot write: {e}", path.display())
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("{}: cannot move into place: {e}", path.display())
    })
}

/// Encode `image` as PNG and write it atomically.
pub fn write_png(path: &Path, image: &image::RgbImage) -> Result<()> {
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .with_context(|| format!("{}: PNG encoding failed", path.display()))?;
    write(path, &png)
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
        // A directory in the way: an error naming it, and no temporary left.
        let sub = dir.join("out.onnx");
        std::fs::create_dir_all(&sub).unwrap();
        assert!(write(&sub, b"x").unwrap_err().to_string().contains("is a directory"));
        assert!(!temp_path(&sub).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
