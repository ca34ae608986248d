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
            let mut found: Vec<PathBuf> = fs::read_dir(input)
                .with_context(|| format!("{}: cannot list directory", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
                })
                .collect();
            found.sort();
            files.extend(found);
        } else if input.exists() {
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
        let frame = Frame { image, seq: self.seq, captured: Instant::now(), cut: self.shown == 1 };
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
