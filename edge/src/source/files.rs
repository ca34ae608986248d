//! Image files played as a stream of frames: one file, or every image in a folder in
//! name order. An unreadable file is a counted corrupt frame, not the end of the run.

use super::{Frame, FrameSource, SourceError};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Extensions picked up when a directory is given.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "webp"];

/// Expand files and directories (not recursive) into a sorted list of image files.
pub fn collect_images(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            files.extend(images_in(input, false)?);
        } else if input.exists() {
            // Not a folder: it must be a file (a FIFO would block the first read).
            crate::input::check_file(input, "a picture file")?;
            files.push(input.clone());
        } else {
            bail!("{}: no such file or directory", input.display());
        }
    }
    if files.is_empty() {
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        bail!("{}: no picture files ({})", names.join(", "), IMAGE_EXTENSIONS.join(", "));
    }
    Ok(files)
}

/// The pictures in `dir` (by [`IMAGE_EXTENSIONS`], any case), sorted; with `recursive`,
/// those in its subfolders too. A symlinked folder is not walked into, so a link back
/// up the tree (`a -> .`) cannot loop; a symlinked picture is listed. A FIFO or device
/// named like a picture is skipped with a warning (reading it would block or never end).
pub fn images_in(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let listing = fs::read_dir(&d).with_context(|| format!("{}: cannot list directory", d.display()))?;
        for entry in listing {
            let entry = entry.with_context(|| format!("{}: cannot list directory", d.display()))?;
            let path = entry.path();
            let real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if real_dir {
                if recursive {
                    todo.push(path);
                }
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if !ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
                continue;
            }
            // A FIFO or device named like a picture would block or never end when read.
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => out.push(path),
                Ok(m) if !m.is_dir() => log::warn!("skipping {}: not a regular file", path.display()),
                _ => {}
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Image files played as frames, each once (or `repeat` times, to hold a picture on a screen).
pub struct ImageFiles {
    files: Vec<PathBuf>,
    next: usize,
    seq: u64,
    /// Frames emitted per file (default 1).
    pub repeat: u32,
    current: Option<image::RgbImage>,
    shown: u32,
    name: String,
}

impl ImageFiles {
    /// An image file or a folder of images (not recursive).
    pub fn open(path: &Path) -> Result<Self> {
        let files = collect_images(&[path.to_path_buf()])?;
        Ok(Self { files, next: 0, seq: 0, repeat: 1, current: None, shown: 0, name: path.display().to_string() })
    }
}

impl FrameSource for ImageFiles {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.current.is_none() || self.shown >= self.repeat.max(1) {
            let Some(file) = self.files.get(self.next) else { return Ok(None) };
            self.next += 1;
            self.shown = 0;
            self.current = None;
            match super::decode::read_image(file) {
                Ok(img) => self.current = Some(img),
                Err(e) => {
                    self.seq += 1;
                    return Err(SourceError::Corrupt(format!("{e:#}")));
                }
            }
        }
        self.shown += 1;
        let image = self.current.clone().expect("loaded above");
        let frame = Frame { image, seq: self.seq, captured: Instant::now(), cut: self.shown == 1, at: None };
        self.seq += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!("images {} ({} file(s))", self.name, self.files.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_walks_do_not_follow_a_symlink_loop() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        for f in ["a.JPG", "sub/b.png", "notes.txt"] {
            std::fs::write(root.join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink(".", root.join("loop")).unwrap();
        std::os::unix::fs::symlink("a.JPG", root.join("link.jpg")).unwrap();
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect()
        };
        assert_eq!(names(images_in(root, true).unwrap()), ["a.JPG", "link.jpg", "sub/b.png"]);
        assert_eq!(names(images_in(root, false).unwrap()), ["a.JPG", "link.jpg"]);
    }

    #[test]
    fn plays_a_folder_in_order_and_counts_a_broken_file() {
        let dir = std::env::temp_dir().join(format!("facecam-files-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        image::RgbImage::new(8, 4).save(dir.join("a.png")).unwrap();
        std::fs::write(dir.join("b.jpg"), b"not a jpeg").unwrap();
        image::RgbImage::new(2, 2).save(dir.join("c.png")).unwrap();
        let mut src = ImageFiles::open(&dir).unwrap();
        src.repeat = 2;
        let mut sizes = Vec::new();
        let mut corrupt = 0;
        loop {
            match src.next_frame() {
                Ok(Some(f)) => sizes.push((f.seq, f.image.width(), f.cut)),
                Ok(None) => break,
                Err(SourceError::Corrupt(msg)) => {
                    assert!(msg.contains("b.jpg"), "{msg}");
                    corrupt += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(sizes, vec![(0, 8, true), (1, 8, false), (3, 2, true), (4, 2, false)]);
        assert_eq!(corrupt, 1);
        assert!(ImageFiles::open(&dir.join("missing")).err().unwrap().to_string().contains("missing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
