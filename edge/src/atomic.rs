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

/// Refuse to write `output` when it is one of `inputs` (the same file by any path:
/// `./a.png`, a symlink, `dir/../a.png`): an output never replaces its input. A usage
/// error (exit 2) naming both, before anything is written.
pub fn refuse_input(output: &Path, inputs: &[PathBuf]) -> Result<()> {
    refuse_inputs([output], inputs)
}

/// [`refuse_input`] for many outputs: each input is resolved once, however many outputs
/// are checked against it (a folder of photos and their annotated copies).
pub fn refuse_inputs<'a>(outputs: impl IntoIterator<Item = &'a Path>, inputs: &[PathBuf]) -> Result<()> {
    let resolved_inputs: std::collections::HashMap<PathBuf, &PathBuf> =
        inputs.iter().filter_map(|i| Some((resolved(i)?, i))).collect();
    for output in outputs {
        if let Some(input) = resolved(output).and_then(|o| resolved_inputs.get(&o)) {
            return Err(crate::exit::usage(anyhow::anyhow!(
                "{}: would replace the input {}; write the output somewhere else",
                output.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// `path` with its folder's symlinks and `..` resolved (the file itself need not exist).
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let name = path.file_name()?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.canonicalize().ok().map(|d| d.join(name))
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
    fn an_output_never_replaces_an_input() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.png");
        std::fs::write(&input, b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let same = [input.clone(), dir.path().join("sub/../a.png")];
        for out in &same {
            let e = refuse_input(out, std::slice::from_ref(&input)).unwrap_err();
            assert!(e.is::<crate::exit::UsageError>() && format!("{e:#}").contains("would replace the input"));
        }
        std::os::unix::fs::symlink(&input, dir.path().join("link.png")).unwrap();
        assert!(refuse_input(&dir.path().join("link.png"), std::slice::from_ref(&input)).is_err());
        assert!(refuse_input(&dir.path().join("b.png"), std::slice::from_ref(&input)).is_ok());
        assert!(refuse_input(&dir.path().join("new/b.png"), std::slice::from_ref(&input)).is_ok());
    }

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
