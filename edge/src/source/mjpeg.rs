//! MJPEG streams. (placeholder — being written)
use super::{Frame, FrameSource, SourceError};
use anyhow::Result;
use std::path::Path;

/// Concatenated JPEG frames from a reader.
pub struct MjpegSource;

impl MjpegSource {
    /// Open a file, FIFO, or stdin (`-`).
    pub fn open_path(_path: &Path) -> Result<Self> {
        anyhow::bail!("not written yet")
    }
    /// Spawn a shell command and read MJPEG from its stdout.
    pub fn spawn(_command: &str) -> Result<Self> {
        anyhow::bail!("not written yet")
    }
}

impl FrameSource for MjpegSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        Ok(None)
    }
    fn describe(&self) -> String {
        "mjpeg".into()
    }
}
