//! Image files as a frame source. (placeholder — being written)
use super::{Frame, FrameSource, SourceError};
use anyhow::Result;
use std::path::Path;

/// Image files played as frames.
pub struct ImageFiles;

impl ImageFiles {
    /// An image file or folder of images.
    pub fn open(_path: &Path) -> Result<Self> {
        anyhow::bail!("not written yet")
    }
}

impl FrameSource for ImageFiles {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        Ok(None)
    }
    fn describe(&self) -> String {
        "images".into()
    }
}
